'use strict'

// The parts that need no service: type sniffing, errors, messages, and that
// the code shipped to phones stays within ES2017.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { createClient, WxAvatarError, sniffImageType } = require('../lib/wxavatar')
const {
  MESSAGES, REJECTION_MESSAGES, FALLBACK, messageFor,
  AVATAR_REVIEW_MESSAGES, AVATAR_HELD_MESSAGE, AVATAR_REJECTED_MESSAGES, AVATAR_REMOVED_MESSAGE, avatarReviewMessage
} = require('../utils/messages')
const images = require('../test-support/images')

test('sniffImageType names JPEG, PNG and WebP by their bytes only', () => {
  assert.equal(sniffImageType(images.jpeg()), 'image/jpeg')
  assert.equal(sniffImageType(images.png(4)), 'image/png')
  assert.equal(sniffImageType(images.webp()), 'image/webp')
  assert.equal(sniffImageType(images.gif()), '')
  assert.equal(sniffImageType(Buffer.from('RIFF\0\0\0\0WAVEfmt ')), '')
  assert.equal(sniffImageType(Buffer.from([0xFF, 0xD8])), '')
  assert.equal(sniffImageType(new Uint8Array(0)), '')
})

test('sniffImageType names HEIC/HEIF and AVIF by their ftyp brand, for conversion', () => {
  for (const brand of ['heic', 'heix', 'hevc', 'heim', 'heis']) {
    assert.equal(sniffImageType(images.heic(8, 8, brand)), 'image/heic', brand)
  }
  for (const brand of ['mif1', 'msf1']) assert.equal(sniffImageType(images.heic(8, 8, brand)), 'image/heif', brand)
  for (const brand of ['avif', 'avis']) assert.equal(sniffImageType(images.avif(8, 8, brand)), 'image/avif', brand)
  // Other ISO-BMFF files (MP4, QuickTime) are no image.
  assert.equal(sniffImageType(Buffer.from('\0\0\0\x18ftypisom\0\0\0\0', 'latin1')), '')
  assert.equal(sniffImageType(Buffer.from('\0\0\0\x14ftypqt  \0\0\0\0', 'latin1')), '')
  assert.equal(sniffImageType(Buffer.from('\0\0\0\x18ftyphei', 'latin1')), '')
})

test('WxAvatarError carries code, status and request id', () => {
  const err = new WxAvatarError('upload_rejected', 'nope', { status: 422, requestId: 'r1' })
  assert.ok(err instanceof WxAvatarError)
  assert.ok(err instanceof Error)
  assert.equal(err.name, 'WxAvatarError')
  assert.deepEqual([err.code, err.status, err.requestId, err.message], ['upload_rejected', 422, 'r1', 'nope'])
  const bare = new WxAvatarError('network_error', 'down')
  assert.deepEqual([bare.status, bare.requestId, bare.retryAfter, bare.storageCode, bare.cosCode, bare.details], [0, '', 0, '', '', {}])
  // cosCode, the name from when COS was the only store, stays the same value.
  const refused = new WxAvatarError('upload_failed', 'storage answered 403 AccessDenied', { status: 403, storageCode: 'AccessDenied' })
  assert.deepEqual([refused.storageCode, refused.cosCode], ['AccessDenied', 'AccessDenied'])
  const rejected = new WxAvatarError('upload_rejected', 'nope', { status: 422, details: { reason: 'too_small' } })
  assert.deepEqual(rejected.details, { reason: 'too_small' })
})

test('createClient wants an http(s) baseURL and a wx object', () => {
  assert.throws(() => createClient({ baseURL: 'api.example.com', wx: {} }), TypeError)
  assert.throws(() => createClient({ baseURL: 'https://api.example.com' }), /no wx object/)
  assert.doesNotThrow(() => createClient({ baseURL: 'https://api.example.com/', wx: {} }))
})

test('uploadAvatar refuses an unknown method before doing anything', async () => {
  const client = createClient({ baseURL: 'https://api.example.com', wx: {} })
  await assert.rejects(client.uploadAvatar('/tmp/x', { method: 'patch' }), TypeError)
})

test('every error code has a Chinese message', () => {
  // Every code openapi.yaml lists, so that a new one cannot go unnoticed.
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'openapi.yaml'), 'utf8')
  const apiCodes = new Set()
  for (const m of doc.matchAll(/code: \{enum: \[([^\]]+)\]\}/g)) {
    for (const c of m[1].split(',')) apiCodes.add(c.trim())
  }
  assert.ok(apiCodes.size >= 20 && apiCodes.has('nickname_rejected'), 'read ' + apiCodes.size + ' codes from openapi.yaml')
  const codes = [
    ...apiCodes,
    // the client's own
    'network_error', 'login_failed', 'read_file_failed', 'conversion_failed', 'upload_failed', 'bad_response', 'http_error'
  ]
  for (const code of codes) {
    assert.ok(MESSAGES[code], 'no message for ' + code)
    assert.match(MESSAGES[code], /[\u4e00-\u9fff]/, code)
    assert.ok(MESSAGES[code].length <= 20, code + ': too long for a toast')
  }
  assert.equal(messageFor({ code: 'upload_rejected' }), '头像格式不支持，请换一张图片')
  assert.equal(messageFor({ code: 'something_new' }), FALLBACK)
  // A rejection's reason picks a message of its own.
  const reasons = ['not_an_image', 'too_many_pixels', 'too_small', 'unsupported_format', 'too_large', 'wrong_content_type', 'storage_class']
  for (const reason of reasons) {
    const m = messageFor({ code: 'upload_rejected', details: { reason } })
    assert.equal(m, REJECTION_MESSAGES[reason], reason)
    assert.match(m, /[\u4e00-\u9fff]/, reason)
    assert.ok(m.length <= 20, reason + ': too long for a toast')
  }
  assert.equal(messageFor({ code: 'upload_rejected', details: { reason: 'too_many_pixels' } }), '图片尺寸太大，请换一张')
  assert.equal(messageFor({ code: 'upload_rejected', details: { reason: 'something_new' } }), MESSAGES.upload_rejected)
  assert.equal(messageFor({ code: 'too_large', details: { reason: 'too_small' } }), MESSAGES.too_large)
  assert.equal(messageFor(new Error('x')), FALLBACK)
})

// enumOf reads the enum of a property of a schema of openapi.yaml's
// components, e.g. enumOf('AvatarReview', 'status').
function enumOf (schema, property) {
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'openapi.yaml'), 'utf8')
  const start = doc.indexOf('\n    ' + schema + ':\n')
  assert.ok(start >= 0, 'no schema ' + schema + ' in openapi.yaml')
  // The schema ends where the next one (or the next section) starts.
  const rest = doc.slice(start + 1)
  const next = rest.slice(1).search(/\n {0,4}\S/)
  const block = next < 0 ? rest : rest.slice(0, next + 1)
  const m = new RegExp('\n        ' + property + ':\n(?: {10}.*\n)*? {10}enum: \\[([^\\]]+)\\]').exec(block)
  assert.ok(m, 'no enum for ' + schema + '.' + property + ' in openapi.yaml')
  return m[1].split(',').map((v) => v.trim()).sort()
}

test('the avatar review statuses and reasons the messages know are exactly those of openapi.yaml', () => {
  const statuses = enumOf('AvatarReview', 'status')
  const reasons = enumOf('AvatarReview', 'reason')
  assert.ok(statuses.includes('pending') && reasons.includes('risky'), 'read ' + statuses + ' and ' + reasons)
  // A status or reason added to the contract fails here until it has a
  // message; one removed from it, until its message goes too.
  assert.deepEqual(Object.keys(AVATAR_REVIEW_MESSAGES).sort(), statuses)
  assert.deepEqual(Object.keys(AVATAR_REJECTED_MESSAGES).sort(), reasons)
  // And the helper says something of its own for each.
  const user = { avatar_url: 'https://cdn.example.com/avatars/u/1/avatar', avatar_review: null }
  for (const status of statuses) {
    const review = status === 'rejected' ? { status, upload_id: 'up1', reason: reasons[0] } : { status, upload_id: 'up1' }
    assert.notEqual(avatarReviewMessage(Object.assign({}, user, { avatar_review: review })), '', status)
  }
})

test('avatarReviewMessage: a short Chinese message for every status and reason', () => {
  const previous = 'https://cdn.example.com/avatars/u/old/avatar'
  const fresh = 'https://cdn.example.com/avatars/u/new/avatar'
  const user = (avatarURL, review) => ({ id: 'u', avatar_url: avatarURL, avatar_thumb_url: avatarURL, avatar_review: review })
  const pending = { status: 'pending', upload_id: 'new' }
  const rejected = (reason) => ({ status: 'rejected', upload_id: 'new', reason })
  const upload = { id: 'new', url: fresh }

  // Nothing to say: no check, or it passed.
  assert.equal(avatarReviewMessage(user(fresh, null)), '')
  assert.equal(avatarReviewMessage(user(null, null)), '')
  assert.equal(avatarReviewMessage(null), '')
  assert.equal(avatarReviewMessage({ avatar_url: null }), '')

  // pending: shown at once (AVATAR_REVIEW=after), or held back (before).
  assert.equal(avatarReviewMessage(user(fresh, pending)), '头像审核中')
  assert.equal(avatarReviewMessage(user(fresh, pending), upload), '头像审核中')
  assert.equal(avatarReviewMessage(user(previous, pending), upload), '头像审核中，通过后显示新头像')
  assert.equal(avatarReviewMessage(user(null, pending), upload), AVATAR_HELD_MESSAGE)
  // Without the confirmed upload (a fresh launch), or for another upload,
  // the page cannot tell whether the new avatar is shown.
  assert.equal(avatarReviewMessage(user(previous, pending)), AVATAR_REVIEW_MESSAGES.pending)
  assert.equal(avatarReviewMessage(user(previous, pending), { id: 'older', url: previous + '2' }), AVATAR_REVIEW_MESSAGES.pending)

  // rejected, by reason; risky says where the avatar went.
  assert.equal(avatarReviewMessage(user(previous, rejected('risky'))), '头像未通过审核，已恢复为上一个头像')
  assert.equal(avatarReviewMessage(user(null, rejected('risky'))), '头像未通过审核，已移除')
  assert.equal(avatarReviewMessage(user(null, rejected('risky')), upload), AVATAR_REMOVED_MESSAGE)
  for (const avatarURL of [previous, null]) {
    assert.equal(avatarReviewMessage(user(avatarURL, rejected('review'))), '头像需人工审核，无法使用，请换一张')
    assert.equal(avatarReviewMessage(user(avatarURL, rejected('unchecked')), upload), '头像暂时无法审核，请稍后重新上传')
  }
  // A reason or status this client does not know (a newer service).
  assert.equal(avatarReviewMessage(user(previous, rejected('something_new'))), AVATAR_REVIEW_MESSAGES.rejected)
  assert.equal(avatarReviewMessage(user(previous, rejected('toString'))), AVATAR_REVIEW_MESSAGES.rejected)
  assert.equal(avatarReviewMessage(user(previous, { status: 'rejected', upload_id: 'new' })), AVATAR_REVIEW_MESSAGES.rejected)
  assert.equal(avatarReviewMessage(user(previous, { status: 'something_new', upload_id: 'new' })), '')

  const all = [...Object.values(AVATAR_REVIEW_MESSAGES), ...Object.values(AVATAR_REJECTED_MESSAGES),
    AVATAR_HELD_MESSAGE, AVATAR_REMOVED_MESSAGE]
  assert.equal(new Set(all).size, all.length, 'two cases share a message')
  for (const m of all) {
    assert.match(m, /^[\u4e00-\u9fff，]+$/, m)
    assert.ok(m.length <= 20, m + ': too long for a line under the avatar (or a toast)')
    assert.equal(m, m.trim())
  }
})

test('code shipped to the phone uses nothing newer than ES2017', () => {
  const root = path.join(__dirname, '..')
  const shipped = []
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) {
        if (!['test', 'test-support', 'node_modules'].includes(e.name)) walk(p)
      } else if (e.name.endsWith('.js')) {
        shipped.push(p)
      }
    }
  }
  walk(root)
  assert.ok(shipped.length >= 5, 'found ' + shipped.length + ' files')
  const newer = [
    [/\?\.(?!\d)/, 'optional chaining'],
    [/\?\?/, 'nullish coalescing'],
    [/\.finally\(/, 'Promise.prototype.finally'],
    [/catch\s*\{/, 'optional catch binding'],
    [/\{\s*\.\.\./, 'object spread'],
    [/for\s+await/, 'async iteration']
  ]
  for (const file of shipped) {
    // Comments may name what the code avoids.
    const code = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1')
    for (const [re, what] of newer) {
      assert.doesNotMatch(code, re, path.relative(root, file) + ' uses ' + what)
    }
  }
})

// The client's tests rely on the fake FileSystemManager behaving as
// documented; these pin that down.
test('the fake FileSystemManager reads ranges, sizes and stats as documented', async () => {
  const { createFakeWx } = require('../test-support/fakewx')
  const crypto = require('node:crypto')
  const files = images.tempFiles()
  try {
    const data = images.png(8)
    const file = files.write(data)
    // call runs one API and resolves with ['success' | 'fail', result], and
    // checks that complete came after, with the same result.
    const call = (fsm, api, opts) => new Promise((resolve) => {
      let outcome
      fsm[api](Object.assign({}, opts, {
        success: (r) => { outcome = ['success', r] },
        fail: (r) => { outcome = ['fail', r] },
        complete: (r) => {
          assert.ok(outcome, 'complete before success/fail')
          assert.equal(r, outcome[1])
          resolve(outcome)
        }
      }))
    })
    const fake = createFakeWx()
    const fsm = fake.getFileSystemManager()
    assert.equal(fsm, fake.getFileSystemManager(), 'not one global manager')

    let [how, r] = await call(fsm, 'readFile', { filePath: file })
    assert.equal(how, 'success')
    assert.equal(r.errMsg, 'readFile:ok')
    assert.ok(r.data instanceof ArrayBuffer)
    assert.deepEqual(Buffer.from(r.data), data)

    ;[how, r] = await call(fsm, 'readFile', { filePath: file, position: 1, length: 3, encoding: 'hex' })
    assert.deepEqual([how, r.data], ['success', data.subarray(1, 4).toString('hex')])
    ;[how, r] = await call(fsm, 'readFile', { filePath: file, position: data.length - 1 })
    assert.deepEqual(Buffer.from(r.data), data.subarray(data.length - 1))

    for (const range of [{ position: data.length }, { position: -1 }, { length: 0 }, { length: data.length + 1 },
      { position: 1, length: data.length }]) {
      ;[how, r] = await call(fsm, 'readFile', Object.assign({ filePath: file }, range))
      assert.deepEqual([how, r.errMsg, r.errno], ['fail', 'readFile:fail Invalid argument', 1300022], JSON.stringify(range))
    }
    ;[how, r] = await call(fsm, 'readFile', { filePath: file + '.gone' })
    assert.deepEqual([how, r.errMsg], ['fail', 'readFile:fail no such file or directory, open ' + file + '.gone'])

    ;[how, r] = await call(fsm, 'getFileInfo', { filePath: file })
    assert.deepEqual([how, r.size, r.digest, r.errMsg],
      ['success', data.length, crypto.createHash('md5').update(data).digest('hex'), 'getFileInfo:ok'])
    ;[how, r] = await call(fsm, 'stat', { path: file })
    assert.deepEqual([how, r.stats.size, r.stats.isFile(), r.stats.isDirectory()], ['success', data.length, true, false])
    ;[how, r] = await call(fsm, 'stat', { path: file + '.gone' })
    assert.equal(how, 'fail')
    assert.match(r.errMsg, /^stat:fail no such file or directory/)
    assert.equal(fake.bytesRead(), data.length + 3 + 1)

    // Before base library 2.10.0 there is no position or length.
    const old = createFakeWx({ baseLibrary: '2.9.4', without: ['getFileInfo'] }).getFileSystemManager()
    ;[how, r] = await call(old, 'readFile', { filePath: file, position: 0, length: 4 })
    assert.deepEqual(Buffer.from(r.data), data)
    assert.equal(old.getFileInfo, undefined)
  } finally {
    files.remove()
  }
})
