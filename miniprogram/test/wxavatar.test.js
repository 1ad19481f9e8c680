'use strict'

// Drives lib/wxavatar.js against the real service (serve --dev) through a wx
// object whose network and file calls are real.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')

const {
  createClient, WxAvatarError, TOKEN_STORAGE_KEY, CONFIRM_RETRY_DELAYS_MS, BUSY_RETRIES, CONVERT_MAX_SIDE
} = require('../lib/wxavatar')
const { createFakeWx } = require('../test-support/fakewx')
const { startServer, devToken } = require('../test-support/server')
const { startProxy } = require('../test-support/proxy')
const images = require('../test-support/images')
const { assertStored, fetchImage, AVATAR_SIDE } = require('../test-support/stored')

let srv
let files
let proxy

before(async () => {
  srv = await startServer()
  files = images.tempFiles()
  proxy = await startProxy(srv.api)
}, { timeout: 200000 })

after(async () => {
  if (proxy) await proxy.close()
  if (files) files.remove()
  if (srv) assert.equal(await srv.stop(), 0, 'wxavatar did not shut down cleanly on SIGTERM')
})

let users = 0

// newClient gives a client for a user of its own, its fake wx and storage.
// viaProxy sends its API calls through the proxy (rules set per test).
function newClient (options, viaProxy) {
  const name = 'u' + (++users) + '-' + process.pid
  const fake = createFakeWx(Object.assign({ loginName: name }, options))
  const map = new Map()
  const storage = {
    get: (k) => map.get(k) || '',
    set: (k, v) => { map.set(k, v) },
    remove: (k) => { map.delete(k) }
  }
  const client = createClient({ baseURL: viaProxy ? proxy.url : srv.api, storage, wx: fake })
  return { client, fake, storage }
}

// withRules runs fn with these proxy rules, and none after.
async function withRules (rules, fn) {
  proxy.rules = rules
  proxy.calls.length = 0
  try {
    return await fn()
  } finally {
    proxy.rules = []
  }
}

function isError (code, status) {
  return (err) => {
    assert.ok(err instanceof WxAvatarError, 'not a WxAvatarError: ' + err)
    assert.equal(err.code, code, err.message)
    assert.equal(err.status, status)
    return true
  }
}

// wholeReads lists the byte counts of readFile calls that read a whole file
// (no position or length).
function wholeReads (fake) {
  return fake.fileCalls.filter((c) => c.api === 'readFile' && c.length === undefined).map((c) => c.bytes)
}

function calls (fake, method, pathPart) {
  return fake.log.filter((c) => c.method === method && c.url.includes(pathPart))
}

test('login keeps the token in storage and later calls use it', async () => {
  const { client, fake, storage } = newClient()
  const user = await client.login()
  assert.ok(user.id)
  assert.equal(user.avatar_url, null)
  assert.equal(user.avatar_thumb_url, null)
  assert.match(storage.get(TOKEN_STORAGE_KEY), /^[\w-]+\.[\w-]+\.[\w-]+$/)
  const me = await client.me()
  assert.equal(me.id, user.id)
  assert.equal(fake.loginCalls, 1)
})

test('calls without a token log in first, once for parallel calls', async () => {
  const { client, fake } = newClient()
  const got = await Promise.all([client.me(), client.me(), client.me()])
  assert.equal(fake.loginCalls, 1)
  assert.equal(calls(fake, 'POST', '/v1/session').length, 1)
  assert.ok(got.every((u) => u.id === got[0].id))
})

test('WeChat-shaped codes, as wx.login gives in DevTools, log in as one user who keeps the avatar', async () => {
  const first = createFakeWx()
  const data = images.png(44)
  const { user } = await createClient({ baseURL: srv.api, wx: first }).uploadAvatar(files.write(data))
  // Another launch, another code of the same shape: the same user.
  const second = createFakeWx()
  const me = await createClient({ baseURL: srv.api, wx: second }).me()
  assert.equal(me.id, user.id)
  assert.equal(me.avatar_url, user.avatar_url)
  assert.equal(me.avatar_thumb_url, user.avatar_thumb_url)
  const codes = first.loginCodes.concat(second.loginCodes)
  assert.equal(codes.length, 2)
  for (const c of codes) assert.match(c, /^[0-9A-Za-z]{32}$/)
  assert.notEqual(codes[0], codes[1])
  await assertStored(me, data, { width: 44, height: 44 })
})

test('a login code the service refuses is a typed error with its request id', async () => {
  const { client } = newClient({ loginCode: 'not-a-dev-code' })
  await assert.rejects(client.login(), (err) => {
    isError('invalid_code', 401)(err)
    assert.ok(err.requestId, 'no request id')
    return true
  })
})

test('PNG by signed POST form: progress, confirm, permanent URL, the avatar the service wrote', async () => {
  const { client, fake } = newClient()
  const data = images.png(48)
  // chooseAvatar's extension says nothing: the bytes decide.
  const file = files.write(data, '.jpg')
  const progress = []
  const { user, upload } = await client.uploadAvatar(file, { onProgress: (p) => progress.push(p) })

  assert.equal(upload.status, 'confirmed')
  assert.equal(upload.content_type, 'image/png')
  assert.equal(upload.size, data.length)
  assert.match(upload.url, /\/avatar$/)
  assert.equal(user.avatar_url, upload.url)
  assert.equal(calls(fake, 'POST', '/v1/avatar/uploads').filter((c) => !c.url.endsWith('/confirm'))[0].status, 201)
  const cos = fake.log.filter((c) => !c.url.startsWith(srv.api))
  assert.deepEqual(cos.map((c) => [c.method, c.status]), [['POST', 204]])

  assert.equal(progress[0], 0)
  assert.equal(progress[progress.length - 1], 100)
  assert.ok(progress.some((p) => p > 0 && p < 100), 'no progress between 0 and 100: ' + progress)
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress went backwards: ' + progress)

  // Opaque, so stored as a JPEG of the same size.
  await assertStored(user, data, { width: 48, height: 48 })
  assert.equal((await client.me()).avatar_url, upload.url)
})

test('deleteAccount erases the user: the avatar is gone, the token forgotten, the next call a new user', async () => {
  const { client, storage } = newClient()
  const first = (await client.uploadAvatar(files.write(images.png(48), '.png'))).user
  await fetchImage(first.avatar_url) // 200, an image
  await client.deleteAccount()
  assert.equal(await storage.get(TOKEN_STORAGE_KEY), '')
  assert.equal((await fetch(first.avatar_url)).status, 404, 'the avatar outlived the account')
  assert.equal((await fetch(first.avatar_thumb_url)).status, 404, 'the thumbnail outlived the account')
  const again = await client.me()
  assert.notEqual(again.id, first.id)
  assert.equal(again.avatar_url, null)
})

test('deleteAccount with an expired token logs in again and still erases', async () => {
  const { client, storage } = newClient()
  const first = await client.login()
  await storage.set(TOKEN_STORAGE_KEY, 'expired.token.value')
  await client.deleteAccount()
  const again = await client.me()
  assert.notEqual(again.id, first.id)
})

test('a PNG with transparency is stored as a PNG, scaled to fit the avatar side', async () => {
  const { client } = newClient()
  const data = images.png(800, 400, { alpha: true })
  const { user, upload } = await client.uploadAvatar(files.write(data))
  assert.equal(upload.content_type, 'image/png')
  assert.equal(upload.size, data.length)
  const avatar = await assertStored(user, data, { width: 800, height: 400, type: 'image/png' })
  assert.deepEqual([avatar.width, avatar.height], [AVATAR_SIDE, 320])
})

test('JPEG by presigned PUT with an ArrayBuffer', async () => {
  const { client, fake } = newClient()
  const data = images.jpeg()
  const progress = []
  const { user, upload } = await client.uploadAvatar(files.write(data), { method: 'put', onProgress: (p) => progress.push(p) })
  assert.equal(upload.content_type, 'image/jpeg')
  assert.equal(upload.size, data.length)
  assert.match(upload.url, /\/avatar$/)
  assert.equal(user.avatar_url, upload.url)
  const cos = fake.log.filter((c) => !c.url.startsWith(srv.api))
  assert.deepEqual(cos.map((c) => [c.method, c.status]), [['PUT', 200]])
  assert.deepEqual(progress, [0, 100])
  await assertStored(user, data, images.JPEG_SIZE)
  // The PUT sends the bytes from the page, so it reads the whole file.
  assert.deepEqual(wholeReads(fake), [data.length])
})

// The POST form upload needs from the page only the size and the first
// bytes: wx.uploadFile reads the file itself. The file is a real 1024×1024
// photo-sized image of noise (over 3 MiB, under the 5 MiB the service takes),
// so that confirm decodes all of it: an avatar scaled from it can only come
// from every byte having arrived.
test('POST of a 3 MiB file: sized without reading, typed from its first bytes, uploaded whole', async () => {
  const { client, fake } = newClient()
  const data = images.noisePNG(1024, 1024)
  assert.ok(data.length > 3 * 1024 * 1024, String(data.length))
  const { user, upload } = await client.uploadAvatar(files.write(data, '.jpg'))
  assert.ok(fake.bytesRead() <= 64, 'read ' + fake.bytesRead() + ' bytes of ' + data.length)
  assert.deepEqual(wholeReads(fake), [])
  assert.ok(fake.fileCalls.some((c) => c.api === 'getFileInfo'), 'no getFileInfo')
  assert.equal(upload.content_type, 'image/png')
  assert.equal(upload.size, data.length)
  await assertStored(user, data, { width: 1024, height: 1024 })
})

// The same real 3 MiB image as above, confirmed likewise.
test('PUT of a 3 MiB file: read whole once, after signing, and sent', async () => {
  const { client, fake } = newClient()
  const data = images.noisePNG(1024, 1024)
  const { user, upload } = await client.uploadAvatar(files.write(data), { method: 'put' })
  assert.deepEqual(wholeReads(fake), [data.length])
  assert.ok(fake.bytesRead() <= data.length + 64)
  assert.equal(upload.size, data.length)
  await assertStored(user, data, { width: 1024, height: 1024 })
})

test('a base library before 2.10.0 ignores readFile position and length: the upload still works', async () => {
  const { client, fake } = newClient({ baseLibrary: '2.9.4' })
  const data = images.largePNG(256 * 1024)
  const { user } = await client.uploadAvatar(files.write(data))
  assert.deepEqual(wholeReads(fake), [], 'the client asked for a whole read')
  assert.equal(fake.bytesRead(), data.length, 'the fake honoured position/length on an old base library')
  await assertStored(user, data, { width: 48, height: 48 })
})

test('without getFileInfo (plugins have none) the size comes from stat', async () => {
  const { client, fake } = newClient({ without: ['getFileInfo'] })
  const data = images.png(32)
  const { upload } = await client.uploadAvatar(files.write(data))
  assert.equal(upload.size, data.length)
  assert.deepEqual(fake.fileCalls.filter((c) => c.api !== 'readFile').map((c) => c.api), ['stat'])
})

test('files shorter than the type bytes, even empty, are unsupported_type, not a read error', async () => {
  const { client, fake } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(Buffer.from([0xFF, 0xD8]))), isError('unsupported_type', 0))
  await assert.rejects(client.uploadAvatar(files.write(Buffer.alloc(0))), isError('unsupported_type', 0))
  assert.deepEqual(fake.fileCalls.filter((c) => c.api === 'readFile').map((c) => c.bytes), [2])
  assert.equal(fake.log.length, 0)
})

test('a file that is gone is read_file_failed with the runtime errMsg', async () => {
  const { client, fake } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(images.png(4)) + '.gone'), (err) => {
    isError('read_file_failed', 0)(err)
    assert.match(err.message, /^stat:fail no such file or directory/)
    return true
  })
  assert.equal(fake.log.length, 0)
})

test('WebP by signed POST form', async () => {
  const { client } = newClient()
  const data = images.webp()
  const { user, upload } = await client.uploadAvatar(files.write(data, '.png'))
  assert.equal(upload.content_type, 'image/webp')
  assert.equal(upload.size, data.length)
  // Stored as a JPEG: the service writes no WebP.
  await assertStored(user, data, images.WEBP_SIZE)
})

test('confirm retries 409 upload_missing while storage lags, then succeeds', async () => {
  const { client, fake } = newClient()
  // uploadFile reports success at once; the bytes reach storage 400 ms later.
  fake.upload = { lagMs: 400 }
  const data = images.png(36)
  const { user } = await client.uploadAvatar(files.write(data))
  const confirms = calls(fake, 'POST', '/confirm')
  assert.deepEqual([confirms[0].status, confirms[0].code], [409, 'upload_missing'])
  assert.equal(confirms[confirms.length - 1].status, 200)
  assert.ok(confirms.length >= 2)
  const [lagged] = await Promise.all(fake.laggedUploads)
  assert.equal(lagged.statusCode, 204)
  await assertStored(user, data, { width: 36, height: 36 })
})

test('confirm gives up with upload_missing when the bytes never arrive', async () => {
  const { client, fake } = newClient()
  fake.upload = { drop: true }
  const started = Date.now()
  await assert.rejects(client.uploadAvatar(files.write(images.png(8))), isError('upload_missing', 409))
  const elapsed = Date.now() - started
  assert.equal(calls(fake, 'POST', '/confirm').length, 1 + CONFIRM_RETRY_DELAYS_MS.length)
  const waited = CONFIRM_RETRY_DELAYS_MS.reduce((a, b) => a + b, 0)
  assert.ok(elapsed >= waited && elapsed < waited + 5000, 'gave up after ' + elapsed + ' ms')
})

function expiredToken (sub) {
  const now = Math.floor(Date.now() / 1000)
  return devToken({ iss: 'wxavatar', aud: 'wxavatar-miniprogram', sub, iat: now - 3 * 3600, exp: now - 3600 })
}

test('an expired token means one silent re-login and one retry', async () => {
  const { client, fake, storage } = newClient()
  const user = await client.login()
  const expired = expiredToken(user.id)
  storage.set(TOKEN_STORAGE_KEY, expired)
  fake.log.length = 0

  const me = await client.me()
  assert.equal(me.id, user.id)
  assert.equal(fake.loginCalls, 2)
  assert.notEqual(storage.get(TOKEN_STORAGE_KEY), expired)
  assert.deepEqual(fake.log.map((c) => [c.method, c.url.slice(srv.api.length), c.status, c.code]), [
    ['GET', '/v1/me', 401, 'unauthorized'],
    ['POST', '/v1/session', 200, ''],
    ['GET', '/v1/me', 200, '']
  ])
})

test('an upload started with an expired token still goes through', async () => {
  const { client, fake, storage } = newClient()
  const user = await client.login()
  storage.set(TOKEN_STORAGE_KEY, expiredToken(user.id))
  const data = images.png(40)
  const result = await client.uploadAvatar(files.write(data))
  assert.equal(result.user.id, user.id)
  assert.equal(fake.loginCalls, 2)
  await assertStored(result.user, data, { width: 40, height: 40 })
})

test('bytes that are not really a PNG are rejected by confirm (422 upload_rejected, not_an_image)', async () => {
  const { client, fake } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(images.notReallyPNG(), '.png')), (err) => {
    isError('upload_rejected', 422)(err)
    assert.equal(err.details.reason, 'not_an_image')
    assert.ok(err.requestId)
    return true
  })
  // The bytes did reach storage: it was the service that said no.
  assert.deepEqual(fake.log.filter((c) => !c.url.startsWith(srv.api)).map((c) => c.status), [204])
  const me = await client.me()
  assert.deepEqual([me.avatar_url, me.avatar_thumb_url], [null, null])
})

test('a real image under 32 px on a side is rejected by confirm: too_small', async () => {
  const { client, fake } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(images.png(64, 31))), (err) => {
    isError('upload_rejected', 422)(err)
    assert.equal(err.details.reason, 'too_small')
    return true
  })
  assert.deepEqual(fake.log.filter((c) => !c.url.startsWith(srv.api)).map((c) => c.status), [204])
  assert.equal((await client.me()).avatar_url, null)
})

test('a file that is no JPEG, PNG or WebP is refused before asking for a signature', async () => {
  const { client, fake } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(images.gif(), '.png')), isError('unsupported_type', 0))
  assert.equal(fake.log.length, 0)
})

test('a file larger than the service allows: 413 too_large from the signature request', async () => {
  const { client, fake } = newClient()
  const big = Buffer.alloc(5 * 1024 * 1024 + 1)
  images.jpeg().copy(big)
  await assert.rejects(client.uploadAvatar(files.write(big)), isError('too_large', 413))
  assert.equal(fake.log.filter((c) => !c.url.startsWith(srv.api)).length, 0, 'uploaded anyway')
  assert.ok(fake.bytesRead() <= 64, 'read ' + fake.bytesRead() + ' bytes to be told no')
})

test('by PUT too: the file is read whole only once signed, so a refused one is never loaded', async () => {
  const { client, fake } = newClient()
  const big = Buffer.alloc(5 * 1024 * 1024 + 1)
  images.jpeg().copy(big)
  await assert.rejects(client.uploadAvatar(files.write(big), { method: 'put' }), isError('too_large', 413))
  assert.deepEqual(wholeReads(fake), [], 'read the whole file before the signature was refused')
  assert.ok(fake.bytesRead() <= 64, 'read ' + fake.bytesRead() + ' bytes to be told no')
})

test('COS refusing the upload is upload_failed with its status and code', async () => {
  const { client, fake } = newClient()
  fake.upload = { editForm: (f) => Object.assign(f, { 'q-signature': '0'.repeat(f['q-signature'].length) }) }
  await assert.rejects(client.uploadAvatar(files.write(images.png(8))), (err) => {
    isError('upload_failed', 403)(err)
    assert.equal(err.message, 'storage answered 403 SignatureDoesNotMatch')
    assert.equal(err.storageCode, 'SignatureDoesNotMatch')
    assert.equal(err.cosCode, 'SignatureDoesNotMatch')
    return true
  })
  assert.equal(calls(fake, 'POST', '/confirm').length, 0)
})

test('setNickname saves the trimmed nickname; the service rejects a blank one', async () => {
  const { client, fake } = newClient()
  const user = await client.setNickname('  小明  ')
  assert.equal(user.nickname, '小明')
  assert.equal((await client.me()).nickname, '小明')

  await assert.rejects(client.setNickname('   '), isError('invalid_nickname', 400))
  const last = fake.log[fake.log.length - 1]
  assert.deepEqual([last.method, last.status, last.code], ['PUT', 400, 'invalid_nickname'])
  await assert.rejects(client.setNickname('长'.repeat(33)), isError('invalid_nickname', 400))
  assert.equal((await client.me()).nickname, '小明')
})

test('an unreachable service is network_error', async () => {
  const fake = createFakeWx({ loginName: 'nobody' })
  const client = createClient({ baseURL: 'http://127.0.0.1:1', wx: fake })
  await assert.rejects(client.me(), isError('network_error', 0))
})

// Clients that send what the service cannot read: HEIC/HEIF and AVIF are
// converted on the phone (the fake wx's decoder and canvas) to JPEG.

function imageAPIs (fake) {
  return fake.imageCalls.map((c) => c.api)
}

function signCalls (fake) {
  return calls(fake, 'POST', '/v1/avatar/uploads').filter((c) => !c.url.endsWith('/confirm')).length
}

test('HEIC is converted to JPEG on the phone, then uploaded as image/jpeg', async () => {
  const { client, fake } = newClient()
  const file = files.write(images.heic(48, 48), '.jpg')
  const { user, upload } = await client.uploadAvatar(file)
  assert.equal(upload.content_type, 'image/jpeg')
  assert.match(upload.url, /\/avatar$/)
  assert.deepEqual(imageAPIs(fake), ['getImageInfo', 'createOffscreenCanvas', 'createImage', 'canvasToTempFilePath'])
  const exported = fake.imageCalls[3]
  assert.deepEqual([exported.fileType, exported.width, exported.height], ['jpg', 48, 48])
  assert.ok(exported.quality > 0 && exported.quality <= 1)
  // What was sent is the canvas's JPEG, sized by the client first.
  const sized = fake.fileCalls.filter((c) => c.api === 'getFileInfo').map((c) => c.path)
  assert.equal(sized.length, 2)
  assert.equal(sized[0], file)
  const sent = fs.readFileSync(sized[1])
  assert.deepEqual(images.imageInfo(sent), { type: 'image/jpeg', width: 48, height: 48 })
  assert.equal(upload.size, sent.length)
  await assertStored(user, sent, { width: 48, height: 48 })
  assert.equal(signCalls(fake), 1)
})

test('a large HEIC photo is drawn at most CONVERT_MAX_SIDE on its longest side', async () => {
  const { client, fake } = newClient()
  const { user } = await client.uploadAvatar(files.write(images.heic(4032, 3024)))
  const canvas = fake.imageCalls.find((c) => c.api === 'createOffscreenCanvas')
  assert.deepEqual([canvas.width, canvas.height], [CONVERT_MAX_SIDE, 768])
  const exported = fake.imageCalls.find((c) => c.api === 'canvasToTempFilePath')
  assert.deepEqual([exported.width, exported.height], [CONVERT_MAX_SIDE, 768])
  // The service scales the 1024×768 JPEG it got down to its avatar side.
  const avatar = await assertStored(user, Buffer.alloc(0), { width: CONVERT_MAX_SIDE, height: 768 })
  assert.deepEqual([avatar.width, avatar.height], [AVATAR_SIDE, 480])
})

test('AVIF is converted likewise, and sent by PUT', async () => {
  const { client, fake } = newClient()
  const { user, upload } = await client.uploadAvatar(files.write(images.avif(80, 60), '.png'), { method: 'put' })
  assert.equal(upload.content_type, 'image/jpeg')
  assert.ok(imageAPIs(fake).includes('canvasToTempFilePath'))
  const sent = wholeReads(fake)
  assert.equal(sent.length, 1, 'the PUT read the converted file whole once')
  assert.equal(upload.size, sent[0])
  await assertStored(user, Buffer.alloc(0), { width: 80, height: 60 })
})

test('every HEIF-family brand is converted: heix, hevc, heim, heis, mif1, msf1, avis', async () => {
  const { client } = newClient()
  for (const brand of ['heix', 'hevc', 'heim', 'heis', 'mif1', 'msf1']) {
    const { upload } = await client.uploadAvatar(files.write(images.heic(32, 32, brand)))
    assert.equal(upload.content_type, 'image/jpeg', brand)
    assert.equal(upload.status, 'confirmed', brand)
  }
  const { user, upload } = await client.uploadAvatar(files.write(images.avif(32, 32, 'avis')))
  assert.equal(upload.content_type, 'image/jpeg', 'avis')
  await assertStored(user, Buffer.alloc(0), { width: 32, height: 32 })
})

test('when canvasToTempFilePath fails, toDataURL written to USER_DATA_PATH is the fallback, removed after', async () => {
  const { client, fake } = newClient()
  fake.canvas = { toTempFilePath: 'fail' }
  const { user, upload } = await client.uploadAvatar(files.write(images.heic(48, 48)))
  assert.equal(upload.content_type, 'image/jpeg')
  assert.deepEqual(imageAPIs(fake).slice(-2), ['canvasToTempFilePath', 'toDataURL'])
  const written = fake.fileCalls.find((c) => c.api === 'writeFile')
  assert.ok(written.path.startsWith(fake.env.USER_DATA_PATH + '/'), written.path)
  assert.equal(written.written, upload.size)
  assert.ok(fake.fileCalls.some((c) => c.api === 'unlink' && c.path === written.path), 'the converted file was left behind')
  await assertStored(user, Buffer.alloc(0), { width: 48, height: 48 })
})

function conversionFailed (from) {
  return (err) => {
    isError('conversion_failed', 0)(err)
    assert.equal(err.details.from, from)
    assert.ok(err.details.errMsg, 'no errMsg in details')
    return true
  }
}

test('a phone that cannot decode the HEIC: conversion_failed, nothing sent', async () => {
  const { client, fake } = newClient({ decodes: ['image/jpeg', 'image/png'] })
  await assert.rejects(client.uploadAvatar(files.write(images.heic(24, 24))), conversionFailed('image/heic'))
  await assert.rejects(client.uploadAvatar(files.write(images.avif(24, 24))), conversionFailed('image/avif'))
  assert.equal(fake.log.length, 0)
})

test('both exports failing is conversion_failed', async () => {
  const { client, fake } = newClient()
  fake.canvas = { toTempFilePath: 'fail', toDataURL: 'fail' }
  await assert.rejects(client.uploadAvatar(files.write(images.avif(24, 24))), (err) => {
    conversionFailed('image/avif')(err)
    assert.match(err.message, /create bitmap failed.*toDataURL failed/)
    return true
  })
  assert.equal(fake.log.length, 0)
})

test('a conversion that gives neither JPEG nor PNG is conversion_failed, not uploaded', async () => {
  const { client, fake } = newClient()
  fake.canvas = { toTempFilePath: 'gif' }
  await assert.rejects(client.uploadAvatar(files.write(images.heic(24, 24))), (err) => {
    conversionFailed('image/heic')(err)
    assert.match(err.message, /gave no known image type/)
    return true
  })
  assert.equal(fake.log.length, 0)
})

test('without an offscreen canvas the HEIC is conversion_failed', async () => {
  const { client, fake } = newClient({ without: ['createOffscreenCanvas'] })
  await assert.rejects(client.uploadAvatar(files.write(images.heic(24, 24))), conversionFailed('image/heic'))
  assert.equal(fake.log.length, 0)
})

test('JPEG, PNG and WebP are uploaded untouched: no image API is called', async () => {
  const { client, fake } = newClient()
  for (const [data, type, size] of [[images.jpeg(), 'image/jpeg', images.JPEG_SIZE],
    [images.png(52), 'image/png', { width: 52, height: 52 }], [images.webp(), 'image/webp', images.WEBP_SIZE]]) {
    const { user, upload } = await client.uploadAvatar(files.write(data))
    assert.equal(upload.content_type, type)
    assert.equal(upload.size, data.length, type)
    await assertStored(user, data, size)
  }
  assert.deepEqual(fake.imageCalls, [])
  assert.ok(!fake.fileCalls.some((c) => c.api === 'writeFile' || c.api === 'unlink'))
})

// 503 busy: the service is decoding too many images; nothing was recorded.

function busy (times, retryAfter) {
  return {
    method: 'POST',
    path: /\/confirm$/,
    times,
    respond: {
      status: 503,
      headers: { 'Retry-After': String(retryAfter), 'X-Request-Id': 'busy-req' },
      body: { error: { code: 'busy', message: 'too many images are being processed; retry later' }, request_id: 'busy-req' }
    }
  }
}

function confirmCalls () {
  return proxy.calls.filter((c) => c.path.endsWith('/confirm'))
}

test('confirm waits Retry-After on 503 busy and retries the same confirm', async () => {
  const { client } = newClient({}, true)
  const data = images.png(34)
  await withRules([busy(2, 1)], async () => {
    const started = Date.now()
    const { user } = await client.uploadAvatar(files.write(data))
    const elapsed = Date.now() - started
    assert.deepEqual(confirmCalls().map((c) => [c.status, c.by]), [[503, 'rule'], [503, 'rule'], [200, 'service']])
    assert.ok(elapsed >= 2000 && elapsed < 6000, 'took ' + elapsed + ' ms')
    await assertStored(user, data, { width: 34, height: 34 })
  })
})

test('confirm gives up with busy after BUSY_RETRIES retries', async () => {
  const { client } = newClient({}, true)
  await withRules([busy(BUSY_RETRIES + 5, 1)], async () => {
    const started = Date.now()
    await assert.rejects(client.uploadAvatar(files.write(images.png(10))), (err) => {
      isError('busy', 503)(err)
      assert.equal(err.retryAfter, 1)
      assert.equal(err.requestId, 'busy-req')
      return true
    })
    const elapsed = Date.now() - started
    assert.equal(confirmCalls().length, 1 + BUSY_RETRIES)
    assert.ok(elapsed >= BUSY_RETRIES * 1000 && elapsed < BUSY_RETRIES * 1000 + 4000, 'took ' + elapsed + ' ms')
  })
  assert.equal((await client.me()).avatar_url, null)
})

// 422 upload_rejected with a machine-readable reason.

test('the reason of a rejection is in err.details.reason', async () => {
  const { client } = newClient({}, true)
  const rule = {
    method: 'POST',
    path: /\/confirm$/,
    respond: {
      status: 422,
      body: { error: { code: 'upload_rejected', message: 'the image is larger than 40 megapixels', reason: 'too_many_pixels' }, request_id: 'r-422' }
    }
  }
  await withRules([rule], async () => {
    await assert.rejects(client.uploadAvatar(files.write(images.png(12))), (err) => {
      isError('upload_rejected', 422)(err)
      assert.deepEqual(err.details, { reason: 'too_many_pixels' })
      assert.equal(err.message, 'the image is larger than 40 megapixels')
      return true
    })
  })
})

test("the service's own rejection: its reason in err.details, its message in err.message", async () => {
  const { client } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(images.notReallyPNG())), (err) => {
    isError('upload_rejected', 422)(err)
    assert.deepEqual(err.details, { reason: 'not_an_image' })
    assert.match(err.message, /not a complete png image/)
    return true
  })
})

// avatar_thumb_url, next to avatar_url wherever a user is.

test('avatar_thumb_url is passed on from confirm, me and setNickname as the service gives it', async () => {
  const { client, storage } = newClient()
  const data = images.png(60, 90)
  const { user } = await client.uploadAvatar(files.write(data))
  // What the service itself says, asked without the client.
  const res = await fetch(srv.api + '/v1/me', { headers: { Authorization: 'Bearer ' + storage.get(TOKEN_STORAGE_KEY) } })
  assert.equal(res.status, 200)
  const own = (await res.json()).user
  assert.match(own.avatar_thumb_url, /\/thumb$/)
  assert.deepEqual([user.avatar_url, user.avatar_thumb_url], [own.avatar_url, own.avatar_thumb_url])
  const me = await client.me()
  assert.deepEqual([me.avatar_url, me.avatar_thumb_url], [own.avatar_url, own.avatar_thumb_url])
  const named = await client.setNickname('缩略图')
  assert.deepEqual([named.avatar_url, named.avatar_thumb_url], [own.avatar_url, own.avatar_thumb_url])
  // The thumbnail is the centre square of the 60×90 avatar.
  assert.deepEqual(await fetchImage(me.avatar_thumb_url).then((t) => [t.type, t.width, t.height]), ['image/jpeg', 60, 60])
  await assertStored(me, data, { width: 60, height: 90 })
})

test('a new avatar replaces both URLs; a user without one has both null', async () => {
  const { client } = newClient()
  const none = await client.me()
  assert.deepEqual([none.avatar_url, none.avatar_thumb_url], [null, null])
  const first = (await client.uploadAvatar(files.write(images.png(40)))).user
  const data = images.png(70, 50)
  const second = (await client.uploadAvatar(files.write(data))).user
  assert.notEqual(second.avatar_url, first.avatar_url)
  assert.notEqual(second.avatar_thumb_url, first.avatar_thumb_url)
  const me = await client.me()
  assert.deepEqual([me.avatar_url, me.avatar_thumb_url], [second.avatar_url, second.avatar_thumb_url])
  await assertStored(me, data, { width: 70, height: 50 })
})

// avatar_review, next to the avatar URLs wherever a user is.

test('avatar_review is passed on from login, confirm, me and setNickname: null when there is nothing to tell', async () => {
  const { client, storage } = newClient()
  assert.equal((await client.login()).avatar_review, null)
  const { user } = await client.uploadAvatar(files.write(images.png(40)))
  // serve --dev checks no content (no WeChat): nothing to tell.
  const res = await fetch(srv.api + '/v1/me', { headers: { Authorization: 'Bearer ' + storage.get(TOKEN_STORAGE_KEY) } })
  const own = (await res.json()).user
  assert.ok(Object.prototype.hasOwnProperty.call(own, 'avatar_review'), 'the service sent no avatar_review')
  assert.equal(own.avatar_review, null)
  assert.equal(user.avatar_review, null)
  assert.equal((await client.me()).avatar_review, null)
  assert.equal((await client.setNickname('审核')).avatar_review, null)
})

test('avatar_review is passed on from confirm and me as the service gives it: pending, then rejected', async () => {
  const { client } = newClient(undefined, true)
  const first = (await client.uploadAvatar(files.write(images.png(40)))).user
  const review = { status: 'pending', upload_id: '' }
  // The service as it runs with content checks and AVATAR_REVIEW=before:
  // the new avatar waits, the previous one is still shown.
  const { user, upload } = await withRules([{
    method: 'POST',
    path: /\/confirm$/,
    rewrite: (status, json) => {
      review.upload_id = json.upload.id
      json.user.avatar_review = Object.assign({}, review)
      json.user.avatar_url = first.avatar_url
      json.user.avatar_thumb_url = first.avatar_thumb_url
      return json
    }
  }], () => client.uploadAvatar(files.write(images.png(50))))
  assert.ok(review.upload_id)
  assert.equal(upload.id, review.upload_id)
  assert.deepEqual(user.avatar_review, { status: 'pending', upload_id: upload.id })
  assert.equal(user.avatar_url, first.avatar_url)
  assert.notEqual(upload.url, first.avatar_url)

  const answers = [
    { status: 'pending', upload_id: upload.id },
    { status: 'rejected', upload_id: upload.id, reason: 'risky' },
    { status: 'rejected', upload_id: upload.id, reason: 'review' },
    { status: 'rejected', upload_id: upload.id, reason: 'unchecked' }
  ]
  for (const answer of answers) {
    const me = await withRules([{
      method: 'GET',
      path: /^\/v1\/me$/,
      rewrite: (status, json) => {
        json.user.avatar_review = answer
        return json
      }
    }], () => client.me())
    assert.deepEqual(me.avatar_review, answer)
  }
})

test('a service from before avatar_review: the client gives null', async () => {
  const { client } = newClient(undefined, true)
  const drop = (status, json) => {
    if (json.user) delete json.user.avatar_review
    return json
  }
  await withRules([
    { method: 'POST', path: /^\/v1\/session$/, rewrite: drop },
    { method: 'POST', path: /\/confirm$/, rewrite: drop },
    { method: 'GET', path: /^\/v1\/me$/, rewrite: drop },
    { method: 'PUT', path: /^\/v1\/me$/, rewrite: drop }
  ], async () => {
    assert.equal((await client.login()).avatar_review, null)
    const { user } = await client.uploadAvatar(files.write(images.png(40)))
    assert.equal(user.avatar_review, null)
    assert.match(user.avatar_url, /\/avatar$/)
    assert.equal((await client.me()).avatar_review, null)
    assert.equal((await client.setNickname('旧服务')).avatar_review, null)
    assert.ok(proxy.calls.filter((c) => c.by === 'service').length >= 4)
  })
})
