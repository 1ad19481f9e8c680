'use strict'

// What the client sends to storage, for every shape the signature answer can
// take (post and put, only put, only post), with each store's field and
// header names, against a scripted service and store (test-support/
// fakeservice.js) that record every byte. The client must send the form and
// the headers exactly as given, whatever the store, and read nothing in them.

const { test, before, after, beforeEach } = require('node:test')
const assert = require('node:assert/strict')

const { createClient, WxAvatarError } = require('../lib/wxavatar')
const { createFakeWx } = require('../test-support/fakewx')
const { startFakeService } = require('../test-support/fakeservice')
const { assertSigned, sizeRequiredReason } = require('../test-support/openapi')
const images = require('../test-support/images')

let svc
let files

before(async () => {
  svc = await startFakeService()
  files = images.tempFiles()
})

after(async () => {
  if (files) files.remove()
  if (svc) await svc.close()
})

beforeEach(() => {
  svc.sign = null
  svc.postPolicy = true
  svc.storeAnswer = null
  svc.signs.length = 0
  svc.storeCalls.length = 0
  svc.confirms.length = 0
})

// The signature answer of each store, as the service gives it, with the
// names openapi.yaml gives each (checked below): COS's, OSS's V4 (x-oss-*)
// and S3's SigV4 (x-amz-*). The values are made up, and some deliberately
// odd (a percent-encoded query, a header value with ; and =): nothing in
// them is the client's to read.
const STORES = {
  cos: (req, { key, store }) => ({
    post: {
      url: store + '/',
      file_field: 'file',
      form: {
        key,
        policy: Buffer.from('{"conditions":[]}').toString('base64'),
        'q-sign-algorithm': 'sha1',
        'q-ak': 'AKIDdev',
        'q-key-time': '1764681900;1764682800',
        'q-signature': 'a'.repeat(40),
        'Content-Type': req.content_type,
        success_action_status: '204',
        acl: 'private',
        'x-cos-storage-class': 'STANDARD'
      }
    },
    put: {
      url: store + '/' + key + '?q-sign-algorithm=sha1&q-ak=AKIDdev&q-sign-time=1764681900%3B1764682800' +
        '&q-key-time=1764681900%3B1764682800&q-header-list=content-length%3Bcontent-type%3Bhost%3Bx-cos-acl%3Bx-cos-storage-class' +
        '&q-url-param-list=&q-signature=' + 'b'.repeat(40),
      headers: {
        'Content-Type': req.content_type,
        'Content-Length': String(req.size),
        'x-cos-acl': 'private',
        'x-cos-storage-class': 'STANDARD'
      }
    }
  }),
  oss: (req, { key, store }) => ({
    post: {
      url: store + '/',
      file_field: 'file',
      form: {
        key,
        policy: Buffer.from('{"conditions":[]}').toString('base64'),
        'x-oss-signature-version': 'OSS4-HMAC-SHA256',
        'x-oss-credential': 'LTAIdev/20261202/cn-hangzhou/oss/aliyun_v4_request',
        'x-oss-date': '20261202T132500Z',
        'x-oss-signature': 'c'.repeat(64),
        'Content-Type': req.content_type,
        'x-oss-content-type': req.content_type,
        success_action_status: '204',
        'x-oss-object-acl': 'private',
        'x-oss-storage-class': 'Standard'
      }
    },
    put: {
      url: store + '/' + key + '?x-oss-signature-version=OSS4-HMAC-SHA256' +
        '&x-oss-credential=LTAIdev%2F20261202%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=20261202T132500Z' +
        '&x-oss-expires=900&x-oss-additional-headers=content-length&x-oss-signature=' + 'd'.repeat(64),
      headers: {
        'Content-Type': req.content_type,
        'Content-Length': String(req.size),
        'x-oss-object-acl': 'private',
        'x-oss-storage-class': 'Standard',
        'x-oss-meta-note': 'a;b=c'
      }
    }
  }),
  s3: (req, { key, store }) => ({
    post: {
      url: store + '/',
      file_field: 'file',
      form: {
        key,
        policy: Buffer.from('{"conditions":[]}').toString('base64'),
        'x-amz-algorithm': 'AWS4-HMAC-SHA256',
        'x-amz-credential': 'dev/20261202/us-east-1/s3/aws4_request',
        'x-amz-date': '20261202T132500Z',
        'x-amz-signature': 'e'.repeat(64),
        'Content-Type': req.content_type,
        success_action_status: '204',
        bucket: 'wxavatar-dev'
      }
    },
    put: {
      url: store + '/' + key + '?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
        '&X-Amz-Credential=dev%2F20261202%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261202T132500Z' +
        '&X-Amz-Expires=900&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bx-amz-storage-class' +
        '&X-Amz-Signature=' + 'f'.repeat(64),
      headers: {
        'Content-Type': req.content_type,
        'Content-Length': String(req.size),
        'x-amz-storage-class': 'STANDARD'
      }
    }
  })
}

test("the sample answers have the names openapi.yaml gives each store's form and PUT headers", () => {
  for (const [store, sample] of Object.entries(STORES)) {
    assertSigned(store, sample({ content_type: 'image/png', size: 40 }, { key: 'uploads/u1/up1.png', store: 'http://store.invalid' }))
  }
})

// only keeps one of post and put in a store's answer.
function only (which, store) {
  return (req, ctx) => {
    const answer = store(req, ctx)
    return { [which]: answer[which] }
  }
}

// What node's fetch (the fake wx.request) and multipart POST add on their
// own: the runtime's, not the client's.
const TRANSPORT_HEADERS = ['host', 'connection', 'accept', 'accept-language', 'accept-encoding', 'sec-fetch-mode', 'user-agent']

function newClient () {
  const fake = createFakeWx({ loginName: 'storage' })
  const uploadFile = fake.uploadFile
  fake.uploadFileCalls = 0
  fake.uploadFile = (opts) => { fake.uploadFileCalls++; return uploadFile(opts) }
  return { client: createClient({ baseURL: svc.api, wx: fake }), fake }
}

// assertPut checks that the store got exactly one PUT of these bytes, to the
// signed URL as given, with every signed header as given and no other
// header of the client's (no Authorization: the session token is not the
// store's).
function assertPut (put, data) {
  assert.equal(svc.storeCalls.length, 1, 'store calls: ' + svc.storeCalls.map((c) => c.method))
  const call = svc.storeCalls[0]
  assert.equal(call.method, 'PUT')
  assert.equal(call.url, put.url.slice(svc.api.length), 'the URL was changed on the way')
  for (const [name, value] of Object.entries(put.headers)) {
    assert.equal(call.headers[name.toLowerCase()], value, name)
  }
  const own = Object.keys(call.headers).filter((h) => !TRANSPORT_HEADERS.includes(h)).sort()
  assert.deepEqual(own, Object.keys(put.headers).map((h) => h.toLowerCase()).sort())
  assert.ok(call.body.equals(data), 'the bytes PUT are not the file: ' + call.body.length + ' bytes')
}

for (const [name, store] of Object.entries(STORES)) {
  test(name + ': an answer with only put is sent by PUT, though POST (the default) was asked for', async () => {
    svc.sign = only('put', store)
    svc.postPolicy = false
    const { client, fake } = newClient()
    const data = images.png(40)
    const progress = []
    const { user, upload } = await client.uploadAvatar(files.write(data, '.jpg'), { onProgress: (p) => progress.push(p) })

    assert.deepEqual(svc.signs, [{ content_type: 'image/png', size: data.length }])
    assertPut(store(svc.signs[0], { key: 'uploads/u1/' + upload.id + '.png', store: svc.store }).put, data)
    assert.equal(fake.uploadFileCalls, 0, 'wx.uploadFile was called')
    assert.deepEqual(progress, [0, 100])
    assert.deepEqual(svc.confirms, [upload.id])
    assert.equal(upload.status, 'confirmed')
    assert.equal(user.avatar_url, upload.url)
  })

  test(name + ': an answer with both is sent as the POST form, exactly as given', async () => {
    svc.sign = store
    const { client, fake } = newClient()
    const data = images.png(36)
    const { upload } = await client.uploadAvatar(files.write(data))
    const signed = store(svc.signs[0], { key: 'uploads/u1/' + upload.id + '.png', store: svc.store }).post
    assert.equal(fake.uploadFileCalls, 1)
    assert.deepEqual(svc.storeCalls.map((c) => [c.method, c.url]), [['POST', '/store/']])
    const call = svc.storeCalls[0]
    assert.deepEqual(call.form, signed.form)
    assert.equal(call.file.field, signed.file_field)
    assert.ok(call.file.bytes.equals(data), 'the bytes POSTed are not the file')
    assert.equal(call.headers.authorization, undefined, 'the session token went to the store')
  })

  test(name + ': a PUT the store refuses is upload_failed with its status and <Code>, nothing confirmed', async () => {
    svc.sign = only('put', store)
    const code = { cos: 'SignatureDoesNotMatch', oss: 'AccessDenied', s3: 'RequestTimeTooSkewed' }[name]
    // Each store's XML error document, as documented: <Error><Code>…
    svc.storeAnswer = () => ({
      status: 403,
      headers: { 'Content-Type': 'application/xml' },
      body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>' + code + '</Code>\n  <Message>refused</Message>\n' +
        '  <RequestId>5C3D8D2A0ACA54D87B43F1A2</RequestId>\n</Error>\n'
    })
    const { client } = newClient()
    await assert.rejects(client.uploadAvatar(files.write(images.png(8))), (err) => {
      assert.ok(err instanceof WxAvatarError)
      assert.deepEqual([err.code, err.status, err.storageCode, err.cosCode], ['upload_failed', 403, code, code])
      assert.equal(err.message, 'storage answered 403 ' + code)
      return true
    })
    assert.equal(svc.storeCalls.length, 1)
    assert.deepEqual(svc.confirms, [])
  })
}

test('a POST the store refuses is upload_failed with its status and <Code>', async () => {
  svc.sign = STORES.s3
  // A form over the policy's content-length-range, as S3 answers it.
  svc.storeAnswer = () => ({
    status: 400,
    headers: { 'Content-Type': 'application/xml' },
    body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code>' +
      '<Message>Your proposed upload exceeds the maximum allowed size</Message><ProposedSize>9</ProposedSize>' +
      '<MaxSizeAllowed>8</MaxSizeAllowed></Error>'
  })
  const { client } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(images.png(8))), (err) => {
    assert.deepEqual([err.code, err.status, err.storageCode, err.cosCode], ['upload_failed', 400, 'EntityTooLarge', 'EntityTooLarge'])
    assert.equal(err.message, 'storage answered 400 EntityTooLarge')
    return true
  })
  assert.deepEqual(svc.storeCalls.map((c) => c.method), ['POST'])
  assert.deepEqual(svc.confirms, [])
})

test('a refusal that is no XML error is upload_failed with the status alone', async () => {
  svc.sign = only('put', STORES.s3)
  svc.storeAnswer = () => ({ status: 502, headers: { 'Content-Type': 'text/html' }, body: '<html>Bad Gateway</html>' })
  const { client } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(images.png(8))), (err) => {
    assert.deepEqual([err.code, err.status, err.storageCode, err.cosCode, err.message],
      ['upload_failed', 502, '', '', 'storage answered 502'])
    return true
  })
})

test("method 'put' with an answer that has only post: upload_failed, nothing sent to the store", async () => {
  svc.sign = only('post', STORES.cos)
  const { client, fake } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(images.png(8)), { method: 'put' }), (err) => {
    assert.deepEqual([err.code, err.message], ['upload_failed', 'the server signed no PUT URL for this upload'])
    return true
  })
  assert.equal(svc.signs.length, 1)
  assert.deepEqual(svc.storeCalls, [])
  assert.equal(fake.uploadFileCalls, 0)
  assert.deepEqual(svc.confirms, [])
})

test("method 'put' with an answer that has only put: one PUT, the file read whole once", async () => {
  svc.sign = only('put', STORES.oss)
  const { client, fake } = newClient()
  const data = images.jpeg()
  const { upload } = await client.uploadAvatar(files.write(data), { method: 'put' })
  assertPut(STORES.oss(svc.signs[0], { key: 'uploads/u1/' + upload.id + '.jpg', store: svc.store }).put, data)
  assert.deepEqual(fake.fileCalls.filter((c) => c.api === 'readFile' && c.length === undefined).map((c) => c.bytes), [data.length])
})

test('an answer with neither post nor put is bad_response, nothing sent to the store', async () => {
  svc.sign = () => ({})
  const { client } = newClient()
  await assert.rejects(client.uploadAvatar(files.write(images.png(8))), (err) => {
    assert.deepEqual([err.code, err.status], ['bad_response', 201])
    return true
  })
  assert.deepEqual(svc.storeCalls, [])
  assert.deepEqual(svc.confirms, [])
})

test('a file that changes between sizing and the put-only upload is read_file_failed, nothing PUT', async () => {
  svc.sign = only('put', STORES.s3)
  const { client, fake } = newClient()
  const data = images.png(40)
  // The runtime sizes the file one byte short of what it then reads.
  const fsm = fake.getFileSystemManager()
  const getFileInfo = fsm.getFileInfo
  fsm.getFileInfo = (opts) => getFileInfo(Object.assign({}, opts, {
    success: (r) => opts.success(Object.assign({}, r, { size: r.size - 1 }))
  }))
  await assert.rejects(client.uploadAvatar(files.write(data)), (err) => {
    assert.equal(err.code, 'read_file_failed')
    assert.match(err.message, /changed while being uploaded/)
    return true
  })
  assert.deepEqual(svc.signs, [{ content_type: 'image/png', size: data.length - 1 }])
  assert.deepEqual(svc.storeCalls, [])
})

// A store without POST uploads needs size: the service refuses a signature
// request without it (openapi.yaml: 400 invalid_request with that reason).
// The client always declares it, by POST as by PUT, converted files too, so
// it never meets that answer.
test('the client always declares size, so a put-only store never answers ' + sizeRequiredReason(), async () => {
  svc.sign = only('put', STORES.s3)
  svc.postPolicy = false
  // The scripted service does refuse a request without size, as the real one.
  const session = await fetch(svc.api + '/v1/session', { method: 'POST', body: '{"code":"x"}' }).then((r) => r.json())
  const res = await fetch(svc.api + '/v1/avatar/uploads', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + session.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ content_type: 'image/png' })
  })
  assert.equal(res.status, 400)
  assert.deepEqual((await res.json()).error, { code: 'invalid_request', message: 'invalid_request', reason: sizeRequiredReason() })

  const { client } = newClient()
  const png = images.png(40)
  const jpeg = images.jpeg()
  await client.uploadAvatar(files.write(png))
  await client.uploadAvatar(files.write(jpeg), { method: 'put' })
  await client.uploadAvatar(files.write(images.heic(48, 48)))
  const sizes = svc.signs.slice(1).map((s) => [s.content_type, typeof s.size])
  assert.deepEqual(sizes, [['image/png', 'number'], ['image/jpeg', 'number'], ['image/jpeg', 'number']])
  assert.deepEqual(svc.signs.slice(1, 3).map((s) => s.size), [png.length, jpeg.length])
  // Each PUT carried the size the signature was asked for.
  assert.deepEqual(svc.storeCalls.map((c) => c.body.length), svc.signs.slice(1).map((s) => s.size))
})
