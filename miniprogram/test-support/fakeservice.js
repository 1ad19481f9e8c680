'use strict'

// A scripted stand-in for wxavatar and its object store on one loopback
// server, for tests of what the client sends where, byte for byte, whatever
// the signature answer holds: the real service answers only the shapes its
// own STORAGE gives, and its local object server checks signatures, so it
// cannot be told to take headers a test makes up.
//
// The API side follows openapi.yaml: POST /v1/session, POST
// /v1/avatar/uploads (201 with the upload a test's sign() makes; 400
// invalid_request, reason size_required, for no size when the store takes no
// POST uploads), POST /v1/avatar/uploads/{id}/confirm (200 once the store
// holds the object, 409 upload_missing before). Everything under /store/ is
// the store: a PUT or a multipart POST is recorded and answered by a test's
// storeAnswer().

const http = require('node:http')

const { sizeRequiredReason } = require('./openapi')

function json (res, status, body) {
  const payload = Buffer.from(JSON.stringify(body))
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': payload.length, 'X-Request-Id': 'fake-req' })
  res.end(payload)
}

function apiError (res, status, code, extra) {
  json(res, status, { error: Object.assign({ code, message: code }, extra), request_id: 'fake-req' })
}

// startFakeService resolves with
//   api          the service's base URL
//   store        the store's base URL (…/store)
//   sign(req, {key, store}) → the signature answer's {post?, put?}; req is
//                the request's body, key the object key chosen, store the
//                store's base URL. Set per test.
//   postPolicy   false: a signature request without size is refused, as
//                the service does with S3_POST_POLICY=false
//   storeAnswer(call) → {status, body?, headers?}; by default 200 to a PUT
//                and 204 to a POST, empty
//   signs        every signature request's body, parsed
//   storeCalls   every request to the store: {method, url (path and query
//                as sent), headers (as received, lower-case names), body
//                (Buffer), form and file (a POST's fields and file bytes)}
//   confirms     every confirm's upload id
//   close()
async function startFakeService () {
  const reason = sizeRequiredReason()
  const fake = {
    sign: null,
    postPolicy: true,
    storeAnswer: null,
    signs: [],
    storeCalls: [],
    confirms: []
  }
  const uploads = new Map() // id → {key, size, contentType, stored}
  let ids = 0

  async function storeRequest (req, res, body) {
    const call = {
      method: req.method,
      url: req.url,
      headers: Object.assign({}, req.headers),
      body
    }
    if (req.method === 'POST') {
      // The multipart body, read as the store reads it.
      const form = await new Request('http://store.invalid/', {
        method: 'POST', headers: { 'content-type': req.headers['content-type'] || '' }, body
      }).formData()
      call.form = {}
      for (const [k, v] of form) {
        if (typeof v === 'string') call.form[k] = v
        else call.file = { field: k, bytes: Buffer.from(await v.arrayBuffer()) }
      }
    }
    fake.storeCalls.push(call)
    const answer = (fake.storeAnswer && fake.storeAnswer(call)) || { status: req.method === 'PUT' ? 200 : 204 }
    if (answer.status >= 200 && answer.status < 300) {
      const key = req.method === 'PUT' ? decodeURIComponent(new URL(req.url, 'http://x').pathname.replace(/^\/store\//, '')) : call.form.key
      for (const u of uploads.values()) if (u.key === key) u.stored = true
    }
    const payload = Buffer.from(answer.body || '')
    res.writeHead(answer.status, Object.assign({ 'Content-Length': payload.length }, answer.headers))
    res.end(payload)
  }

  function apiRequest (req, res, body) {
    const p = new URL(req.url, 'http://x').pathname
    if (req.method === 'POST' && p === '/v1/session') {
      return json(res, 200, { token: 'fake-token', user: { id: 'u1', nickname: '', avatar_url: null, avatar_thumb_url: null, avatar_review: null } })
    }
    if (req.headers.authorization !== 'Bearer fake-token') return apiError(res, 401, 'unauthorized')
    if (req.method === 'POST' && p === '/v1/avatar/uploads') {
      const r = JSON.parse(body.toString('utf8'))
      fake.signs.push(r)
      if (r.size === undefined && !fake.postPolicy) return apiError(res, 400, 'invalid_request', { reason })
      const id = 'up' + (++ids)
      const key = 'uploads/u1/' + id + ({ 'image/png': '.png', 'image/webp': '.webp' }[r.content_type] || '.jpg')
      uploads.set(id, { key, size: r.size, contentType: r.content_type, stored: false })
      const upload = Object.assign({
        id,
        key,
        expires_at: new Date(Date.now() + 900000).toISOString(),
        max_bytes: 5 * 1024 * 1024,
        url: 'http://cdn.invalid/avatars/u1/' + id + '/avatar'
      }, fake.sign(r, { key, store: fake.store }))
      return json(res, 201, { upload })
    }
    const m = /^\/v1\/avatar\/uploads\/([^/]+)\/confirm$/.exec(p)
    if (req.method === 'POST' && m) {
      const id = decodeURIComponent(m[1])
      fake.confirms.push(id)
      const u = uploads.get(id)
      if (!u || !u.stored) return apiError(res, 409, 'upload_missing')
      const url = 'http://cdn.invalid/avatars/u1/' + id + '/avatar'
      return json(res, 200, {
        user: { id: 'u1', nickname: '', avatar_url: url, avatar_thumb_url: url.replace(/avatar$/, 'thumb'), avatar_review: null },
        upload: { id, status: 'confirmed', size: u.size, content_type: u.contentType, url }
      })
    }
    apiError(res, 404, 'not_found')
  }

  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const handle = req.url.startsWith('/store/') ? storeRequest(req, res, body) : apiRequest(req, res, body)
      Promise.resolve(handle).catch((e) => {
        res.writeHead(500)
        res.end(String(e && e.stack))
      })
    })
  })
  await new Promise((resolve, reject) => {
    server.on('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  fake.api = 'http://127.0.0.1:' + server.address().port
  fake.store = fake.api + '/store'
  fake.close = () => new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
  return fake
}

module.exports = { startFakeService }
