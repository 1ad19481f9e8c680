'use strict'

// A wx object for node whose network and file calls are real: wx.request is
// fetch, wx.uploadFile is a real multipart POST sent in chunks so that
// onProgressUpdate reports real progress, and the FileSystemManager's
// readFile, getFileInfo and stat work on the disk. Callback shapes follow the
// mini program documentation: success/fail/complete, errMsg strings,
// uploadFile's data as a string, readFile's data as an ArrayBuffer unless an
// encoding is given.

const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const os = require('node:os')
const path = require('node:path')

const images = require('./images')

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
//   baseLibrary the base library version (SDKVersion) to behave as; before
//               2.10.0 readFile knows no position or length and reads the
//               whole file
//   without     FileSystemManager methods to leave out, e.g. ['getFileInfo']
//               as in plugins, which do not have it; or wx APIs, e.g.
//               ['createOffscreenCanvas']
//   decodes     the image types the phone's decoder reads (getImageInfo,
//               canvas images); by default HEIC/HEIF, AVIF, PNG and JPEG,
//               as on a recent iPhone
function createFakeWx (options) {
  const o = Object.assign({ baseLibrary: '3.3.4', without: [], decodes: DECODES }, options)
  const fake = {
    // Every call to wxavatar or storage: {method, url, status, code}; status 0 when
    // no answer came.
    log: [],
    loginCalls: 0,
    // Every code wx.login gave, in order.
    loginCodes: [],
    toasts: [],
    store: new Map(),
    // Every FileSystemManager call: {api, path, position, length, bytes};
    // position and length as asked, bytes how many bytes of the file it
    // handed to the mini program's JavaScript (readFile only: getFileInfo's
    // digest and wx.uploadFile read the file natively).
    fileCalls: [],
    // uploadFile behaviour, changeable per test:
    //   lagMs     report success at once, really POST this much later
    //             (storage that makes the object visible late)
    //   drop      report success and never upload
    //   editForm  function(form) → form actually sent (simulate tampering)
    upload: {},
    // The real POSTs made after a lag, to await and check.
    laggedUploads: [],
    // Every image API call: {api, src?, width?, height?, fileType?, ok}.
    imageCalls: [],
    // canvas export behaviour, changeable per test:
    //   toTempFilePath  'ok' (default), 'fail', or 'gif' (writes a GIF: a
    //                   runtime that did not honour fileType)
    //   toDataURL       'ok' (default) or 'fail'
    canvas: {},
    // Where the runtime keeps its temporary files, and the mini program's
    // own (wx.env.USER_DATA_PATH); removed when the process exits.
    tmpDir: fs.mkdtempSync(path.join(os.tmpdir(), 'wxavatar-fakewx-'))
  }
  const tmpDir = fake.tmpDir
  process.once('exit', () => fs.rmSync(tmpDir, { recursive: true, force: true }))
  fake.env = { USER_DATA_PATH: path.join(tmpDir, 'usr') }
  fs.mkdirSync(fake.env.USER_DATA_PATH)

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
      // The runtime reads the file natively: not counted in bytesRead.
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

  fake.bytesRead = () => fake.fileCalls.reduce((n, c) => n + c.bytes, 0)
  const fsm = fileSystemManager(fake.fileCalls, versionAtLeast(o.baseLibrary, '2.10.0'))
  for (const name of o.without) delete fsm[name]
  imageAPIs(fake, o.decodes)
  for (const name of o.without) delete fake[name]
  // wx.getFileSystemManager gives the one global manager.
  fake.getFileSystemManager = () => fsm

  // What a page needs besides the network.
  fake.getStorageSync = (k) => (fake.store.has(k) ? fake.store.get(k) : '')
  fake.setStorageSync = (k, v) => { fake.store.set(k, v) }
  fake.removeStorageSync = (k) => { fake.store.delete(k) }
  fake.showToast = (opts) => { fake.toasts.push(opts) }
  fake.showLoading = () => {}
  fake.hideLoading = () => {}

  return fake
}

const DECODES = ['image/heic', 'image/heif', 'image/avif', 'image/png', 'image/jpeg']

const FTYP_BRANDS = {
  heic: 'image/heic', heix: 'image/heic', hevc: 'image/heic', heim: 'image/heic', heis: 'image/heic',
  mif1: 'image/heif', msf1: 'image/heif', avif: 'image/avif', avis: 'image/avif'
}

// decodeImage stands in for the phone's image decoder: {type, width,
// height} of the file, or null when it cannot read it. HEIF-family files
// are sized from their ispe property, PNGs from IHDR, JPEGs from SOF.
function decodeImage (filePath, decodes) {
  let buf
  try {
    buf = fs.readFileSync(filePath)
  } catch (e) {
    return null
  }
  let type = ''
  let size = null
  if (buf.length >= 12 && buf.toString('ascii', 4, 8) === 'ftyp') {
    type = FTYP_BRANDS[buf.toString('ascii', 8, 12)] || ''
    size = images.ispeSize(buf)
  } else if (buf.length >= 24 && buf.readUInt32BE(0) === 0x89504E47) {
    type = 'image/png'
    size = { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) }
  } else if (buf.length >= 3 && buf[0] === 0xFF && buf[1] === 0xD8) {
    type = 'image/jpeg'
    size = images.jpegSize(buf)
  }
  if (!type || !size || !decodes.includes(type)) return null
  return { type, width: size.width, height: size.height }
}

// What the fake canvas "encodes": a gray gradient over what was drawn, as
// a real JPEG or PNG of the export's size.
function encodeCanvas (fileType, width, height) {
  if (fileType === 'jpg') {
    return images.encodeJPEG(width, height, (x, y) => Math.floor(((x + y) * 255) / Math.max(1, width + height - 2)))
  }
  return images.png(width, height)
}

// imageAPIs adds what the client uses to convert images, as documented
// (developers.weixin.qq.com/miniprogram/dev/api/): wx.getImageInfo({src})
// → {width, height, path, orientation, type} with type one of unknown,
// jpeg, png, gif, tiff; wx.createOffscreenCanvas({type: '2d', width,
// height}) with getContext('2d'), createImage() (onload/onerror, src) and
// toDataURL(type, quality); wx.canvasToTempFilePath({canvas, x, y, width,
// height, destWidth, destHeight, fileType, quality}) → {tempFilePath}.
function imageAPIs (fake, decodes) {
  let files = 0
  const tempPath = (ext) => path.join(fake.tmpDir, 'canvas_' + (++files) + ext)

  fake.getImageInfo = function (opts) {
    const img = typeof opts.src === 'string' ? decodeImage(opts.src, decodes) : null
    fake.imageCalls.push({ api: 'getImageInfo', src: opts.src, ok: !!img })
    if (!img) return finish(opts, false, { errMsg: 'getImageInfo:fail image not supported' })
    const doc = { 'image/jpeg': 'jpeg', 'image/png': 'png' }
    finish(opts, true, {
      width: img.width,
      height: img.height,
      path: opts.src,
      orientation: 'up',
      type: doc[img.type] || 'unknown',
      errMsg: 'getImageInfo:ok'
    })
  }

  fake.createOffscreenCanvas = function (opts) {
    if (!opts || opts.type !== '2d') throw new Error('the fake knows only 2d offscreen canvases')
    const canvas = { width: opts.width, height: opts.height, drawn: [] }
    fake.imageCalls.push({ api: 'createOffscreenCanvas', width: opts.width, height: opts.height, ok: true })
    const ctx = {
      fillStyle: '#000000',
      fillRect () {},
      clearRect () {},
      drawImage (image, x, y, w, h) {
        if (!image || !image.complete) throw new Error('drawImage: the image is not loaded')
        canvas.drawn.push({ src: image.src, x, y, width: w, height: h })
      }
    }
    canvas.getContext = (type) => (type === '2d' ? ctx : null)
    canvas.createImage = () => {
      const image = { onload: null, onerror: null, complete: false, width: 0, height: 0 }
      let src = ''
      Object.defineProperty(image, 'src', {
        get: () => src,
        set: (v) => {
          src = v
          const img = decodeImage(v, decodes)
          fake.imageCalls.push({ api: 'createImage', src: v, ok: !!img })
          later(() => {
            if (!img) return image.onerror && image.onerror({ errMsg: 'image load failed' })
            Object.assign(image, { complete: true, width: img.width, height: img.height })
            if (image.onload) image.onload()
          })
        }
      })
      return image
    }
    canvas.toDataURL = (type, quality) => {
      const ok = (fake.canvas.toDataURL || 'ok') === 'ok'
      fake.imageCalls.push({ api: 'toDataURL', type, quality, ok })
      if (!ok) throw new Error('toDataURL failed')
      const jpeg = type === 'image/jpeg'
      const bytes = encodeCanvas(jpeg ? 'jpg' : 'png', canvas.width, canvas.height)
      return 'data:' + (jpeg ? 'image/jpeg' : 'image/png') + ';base64,' + bytes.toString('base64')
    }
    return canvas
  }

  fake.canvasToTempFilePath = function (opts) {
    const canvas = opts.canvas
    const how = fake.canvas.toTempFilePath || 'ok'
    const width = opts.destWidth || (canvas && canvas.width)
    const height = opts.destHeight || (canvas && canvas.height)
    fake.imageCalls.push({ api: 'canvasToTempFilePath', fileType: opts.fileType, quality: opts.quality, width, height, ok: how !== 'fail' })
    if (!canvas || !canvas.drawn) return finish(opts, false, { errMsg: 'canvasToTempFilePath:fail canvas is empty' })
    if (how === 'fail') return finish(opts, false, { errMsg: 'canvasToTempFilePath:fail create bitmap failed' })
    const bytes = how === 'gif' ? images.gif() : encodeCanvas(opts.fileType === 'jpg' ? 'jpg' : 'png', width, height)
    const out = tempPath(how === 'gif' ? '.gif' : opts.fileType === 'jpg' ? '.jpg' : '.png')
    fs.writeFileSync(out, bytes)
    finish(opts, true, { tempFilePath: out, errMsg: 'canvasToTempFilePath:ok' })
  }
}

// versionAtLeast compares base library versions such as 2.9.4 and 2.10.0.
function versionAtLeast (version, min) {
  const a = version.split('.').map(Number)
  const b = min.split('.').map(Number)
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) > (b[i] || 0)
  }
  return true
}

// readFile's documented encodings; node's Buffer knows them all by these names.
const ENCODINGS = ['ascii', 'base64', 'binary', 'hex', 'ucs2', 'ucs-2', 'utf16le', 'utf-16le', 'utf-8', 'utf8', 'latin1']

// Failures as documented for FileSystemManager: errMsg "<api>:fail <message>"
// and errno from the documentation's error table.
const ENOENT = { errno: 1300002, message: 'no such file or directory' }
const EISDIR = { errno: 1300021, message: 'Is a directory' }
const EINVAL = { errno: 1300022, message: 'Invalid argument' }

function fsFail (opts, api, e, detail) {
  finish(opts, false, { errMsg: api + ':fail ' + e.message + (detail || ''), errno: e.errno })
}

// The runtime checks parameter types before anything else, with messages
// like this one.
function paramError (opts, api, name, want, value) {
  const got = value === undefined ? 'Undefined' : value === null ? 'Null'
    : typeof value === 'string' ? 'String' : typeof value === 'number' ? 'Number' : 'Object'
  finish(opts, false, { errMsg: api + ':fail parameter error: parameter.' + name + ' should be ' + want + ' instead of ' + got + ';' })
}

function statsOf (st) {
  return {
    mode: st.mode,
    size: st.size,
    lastAccessedTime: Math.floor(st.atimeMs / 1000),
    lastModifiedTime: Math.floor(st.mtimeMs / 1000),
    isDirectory: () => st.isDirectory(),
    isFile: () => st.isFile()
  }
}

// fileSystemManager implements what the client uses of FileSystemManager,
// as documented (developers.weixin.qq.com/miniprogram/dev/api/file/):
//   readFile({filePath, encoding?, position?, length?})  data: ArrayBuffer,
//     or a string in the encoding; position and length (base library
//     2.10.0) read [position, position+length), position within
//     [0, fileLength-1], length within [1, fileLength]. A range that runs
//     past the end is refused too, the strict reading of that interval.
//   getFileInfo({filePath, digestAlgorithm?})  {size, digest}, md5 by
//     default, for local temporary and cache files
//   stat({path})  {stats}: a Stats (the client never asks for recursive)
function fileSystemManager (calls, positional) {
  return {
    readFile (opts) {
      const api = 'readFile'
      if (typeof opts.filePath !== 'string') return paramError(opts, api, 'filePath', 'String', opts.filePath)
      if (opts.encoding !== undefined && !ENCODINGS.includes(opts.encoding)) {
        return finish(opts, false, { errMsg: api + ':fail invalid encoding: ' + opts.encoding })
      }
      // An older base library knows nothing of position and length.
      const position = positional ? opts.position : undefined
      const length = positional ? opts.length : undefined
      for (const [name, v] of [['position', position], ['length', length]]) {
        if (v !== undefined && typeof v !== 'number') return paramError(opts, api, name, 'Number', v)
      }
      // Recorded: the range asked for, and the bytes handed over.
      const call = { api, path: opts.filePath, position: opts.position, length: opts.length, bytes: 0 }
      readRange(opts.filePath, position, length).then((buf) => {
        calls.push(Object.assign(call, { bytes: buf.length }))
        const data = opts.encoding ? buf.toString(opts.encoding) : toArrayBuffer(buf)
        finish(opts, true, { data, errMsg: api + ':ok' })
      }, (e) => {
        calls.push(call)
        fsFail(opts, api, e.wx || ENOENT, e.wx ? '' : ', open ' + opts.filePath)
      })
    },

    getFileInfo (opts) {
      const api = 'getFileInfo'
      if (typeof opts.filePath !== 'string') return paramError(opts, api, 'filePath', 'String', opts.filePath)
      const algorithm = opts.digestAlgorithm || 'md5'
      if (!['md5', 'sha1', 'sha256'].includes(algorithm)) {
        return finish(opts, false, { errMsg: api + ':fail invalid digestAlgorithm: ' + algorithm })
      }
      calls.push({ api, path: opts.filePath, bytes: 0 })
      fs.stat(opts.filePath, (err, st) => {
        if (err) return fsFail(opts, api, ENOENT, ' ' + opts.filePath)
        if (st.isDirectory()) return fsFail(opts, api, EISDIR, ' ' + opts.filePath)
        // The digest is computed natively: nothing reaches the page's memory.
        const hash = crypto.createHash(algorithm)
        fs.createReadStream(opts.filePath).on('data', (c) => hash.update(c)).on('error', () => {
          fsFail(opts, api, ENOENT, ' ' + opts.filePath)
        }).on('end', () => {
          finish(opts, true, { size: st.size, digest: hash.digest('hex'), errMsg: api + ':ok' })
        })
      })
    },

    // writeFile({filePath, data, encoding}): data a string in the encoding
    // (utf8 by default) or an ArrayBuffer.
    writeFile (opts) {
      const api = 'writeFile'
      if (typeof opts.filePath !== 'string') return paramError(opts, api, 'filePath', 'String', opts.filePath)
      if (opts.encoding !== undefined && !ENCODINGS.includes(opts.encoding)) {
        return finish(opts, false, { errMsg: api + ':fail invalid encoding: ' + opts.encoding })
      }
      const data = opts.data instanceof ArrayBuffer ? Buffer.from(opts.data) : Buffer.from(String(opts.data), opts.encoding || 'utf8')
      calls.push({ api, path: opts.filePath, bytes: 0, written: data.length })
      fs.writeFile(opts.filePath, data, (err) => {
        if (err) return fsFail(opts, api, ENOENT, ', open ' + opts.filePath)
        finish(opts, true, { errMsg: api + ':ok' })
      })
    },

    unlink (opts) {
      const api = 'unlink'
      if (typeof opts.filePath !== 'string') return paramError(opts, api, 'filePath', 'String', opts.filePath)
      calls.push({ api, path: opts.filePath, bytes: 0 })
      fs.unlink(opts.filePath, (err) => {
        if (err) return fsFail(opts, api, ENOENT, ' ' + opts.filePath)
        finish(opts, true, { errMsg: api + ':ok' })
      })
    },

    stat (opts) {
      const api = 'stat'
      if (typeof opts.path !== 'string') return paramError(opts, api, 'path', 'String', opts.path)
      calls.push({ api, path: opts.path, bytes: 0 })
      fs.stat(opts.path, (err, st) => {
        if (err) return fsFail(opts, api, ENOENT, ' ' + opts.path)
        finish(opts, true, { stats: statsOf(st), errMsg: api + ':ok' })
      })
    }
  }
}

// readRange reads [position, position+length) of the file, only those
// bytes; the whole file when neither is given. A documented range error
// rejects with e.wx set.
async function readRange (filePath, position, length) {
  const fh = await fs.promises.open(filePath, 'r')
  try {
    const st = await fh.stat()
    if (st.isDirectory()) throw Object.assign(new Error('directory'), { wx: EISDIR })
    const size = st.size
    const start = position === undefined ? 0 : position
    const count = length === undefined ? size - start : length
    const bad = (position !== undefined && !(Number.isInteger(position) && position >= 0 && position <= size - 1)) ||
      (length !== undefined && !(Number.isInteger(length) && length >= 1 && length <= size)) ||
      start + count > size
    if (bad) throw Object.assign(new Error('range'), { wx: EINVAL })
    const buf = Buffer.alloc(count)
    let got = 0
    while (got < count) {
      const { bytesRead } = await fh.read(buf, got, count - got, start + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    return buf.subarray(0, got)
  } finally {
    await fh.close()
  }
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

module.exports = { createFakeWx }
