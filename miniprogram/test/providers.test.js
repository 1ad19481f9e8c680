'use strict'

// The whole upload, login → signature → upload by POST and by PUT → confirm
// → download of the avatar, against the real service in --dev with each
// storage provider its local object server speaks: COS, OSS, S3, and S3 as
// a store without POST policy uploads (Cloudflare R2), whose signature
// answers carry only put. The client is the same for all: it sends what
// the answer holds and reads nothing in it.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { createClient, WxAvatarError, TOKEN_STORAGE_KEY } = require('../lib/wxavatar')
const { createFakeWx } = require('../test-support/fakewx')
const { startServer } = require('../test-support/server')
const { startProxy } = require('../test-support/proxy')
const { assertSigned, sizeRequiredReason } = require('../test-support/openapi')
const images = require('../test-support/images')
const { assertStored } = require('../test-support/stored')

// protocol is the local object server's dialect, named as the service
// announces it; marker matches the names only that dialect signs with (form
// fields, PUT headers, query parameters).
const PROVIDERS = [
  { env: { STORAGE: 'cos' }, protocol: 'cos', marker: /^(q-|x-cos-)/i, post: true },
  { env: { STORAGE: 'oss' }, protocol: 'oss', marker: /^x-oss-/i, post: true },
  { env: { STORAGE: 's3' }, protocol: 's3', marker: /^x-amz-/i, post: true },
  { env: { STORAGE: 's3', S3_POST_POLICY: 'false' }, protocol: 's3', marker: /^x-amz-/i, post: false }
]

// The signature's own field: q-signature (COS), x-oss-signature (OSS V4),
// x-amz-signature / X-Amz-Signature (S3 SigV4).
const SIGNATURE_NAME = /^(q-|x-oss-|x-amz-)signature$/i

// zeroed gives a signature of the same length and alphabet that is wrong.
function zeroed (sig) {
  return sig.replace(/[0-9a-f]/gi, '0')
}

const files = images.tempFiles()
after(() => files.remove())

for (const p of PROVIDERS) {
  describe(Object.entries(p.env).map(([k, v]) => k + '=' + v).join(' ') + (p.post ? '' : ' (no POST uploads, as Cloudflare R2)'), () => {
    let srv = null
    let proxy = null
    let users = 0

    before(async () => {
      srv = await startServer({ env: p.env })
      proxy = await startProxy(srv.api)
    }, { timeout: 200000 })

    after(async () => {
      if (proxy) await proxy.close()
      if (srv) assert.equal(await srv.stop(), 0, 'wxavatar did not shut down cleanly on SIGTERM')
    })

    function newClient (viaProxy) {
      const fake = createFakeWx({ loginName: p.env.STORAGE + (++users) + '-' + process.pid })
      const map = new Map()
      const storage = { get: (k) => map.get(k) || '', set: (k, v) => { map.set(k, v) }, remove: (k) => { map.delete(k) } }
      return { client: createClient({ baseURL: viaProxy ? proxy.url : srv.api, storage, wx: fake }), fake, storage }
    }

    // storageCalls lists [method, status] of the calls that went to storage.
    function storageCalls (fake) {
      return fake.log.filter((c) => !c.url.startsWith(srv.api) && !c.url.startsWith(proxy.url)).map((c) => [c.method, c.status])
    }

    // sign asks the service for a signature as the client would, and gives
    // the status and answer.
    async function sign (token, body) {
      const res = await fetch(srv.api + '/v1/avatar/uploads', {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
        body: JSON.stringify(body)
      })
      return { status: res.status, body: await res.json() }
    }

    test('the service runs this store, and its signature answer speaks its dialect', async () => {
      assert.equal(srv.storage.provider, p.protocol, 'the local object server speaks ' + srv.storage.provider)
      const { client, storage } = newClient()
      await client.login()
      const token = storage.get(TOKEN_STORAGE_KEY)
      const { status, body } = await sign(token, { content_type: 'image/png', size: 1234 })
      assert.equal(status, 201)
      const upload = body.upload
      assertSigned(p.protocol, upload)
      assert.equal(Boolean(upload.post), p.post, 'post in the answer')
      assert.ok(upload.put, 'no put for a declared size')
      assert.ok(upload.put.url.startsWith(srv.storage.url + '/'), upload.put.url)
      const signed = [...Object.keys(upload.put.headers), ...new URL(upload.put.url).searchParams.keys()]
      assert.ok(signed.some((n) => p.marker.test(n)), 'the PUT signs no ' + p.marker + ' name: ' + signed)
      assert.equal(upload.put.headers['Content-Length'], '1234')
      assert.equal(upload.put.headers['Content-Type'], 'image/png')
      if (p.post) {
        assert.ok(upload.post.url.startsWith(srv.storage.url + '/'), upload.post.url)
        assert.ok(Object.keys(upload.post.form).some((n) => p.marker.test(n)), 'the form has no ' + p.marker + ' field')
        assert.equal(upload.post.form.key, upload.key)
      }

      // Without size: only the POST form, or, with no POST uploads, nothing
      // to sign (openapi.yaml: 400 invalid_request with that reason). The
      // client always declares size, so it never meets the latter.
      const unsized = await sign(token, { content_type: 'image/png' })
      if (p.post) {
        assert.equal(unsized.status, 201)
        assert.ok(unsized.body.upload.post, 'no post without size')
        assert.equal(unsized.body.upload.put, undefined)
      } else {
        assert.equal(unsized.status, 400)
        assert.equal(unsized.body.error.code, 'invalid_request')
        assert.equal(unsized.body.error.reason, sizeRequiredReason())
      }
    })

    test('upload with the default method: ' + (p.post ? 'the POST form' : 'by PUT, the only way up') + ', confirm, download', async () => {
      const { client, fake } = newClient()
      const data = images.png(48)
      const progress = []
      const { user, upload } = await client.uploadAvatar(files.write(data, '.jpg'), { onProgress: (v) => progress.push(v) })
      assert.equal(upload.status, 'confirmed')
      assert.equal(upload.content_type, 'image/png')
      assert.equal(upload.size, data.length)
      assert.equal(user.avatar_url, upload.url)
      assert.deepEqual(storageCalls(fake), [p.post ? ['POST', 204] : ['PUT', 200]])
      assert.equal(progress[0], 0)
      assert.equal(progress[progress.length - 1], 100)
      if (!p.post) assert.deepEqual(progress, [0, 100])
      await assertStored(user, data, { width: 48, height: 48 })
      assert.equal((await client.me()).avatar_url, upload.url)
    })

    test('upload by PUT, confirm, download', async () => {
      const { client, fake } = newClient()
      const data = images.jpeg()
      const progress = []
      const { user, upload } = await client.uploadAvatar(files.write(data), { method: 'put', onProgress: (v) => progress.push(v) })
      assert.equal(upload.content_type, 'image/jpeg')
      assert.equal(upload.size, data.length)
      assert.deepEqual(storageCalls(fake), [['PUT', 200]])
      assert.deepEqual(progress, [0, 100])
      await assertStored(user, data, images.JPEG_SIZE)
    })

    if (p.post) {
      test('the same answer without post, as a store without POST uploads gives it, goes by PUT', async () => {
        const { client, fake } = newClient(true)
        proxy.rules = [{
          method: 'POST',
          path: /^\/v1\/avatar\/uploads$/,
          rewrite: (status, json) => {
            if (json.upload) delete json.upload.post
            return json
          }
        }]
        try {
          const data = images.png(52)
          const { user } = await client.uploadAvatar(files.write(data))
          assert.deepEqual(storageCalls(fake), [['PUT', 200]])
          await assertStored(user, data, { width: 52, height: 52 })
        } finally {
          proxy.rules = []
        }
      })

      test('a POST form whose signature is wrong: upload_failed, 403 SignatureDoesNotMatch, nothing confirmed', async () => {
        const { client, fake } = newClient()
        fake.upload = {
          editForm: (form) => {
            const name = Object.keys(form).find((n) => SIGNATURE_NAME.test(n))
            assert.ok(name, 'no signature field in ' + Object.keys(form))
            form[name] = zeroed(form[name])
            return form
          }
        }
        await assert.rejects(client.uploadAvatar(files.write(images.png(40))), refused(403, 'SignatureDoesNotMatch'))
        assert.deepEqual(storageCalls(fake), [['POST', 403]])
        assert.equal(fake.log.filter((c) => c.url.endsWith('/confirm')).length, 0)
        assert.equal((await client.me()).avatar_url, null)
      })
    }

    test('a PUT whose signature is wrong: upload_failed, 403 SignatureDoesNotMatch, nothing confirmed', async () => {
      const { client, fake } = newClient()
      const request = fake.request
      fake.request = (opts) => {
        if (opts.method !== 'PUT' || opts.url.startsWith(srv.api)) return request(opts)
        const u = new URL(opts.url)
        const name = [...u.searchParams.keys()].find((n) => SIGNATURE_NAME.test(n))
        assert.ok(name, 'no signature in the PUT URL ' + [...u.searchParams.keys()])
        u.searchParams.set(name, zeroed(u.searchParams.get(name)))
        return request(Object.assign({}, opts, { url: u.toString() }))
      }
      await assert.rejects(client.uploadAvatar(files.write(images.png(40)), { method: 'put' }), refused(403, 'SignatureDoesNotMatch'))
      assert.deepEqual(storageCalls(fake), [['PUT', 403]])
      assert.equal(fake.log.filter((c) => c.url.endsWith('/confirm')).length, 0)
    })
  })
}

function refused (status, code) {
  return (err) => {
    assert.ok(err instanceof WxAvatarError, 'not a WxAvatarError: ' + err)
    assert.deepEqual([err.code, err.status, err.storageCode, err.cosCode], ['upload_failed', status, code, code])
    assert.equal(err.message, 'storage answered ' + status + ' ' + code)
    return true
  }
}
