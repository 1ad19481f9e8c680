'use strict'

// A wx object for node whose network and file calls are real: wx.request is
// fetch, wx.uploadFile is a real multipart POST sent in chunks so that
// onProgressUpdate reports real progress, readFile reads the disk. Callback
// shapes follow the mini program documentation: success/fail/complete,
// errMsg strings, uploadFile's data as a string, readFile's data as an
// ArrayBuffer.

const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const path = require('node:path')

// wx.request's documented methods; everything else (PATCH included) is
// refused as the real one refuses it.
const METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT']

function later (fn) { setImmediate(fn) }

function finish (opts, ok, res) {
  later(() => {
    if (ok && opts.success) opts.success(res)
    if (!ok && opts.fail) opts.fail(res)
    if (opts.complete) opts.complete(res)
  })
}

function toArrayBuffer (buf) {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

// wechatCode makes a code shaped like the ones wx.login gives, in WeChat
// DevTools as on phones: 32 ASCII letters and digits, new on every call
// (e.g. 0c3Xa8000Ow1sT1bqA300y0wnS2Xa80x).
function wechatCode () {
  const bytes = crypto.randomBytes(32)
  let code = ''
  for (const b of bytes) code += ALNUM[b % ALNUM.length]
  return code
}

// createFakeWx returns the fake and what it saw.
//   (default)   wx.login answers a new WeChat-shaped code each time, as in
//               DevTools; serve --dev logs every such code in as the one
//               user "devtools"
//   loginName   wx.login answers "dev-<loginName>": serve --dev's named dev
//               users, for tests that need several people
//   loginCode   wx.login answers this exact code
function createFakeWx (options) {
  const o = Object.assign({}, options)
  const fake = {
    // Every call to wxavatar or COS: {method, url, status, code}; status 0 when
    // no answer came.
    log: [],
    loginCalls: 0,
    // Every code wx.login gave, in order.
    loginCodes: [],
    toasts: [],
    store: new Map(),
    // uploadFile behaviour, changeable per test:
    //   lagMs     report success at once, really POST this much later
    //             (storage that makes the object visible late)
    //   drop      report success and never upload
    //   editForm  function(form) → form actually sent (simulate tampering)
    upload: {},
    // The real POSTs made after a lag, to await and check.
    laggedUploads: []
  }

  fake.login = function (opts) {
    fake.loginCalls++
    const code = o.loginCode || (o.loginName ? 'dev-' + o.loginName : wechatCode())
    fake.loginCodes.push(code)
    finish(opts, true, { code, errMsg: 'login:ok' })
  }

  fake.request = function (opts) {
    const method = (opts.method || 'GET').toUpperCase()
    if (!METHODS.includes(method)) {
      finish(opts, false, { errMsg: 'request:fail method is invalid' })
      return { abort () {} }
    }
    const header = Object.assign({}, opts.header)
    const hasType = Object.keys(header).some((k) => k.toLowerCase() === 'content-type')
    if (!hasType) header['content-type'] = 'application/json'
    let body
    let url = opts.url
    const data = opts.data
    if (data !== undefined && data !== null) {
      if (method === 'GET' && typeof data === 'object' && !(data instanceof ArrayBuffer)) {
        const q = new URLSearchParams(data).toString()
        if (q) url += (url.includes('?') ? '&' : '?') + q
      } else if (data instanceof ArrayBuffer || typeof data === 'string') {
        body = data
      } else {
        body = JSON.stringify(data)
      }
    }
    const signal = AbortSignal.timeout(opts.timeout || 60000)
    fetch(url, { method, headers: header, body, signal }).then(async (res) => {
      const text = await res.text()
      let parsed = text
      if ((opts.dataType || 'json') === 'json') {
        try { parsed = JSON.parse(text) } catch (e) { parsed = text }
      }
      const responseHeader = {}
      res.headers.forEach((v, k) => { responseHeader[k] = v })
      fake.log.push({ method, url: opts.url, status: res.status, code: errorCode(parsed) })
      finish(opts, true, { statusCode: res.status, data: parsed, header: responseHeader, errMsg: 'request:ok' })
    }, (err) => {
      fake.log.push({ method, url: opts.url, status: 0, code: '' })
      const why = err.name === 'TimeoutError' ? 'timeout' : (err.cause && err.cause.code) || err.message
      finish(opts, false, { errMsg: 'request:fail ' + why })
    })
    return { abort () {} }
  }

  fake.uploadFile = function (opts) {
    const listeners = []
    const task = {
      onProgressUpdate (cb) { listeners.push(cb) },
      offProgressUpdate (cb) { const i = listeners.indexOf(cb); if (i >= 0) listeners.splice(i, 1) },
      abort () {}
    }
    const progress = (ev) => listeners.forEach((cb) => cb(ev))
    const behaviour = fake.upload
    let bytes
    try {
      bytes = fs.readFileSync(opts.filePath)
    } catch (e) {
      finish(opts, false, { errMsg: 'uploadFile:fail file not found' })
      return task
    }
    const form = behaviour.editForm ? behaviour.editForm(Object.assign({}, opts.formData)) : opts.formData
    const send = () => multipartPost(opts.url, form, opts.name, opts.filePath, bytes, progress, opts.timeout || 60000)
    if (behaviour.drop || behaviour.lagMs) {
      later(() => progress({ progress: 100, totalBytesSent: bytes.length, totalBytesExpectedToSend: bytes.length }))
      finish(opts, true, { statusCode: 204, data: '', errMsg: 'uploadFile:ok' })
      if (behaviour.lagMs) {
        fake.laggedUploads.push(new Promise((resolve) => setTimeout(resolve, behaviour.lagMs)).then(send).then((res) => {
          fake.log.push({ method: 'POST', url: opts.url, status: res.statusCode, code: '' })
          return res
        }))
      }
      return task
    }
    send().then((res) => {
      fake.log.push({ method: 'POST', url: opts.url, status: res.statusCode, code: '' })
      finish(opts, true, { statusCode: res.statusCode, data: res.data, errMsg: 'uploadFile:ok' })
    }, (err) => {
      fake.log.push({ method: 'POST', url: opts.url, status: 0, code: '' })
      finish(opts, false, { errMsg: 'uploadFile:fail ' + err.message })
    })
    return task
  }

  fake.getFileSystemManager = function () {
    return {
      readFile (opts) {
        fs.readFile(opts.filePath, (err, buf) => {
          if (err) {
            finish(opts, false, { errMsg: 'readFile:fail no such file or directory, open "' + opts.filePath + '"' })
            return
          }
          finish(opts, true, { data: opts.encoding ? buf.toString(opts.encoding) : toArrayBuffer(buf), errMsg: 'readFile:ok' })
        })
      }
    }
  }

  // What a page needs besides the network.
  fake.getStorageSync = (k) => (fake.store.has(k) ? fake.store.get(k) : '')
  fake.setStorageSync = (k, v) => { fake.store.set(k, v) }
  fake.removeStorageSync = (k) => { fake.store.delete(k) }
  fake.showToast = (opts) => { fake.toasts.push(opts) }
  fake.showLoading = () => {}
  fake.hideLoading = () => {}

  return fake
}

function errorCode (data) {
  return data && typeof data === 'object' && data.error ? data.error.code : ''
}

// multipartPost sends the form fields, then the file, as wx.uploadFile does,
// writing the body in a few chunks and reporting progress after each.
async function multipartPost (url, formData, fieldName, filePath, bytes, progress, timeout) {
  const fd = new FormData()
  for (const [k, v] of Object.entries(formData || {})) fd.append(k, String(v))
  fd.append(fieldName, new Blob([bytes]), path.basename(filePath))
  // Request serialises the form with a boundary, as the browser would.
  const encoded = new Request('http://form.invalid/', { method: 'POST', body: fd })
  const body = Buffer.from(await encoded.arrayBuffer())
  const contentType = encoded.headers.get('content-type')
  const u = new URL(url)
  const client = u.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = client.request(u, {
      method: 'POST',
      headers: { 'Content-Type': contentType, 'Content-Length': body.length },
      timeout
    }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ statusCode: res.statusCode, data: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    const step = Math.max(1, Math.ceil(body.length / 4))
    let sent = 0
    const writeNext = () => {
      if (sent >= body.length) { req.end(); return }
      const chunk = body.subarray(sent, sent + step)
      req.write(chunk, () => {
        sent += chunk.length
        progress({
          progress: Math.round((sent * 100) / body.length),
          totalBytesSent: sent,
          totalBytesExpectedToSend: body.length
        })
        writeNext()
      })
    }
    writeNext()
  })
}

module.exports = { createFakeWx, wechatCode }
