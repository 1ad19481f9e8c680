'use strict'

// wxavatar client for WeChat mini programs.
//
// It logs in with wx.login, keeps the session token in the storage it is
// given, and uploads an avatar the way the service wants: signature from
// wxavatar, bytes straight to the object storage the service uses (Tencent
// COS, Aliyun OSS or an S3-compatible store), then confirm. It depends on
// nothing but the wx object it is handed (the global one by default), so
// pages, components and tests can all use it. What the service signs (form
// fields, PUT headers) differs per store; the client sends it exactly as
// given and never reads it.
//
// Written for the mini program runtime: CommonJS and ES2017 at most (no
// optional chaining, no ??, no Promise.prototype.finally).

const TOKEN_STORAGE_KEY = 'wxavatar_token'

// confirm answers 409 upload_missing while storage has not made the object
// visible yet; these waits (about 3.75 s in all) cover a slow upload without
// leaving the user staring at a spinner for long.
const CONFIRM_RETRY_DELAYS_MS = [250, 500, 1000, 1000, 1000]

// The contract lets confirm take up to 10 s; API calls get a little more.
const API_TIMEOUT_MS = 15000
// An avatar of a few MiB over a slow mobile network.
const UPLOAD_TIMEOUT_MS = 60000

// A POST form upload is answered with its success_action_status field's
// status: 204 by default, 200 or 201 when the form asks for them, alike on
// COS (PostObject), OSS (help.aliyun.com/document_detail/31988.html) and S3
// (docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html). The form is
// the service's, so whichever it asked for is accepted.
const POST_OK_STATUS = [200, 201, 204]

// How much of the file the type sniffing reads: every signature
// sniffImageType knows fits (WebP's and ISO-BMFF's ftyp brand end at byte 12).
const SNIFF_BYTES = 16

// What the service can decode (pure-Go decoders): the only types uploaded.
const UPLOADABLE_TYPES = ['image/jpeg', 'image/png', 'image/webp']

// ISO-BMFF major brands (bytes 8–12, after "ftyp" at 4–8) of the images
// phones save that the service cannot read: HEIC/HEIF (iPhone photos, many
// Android cameras) and AVIF. The client converts these before uploading.
const FTYP_BRANDS = {
  heic: 'image/heic',
  heix: 'image/heic',
  hevc: 'image/heic',
  heim: 'image/heic',
  heis: 'image/heic',
  mif1: 'image/heif',
  msf1: 'image/heif',
  avif: 'image/avif',
  avis: 'image/avif'
}

// A converted image need not be larger than an avatar is ever shown: a
// longest side of 1024 px bounds the canvas's memory (a 12 MP photo would
// take about 48 MB as RGBA) and keeps the JPEG small.
const CONVERT_MAX_SIDE = 1024
const CONVERT_JPEG_QUALITY = 0.9
// Decoding a photo natively takes well under a second; a load that never
// calls back must not leave the upload hanging.
const CONVERT_TIMEOUT_MS = 15000

// confirm answers 503 busy (with Retry-After, in seconds) when the service
// is decoding too many images at once; nothing was recorded and the same
// confirm can be sent again. At most this many retries, each waiting
// Retry-After capped at BUSY_MAX_WAIT_S (1 s when the header is missing).
const BUSY_RETRIES = 3
const BUSY_MAX_WAIT_S = 10

// PUT /v1/me, not PATCH: wx.request documents only OPTIONS, GET, HEAD, POST,
// PUT, DELETE, TRACE and CONNECT, and clients have been seen refusing PATCH
// ("request:fail method is invalid"). The service answers both the same way.
const NICKNAME_METHOD = 'PUT'

// WxAvatarError is every failure the client reports. code is the API's error
// code (invalid_nickname, upload_rejected, busy, …) or one of the client's
// own: network_error, login_failed, read_file_failed, unsupported_type
// (detected before asking for a signature), conversion_failed (a HEIC/HEIF or
// AVIF file the runtime could not turn into a JPEG), upload_failed (the
// object storage refused the bytes: status is its HTTP status, storageCode
// the <Code> of its XML error), bad_response and http_error (an answer not
// shaped like the contract's). details holds the rest of the API's error
// object, e.g. details.reason of upload_rejected (not_an_image,
// too_many_pixels, too_small, unsupported_format, too_large,
// wrong_content_type, storage_class, unreadable), or, for conversion_failed, {from,
// errMsg}.
class WxAvatarError extends Error {
  constructor (code, message, details) {
    super(message)
    // Runtimes that compile classes down to ES5 lose the prototype of a
    // subclassed Error; restoring it keeps instanceof working there too.
    Object.setPrototypeOf(this, WxAvatarError.prototype)
    const d = details || {}
    this.name = 'WxAvatarError'
    this.code = code
    this.status = d.status || 0 // HTTP status; 0 when no answer came
    this.requestId = d.requestId || '' // wxavatar's X-Request-Id, for support
    this.retryAfter = d.retryAfter || 0 // seconds, from Retry-After on 429 and 503
    // The storage's error Code when it refused an upload (SignatureDoesNotMatch,
    // AccessDenied, EntityTooLarge, …). cosCode is the same value under the
    // name it had when COS was the only store, kept for callers that read it.
    this.storageCode = d.storageCode || d.cosCode || ''
    this.cosCode = this.storageCode
    this.details = d.details || {}
  }
}

// sniffImageType names the image type of the first bytes of a file, or ''.
// chooseAvatar's temporary path says nothing reliable about the format, so
// the bytes decide which content type to ask a signature for; the server
// checks the stored bytes again and is the judge. Besides the types the
// service takes (UPLOADABLE_TYPES) it names image/heic, image/heif and
// image/avif, which the client converts first.
function sniffImageType (bytes) {
  const b = bytes
  if (b.length >= 3 && b[0] === 0xFF && b[1] === 0xD8 && b[2] === 0xFF) {
    return 'image/jpeg'
  }
  const png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
  if (b.length >= png.length && png.every(function (v, i) { return b[i] === v })) {
    return 'image/png'
  }
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') {
    return 'image/webp'
  }
  if (b.length >= 12 && ascii(b, 4, 8) === 'ftyp') {
    const brand = ascii(b, 8, 12)
    if (Object.prototype.hasOwnProperty.call(FTYP_BRANDS, brand)) return FTYP_BRANDS[brand]
  }
  return ''
}

// withDefaults gives a user object the fields a service from before them
// did not send: avatar_thumb_url (null: no avatar, or no thumbnails), so
// that pages can always fall back from it to avatar_url; and avatar_review
// (null: nothing to tell of the avatar's content check). Everything else,
// avatar_review's value included, is passed on as the service gave it.
function withDefaults (user) {
  if (user && typeof user === 'object') {
    if (user.avatar_thumb_url === undefined) user.avatar_thumb_url = null
    if (user.avatar_review === undefined) user.avatar_review = null
  }
  return user
}

function ascii (b, from, to) {
  let s = ''
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i])
  return s
}

function memoryStorage () {
  const m = {}
  return {
    get: function (k) { return Object.prototype.hasOwnProperty.call(m, k) ? m[k] : '' },
    set: function (k, v) { m[k] = v },
    remove: function (k) { delete m[k] }
  }
}

function sleep (ms) {
  return new Promise(function (resolve) { setTimeout(resolve, ms) })
}

// withTimeout rejects with {errMsg: '<what>: timeout'} when the promise has
// not settled within CONVERT_TIMEOUT_MS.
function withTimeout (promise, what) {
  return new Promise(function (resolve, reject) {
    const timer = setTimeout(function () { reject({ errMsg: what + ': timeout' }) }, CONVERT_TIMEOUT_MS)
    promise.then(function (v) { clearTimeout(timer); resolve(v) },
      function (e) { clearTimeout(timer); reject(e) })
  })
}

function headerValue (header, name) {
  if (!header) return ''
  const want = name.toLowerCase()
  const keys = Object.keys(header)
  for (let i = 0; i < keys.length; i++) {
    if (keys[i].toLowerCase() === want) return String(header[keys[i]])
  }
  return ''
}

// apiError turns a non-2xx answer of wxavatar into a WxAvatarError carrying
// the contract's error code.
function apiError (res) {
  let body = res.data
  if (typeof body === 'string') {
    try { body = JSON.parse(body) } catch (e) { body = null }
  }
  const err = body && typeof body === 'object' && body.error
  const details = {
    status: res.statusCode,
    requestId: headerValue(res.header, 'X-Request-Id') || (body && body.request_id) || '',
    retryAfter: parseInt(headerValue(res.header, 'Retry-After'), 10) || 0
  }
  if (err && typeof err.code === 'string') {
    // Whatever else the error object carries (reason, …) is kept.
    const extra = {}
    Object.keys(err).forEach(function (k) {
      if (k !== 'code' && k !== 'message') extra[k] = err[k]
    })
    details.details = extra
    return new WxAvatarError(err.code, err.message || err.code, details)
  }
  // A proxy or gateway answered instead of wxavatar.
  return new WxAvatarError('http_error', 'HTTP ' + res.statusCode, details)
}

// storageCode reads <Code> from a storage's XML error document: COS, OSS and
// S3 all answer a refused request with <Error><Code>…</Code>…</Error>.
function storageCode (data) {
  const m = /<Code>([^<]*)<\/Code>/.exec(typeof data === 'string' ? data : '')
  return m ? m[1] : ''
}

// createClient makes a client for one wxavatar service.
//   baseURL  the service, e.g. https://api.example.com (no trailing path)
//   storage  {get(key), set(key, value), remove(key)}, sync or async; where
//            the session token lives (memory when omitted)
//   wx       the mini program API object; the global wx by default
function createClient (options) {
  const opts = options || {}
  if (typeof opts.baseURL !== 'string' || !/^https?:\/\//.test(opts.baseURL)) {
    throw new TypeError('wxavatar: baseURL must be an http(s) URL')
  }
  const baseURL = opts.baseURL.replace(/\/+$/, '')
  const storage = opts.storage || memoryStorage()
  /* global wx */
  const wxapi = opts.wx || (typeof wx !== 'undefined' ? wx : null)
  if (!wxapi) throw new TypeError('wxavatar: no wx object')

  // One login at a time: parallel calls that all find no token, or all get
  // 401 with the same stale token, share it instead of spending several
  // wx.login codes.
  let loggingIn = null

  function send (method, path, body, token) {
    return new Promise(function (resolve, reject) {
      const header = { 'Content-Type': 'application/json' }
      if (token) header.Authorization = 'Bearer ' + token
      const req = {
        url: baseURL + path,
        method: method,
        header: header,
        dataType: 'json',
        timeout: API_TIMEOUT_MS,
        success: resolve,
        fail: function (e) {
          reject(new WxAvatarError('network_error', (e && e.errMsg) || 'request failed'))
        }
      }
      if (body !== undefined) req.data = body
      wxapi.request(req)
    })
  }

  function result (res) {
    if (res.statusCode >= 200 && res.statusCode < 300) {
      if (!res.data || typeof res.data !== 'object') {
        throw new WxAvatarError('bad_response', 'the answer is not JSON', { status: res.statusCode })
      }
      return res.data
    }
    throw apiError(res)
  }

  function wxLogin () {
    return new Promise(function (resolve, reject) {
      wxapi.login({
        success: function (r) {
          if (r && r.code) resolve(r.code)
          else reject(new WxAvatarError('login_failed', 'wx.login gave no code'))
        },
        fail: function (e) {
          reject(new WxAvatarError('login_failed', (e && e.errMsg) || 'wx.login failed'))
        }
      })
    })
  }

  async function startSession () {
    const code = await wxLogin()
    const session = result(await send('POST', '/v1/session', { code: code }, ''))
    await storage.set(TOKEN_STORAGE_KEY, session.token)
    return session
  }

  function sharedLogin () {
    if (!loggingIn) {
      loggingIn = startSession().then(function (s) {
        loggingIn = null
        return s
      }, function (e) {
        loggingIn = null
        throw e
      })
    }
    return loggingIn
  }

  // tokenAfter returns a token other than stale: one another call already
  // got, or a new login's.
  async function tokenAfter (stale) {
    const current = await storage.get(TOKEN_STORAGE_KEY)
    if (current && current !== stale) return current
    return (await sharedLogin()).token
  }

  // authed calls a route that needs the session token. A missing token means
  // logging in first; a 401 (expired, or signed with a retired key) means
  // logging in again silently and retrying once.
  async function authed (method, path, body) {
    return result(await authedAnswer(method, path, body))
  }

  // authedAnswer is authed's answer before it is read.
  async function authedAnswer (method, path, body) {
    let token = await storage.get(TOKEN_STORAGE_KEY)
    if (!token) token = await tokenAfter('')
    let res = await send(method, path, body, token)
    if (res.statusCode === 401) {
      if ((await storage.get(TOKEN_STORAGE_KEY)) === token) await storage.remove(TOKEN_STORAGE_KEY)
      token = await tokenAfter(token)
      res = await send(method, path, body, token)
    }
    return res
  }

  function readFailed (e, filePath) {
    return new WxAvatarError('read_file_failed', (e && e.errMsg) || 'cannot read ' + filePath)
  }

  // readFile reads the file into an ArrayBuffer (no encoding given), or
  // only [position, position+length) of it. readFile's position and length
  // came with base library 2.10.0; older ones do not know them and read the
  // whole file, which still works, only with more memory, since callers
  // look at the first bytes of whatever comes back. chooseAvatar itself
  // needs 2.21.2, so its temporary files always get the short read.
  function readFile (filePath, position, length) {
    return new Promise(function (resolve, reject) {
      const req = {
        filePath: filePath,
        success: function (r) { resolve(r.data) },
        fail: function (e) { reject(readFailed(e, filePath)) }
      }
      if (length !== undefined) {
        req.position = position
        req.length = length
      }
      wxapi.getFileSystemManager().readFile(req)
    })
  }

  // fileSize asks the runtime for the file's size without reading the file
  // into the mini program's memory. FileSystemManager.getFileInfo is
  // documented for exactly these files, the local temporary ones
  // (wxfile://… on phones, http://tmp/… in DevTools); it also hashes the
  // file (md5 by default), natively. Plugins have no getFileInfo, so there,
  // or when it fails, FileSystemManager.stat's Stats.size is asked.
  function fileSize (filePath) {
    const fsm = wxapi.getFileSystemManager()
    function sizeOf (r) {
      return r && typeof r.size === 'number' ? r.size : -1
    }
    function viaStat (earlier) {
      return new Promise(function (resolve, reject) {
        if (typeof fsm.stat !== 'function') return reject(readFailed(earlier, filePath))
        fsm.stat({
          path: filePath,
          success: function (r) {
            const size = sizeOf(r && r.stats)
            if (size >= 0) resolve(size)
            else reject(readFailed({ errMsg: 'stat gave no size for ' + filePath }, filePath))
          },
          fail: function (e) { reject(readFailed(e, filePath)) }
        })
      })
    }
    if (typeof fsm.getFileInfo !== 'function') return viaStat(null)
    return new Promise(function (resolve, reject) {
      fsm.getFileInfo({
        filePath: filePath,
        success: function (r) {
          const size = sizeOf(r)
          if (size >= 0) resolve(size)
          else reject({ errMsg: 'getFileInfo gave no size for ' + filePath })
        },
        fail: reject
      })
    }).catch(viaStat)
  }

  // storageRefused is the error for a store's non-2xx answer to an upload.
  // The message names the store's status and code, never the signed URL or
  // form, which hold credentials.
  function storageRefused (res) {
    const code = storageCode(res.data)
    return new WxAvatarError('upload_failed', 'storage answered ' + res.statusCode + (code ? ' ' + code : ''),
      { status: res.statusCode, storageCode: code })
  }

  function postToStorage (post, filePath, onProgress) {
    return new Promise(function (resolve, reject) {
      const task = wxapi.uploadFile({
        url: post.url,
        filePath: filePath,
        name: post.file_field,
        formData: post.form,
        timeout: UPLOAD_TIMEOUT_MS,
        success: function (res) {
          if (POST_OK_STATUS.indexOf(res.statusCode) >= 0) return resolve()
          reject(storageRefused(res))
        },
        fail: function (e) {
          reject(new WxAvatarError('network_error', (e && e.errMsg) || 'upload failed'))
        }
      })
      if (task && typeof task.onProgressUpdate === 'function') {
        task.onProgressUpdate(function (ev) { onProgress(ev.progress, ev) })
      }
    })
  }

  function putToStorage (put, data) {
    return new Promise(function (resolve, reject) {
      wxapi.request({
        url: put.url,
        method: 'PUT',
        // Exactly the headers the URL was signed with, whatever the store
        // (x-cos-*, x-oss-*, x-amz-*): each refuses a PUT whose signed
        // headers differ, Content-Type and Content-Length included (the
        // runtime sends the data's own length, which is the size declared
        // when signing).
        header: put.headers,
        data: data,
        dataType: 'text',
        timeout: UPLOAD_TIMEOUT_MS,
        success: function (res) {
          if (res.statusCode === 200) return resolve()
          reject(storageRefused(res))
        },
        fail: function (e) {
          reject(new WxAvatarError('network_error', (e && e.errMsg) || 'upload failed'))
        }
      })
    })
  }

  // sniffFile reads the first bytes of the file (size bytes long) and names
  // their type, '' for none the client knows.
  async function sniffFile (filePath, size) {
    // An empty file leaves readFile no valid range (position within
    // [0, size-1], length within [1, size]): nothing to read.
    const head = size > 0 ? await readFile(filePath, 0, Math.min(SNIFF_BYTES, size)) : new ArrayBuffer(0)
    return sniffImageType(new Uint8Array(head, 0, Math.min(SNIFF_BYTES, head.byteLength)))
  }

  // convertToJPEG turns a HEIC/HEIF or AVIF file, which the service cannot
  // decode, into a JPEG the runtime writes, and resolves with its path.
  //
  // How, and why (WeChat's documentation, developers.weixin.qq.com/miniprogram/dev/api/):
  //  - wx.compressImage is not it: its page says iOS only compresses JPG
  //    (media/image/wx.compressImage), and it documents no output format.
  //  - wx.getImageInfo decodes the file natively and gives width and height
  //    (its type field lists only unknown, jpeg, png, gif and tiff): used
  //    here to size the canvas, and as the early "the system cannot read
  //    this" signal (media/image/wx.getImageInfo).
  //  - The path: a 2D OffscreenCanvas (wx.createOffscreenCanvas({type: '2d',
  //    width, height}), base library 2.16.1; chooseAvatar needs 2.21.2),
  //    its own createImage() loading the file, drawImage, then
  //    wx.canvasToTempFilePath({canvas, fileType: 'jpg', quality}), whose
  //    canvas parameter takes a type="2d" canvas (canvas/wx.createOffscreenCanvas,
  //    canvas/wx.canvasToTempFilePath). Anything the system's decoder reads
  //    can be drawn and re-exported as JPG or PNG; HEIC from the iPhone's
  //    album included (kejiweixun.com/note/202406202230 tested this per format).
  //  - The fallback: an older page of wx.canvasToTempFilePath said offscreen
  //    canvases were "not supported yet", and iOS has been reported to fail
  //    exporting them (blog.csdn.net/asd53564967/article/details/129554503,
  //    whose workaround this is): canvas.toDataURL('image/jpeg', quality),
  //    written with FileSystemManager.writeFile (base64) under
  //    wx.env.USER_DATA_PATH.
  // Whatever comes out is sniffed again by the caller: only a JPEG or PNG is
  // uploaded. Every failure is conversion_failed with details.from.
  async function convertToJPEG (filePath, fromType) {
    function failed (e, what) {
      if (e instanceof WxAvatarError) return e
      const errMsg = (e && (e.errMsg || e.message)) || String(e)
      return new WxAvatarError('conversion_failed', 'cannot convert the ' + fromType + ' image to JPEG: ' +
        what + ': ' + errMsg, { details: { from: fromType, errMsg: errMsg } })
    }
    if (typeof wxapi.createOffscreenCanvas !== 'function' || typeof wxapi.getImageInfo !== 'function') {
      throw failed({ errMsg: 'no wx.createOffscreenCanvas or wx.getImageInfo' }, 'runtime')
    }
    const info = await withTimeout(new Promise(function (resolve, reject) {
      wxapi.getImageInfo({ src: filePath, success: resolve, fail: reject })
    }), 'getImageInfo').catch(function (e) { throw failed(e, 'getImageInfo') })
    if (!(info.width > 0 && info.height > 0)) throw failed({ errMsg: 'no size' }, 'getImageInfo')
    const scale = Math.min(1, CONVERT_MAX_SIDE / Math.max(info.width, info.height))
    const width = Math.max(1, Math.round(info.width * scale))
    const height = Math.max(1, Math.round(info.height * scale))

    let canvas
    try {
      canvas = wxapi.createOffscreenCanvas({ type: '2d', width: width, height: height })
      const ctx = canvas.getContext('2d')
      const image = canvas.createImage()
      await withTimeout(new Promise(function (resolve, reject) {
        image.onload = resolve
        image.onerror = function (e) { reject(e || { errMsg: 'image failed to load' }) }
        image.src = filePath
      }), 'image load')
      // JPEG has no alpha: white under any transparency.
      ctx.fillStyle = '#ffffff'
      ctx.fillRect(0, 0, width, height)
      ctx.drawImage(image, 0, 0, width, height)
    } catch (e) {
      throw failed(e, 'drawing')
    }

    try {
      return await withTimeout(new Promise(function (resolve, reject) {
        wxapi.canvasToTempFilePath({
          canvas: canvas,
          x: 0,
          y: 0,
          width: width,
          height: height,
          destWidth: width,
          destHeight: height,
          fileType: 'jpg',
          quality: CONVERT_JPEG_QUALITY,
          success: function (r) {
            if (r && r.tempFilePath) resolve(r.tempFilePath)
            else reject({ errMsg: 'canvasToTempFilePath gave no path' })
          },
          fail: reject
        })
      }), 'canvasToTempFilePath')
    } catch (first) {
      try {
        return await dataURLToFile(canvas)
      } catch (e) {
        throw failed({ errMsg: ((first && first.errMsg) || first) + '; then ' + ((e && (e.errMsg || e.message)) || e) }, 'export')
      }
    }
  }

  let converted = 0

  // dataURLToFile writes the canvas as a JPEG file of the mini program's own
  // (wx.env.USER_DATA_PATH) and resolves with its path; uploadAvatar removes
  // it when done.
  function dataURLToFile (canvas) {
    return new Promise(function (resolve, reject) {
      if (typeof canvas.toDataURL !== 'function') return reject({ errMsg: 'no canvas.toDataURL' })
      const dir = wxapi.env && wxapi.env.USER_DATA_PATH
      if (!dir) return reject({ errMsg: 'no wx.env.USER_DATA_PATH' })
      const url = String(canvas.toDataURL('image/jpeg', CONVERT_JPEG_QUALITY))
      const m = /^data:([^;,]*);base64,(.*)$/.exec(url)
      if (!m) return reject({ errMsg: 'toDataURL gave no base64 data URL' })
      const path = dir + '/wxavatar-converted-' + Date.now() + '-' + (++converted) + '.jpg'
      wxapi.getFileSystemManager().writeFile({
        filePath: path,
        data: m[2],
        encoding: 'base64',
        success: function () { resolve(path) },
        fail: reject
      })
    })
  }

  function removeOwnFile (path) {
    const dir = wxapi.env && wxapi.env.USER_DATA_PATH
    const fsm = wxapi.getFileSystemManager()
    if (!dir || path.indexOf(dir + '/') !== 0 || typeof fsm.unlink !== 'function') return
    fsm.unlink({ filePath: path, fail: function () {} })
  }

  // confirm retries two answers, each a bounded number of times: 409
  // upload_missing (storage not showing the object yet) and 503 busy (the
  // service decoding too many images; Retry-After says when to come back).
  async function confirm (uploadID) {
    const path = '/v1/avatar/uploads/' + encodeURIComponent(uploadID) + '/confirm'
    let missing = 0
    let busy = 0
    for (;;) {
      try {
        const answer = await authed('POST', path)
        withDefaults(answer.user)
        return answer
      } catch (err) {
        if (err.code === 'upload_missing' && missing < CONFIRM_RETRY_DELAYS_MS.length) {
          await sleep(CONFIRM_RETRY_DELAYS_MS[missing++])
        } else if (err.code === 'busy' && err.status === 503 && busy < BUSY_RETRIES) {
          busy++
          await sleep(Math.min(err.retryAfter || 1, BUSY_MAX_WAIT_S) * 1000)
        } else {
          throw err
        }
      }
    }
  }

  // sendAvatar asks for a signature for the file (already sized and typed),
  // sends the bytes to storage and confirms. The size is always declared:
  // the service signs a PUT only for a declared size, and a store that takes
  // no POST uploads (Cloudflare R2) has only the PUT, so without size the
  // service would answer 400 invalid_request, reason size_required.
  async function sendAvatar (filePath, size, contentType, method, onProgress) {
    const res = await authedAnswer('POST', '/v1/avatar/uploads', { content_type: contentType, size: size })
    const upload = result(res).upload
    if (!upload || typeof upload !== 'object' || (!upload.post && !upload.put)) {
      throw new WxAvatarError('bad_response', 'the signature answer has neither post nor put', { status: res.statusCode })
    }
    onProgress(0)
    // method is a preference: an answer with only put (a store without POST
    // uploads) is sent by PUT even when the caller asked for POST. An answer
    // with only post leaves a caller who asked for PUT no URL to PUT to.
    if (method === 'put' || !upload.post) {
      if (!upload.put) {
        throw new WxAvatarError('upload_failed', 'the server signed no PUT URL for this upload')
      }
      const data = await readFile(filePath)
      // The URL signs the size declared as Content-Length.
      if (data.byteLength !== size) {
        throw new WxAvatarError('read_file_failed', 'the file changed while being uploaded: ' +
          size + ' bytes, then ' + data.byteLength)
      }
      await putToStorage(upload.put, data)
    } else {
      await postToStorage(upload.post, filePath, onProgress)
    }
    onProgress(100)
    return confirm(upload.id)
  }

  return {
    // login logs in now (wx.login, then POST /v1/session) and resolves with
    // the user. Other calls log in by themselves when needed.
    login: async function () {
      return withDefaults((await sharedLogin()).user)
    },

    // me resolves with the user's profile. Every user the client resolves
    // with has avatar_url and avatar_thumb_url (each a URL, or null) and
    // avatar_review: null, or {status: 'pending' | 'rejected', upload_id,
    // reason} (reason, when rejected: risky, review or unchecked), what
    // WeChat's content check says of the latest avatar. A pending avatar
    // gets its verdict later: ask me again to see it.
    me: async function () {
      return withDefaults((await authed('GET', '/v1/me')).user)
    },

    // deleteAccount erases the user on the service (DELETE /v1/me): the
    // profile, every avatar and upload. The stored token is forgotten; a
    // later call logs in as a new user. An expired token logs in again
    // first, which finds the same user (or, if already erased, a new empty
    // one, erased in turn): either way no user is left.
    deleteAccount: async function () {
      const res = await authedAnswer('DELETE', '/v1/me')
      if (res.statusCode !== 204) throw apiError(res)
      await storage.remove(TOKEN_STORAGE_KEY)
    },

    // setNickname saves the nickname as typed; the service trims and checks
    // it (invalid_nickname) and resolves with the updated user.
    setNickname: async function (nickname) {
      return withDefaults((await authed(NICKNAME_METHOD, '/v1/me', { nickname: nickname })).user)
    },

    // uploadAvatar uploads the file at tempFilePath (chooseAvatar's
    // e.detail.avatarUrl) and makes it the avatar. It resolves with
    // {user, upload}; user.avatar_url is the permanent URL (upload.url) and
    // user.avatar_thumb_url its small square thumbnail (null from a service
    // without thumbnails). user.avatar_review is often pending: WeChat
    // checks the avatar after confirm, and a service that shows only
    // checked avatars (AVATAR_REVIEW=before) keeps the previous avatar_url
    // until it passes (upload.url is the new avatar's). A HEIC/HEIF or AVIF
    // file is converted to JPEG on the phone first (conversion_failed when
    // that cannot be done); JPEG, PNG and WebP go as they are.
    //   onProgress(percent, event)  0–100 while the bytes go to storage
    //   method                      'post' (wx.uploadFile with the signed
    //                               form, default) or 'put' (wx.request with
    //                               the presigned URL; no progress between 0
    //                               and 100). A preference: when the service
    //                               signs only a PUT (its store takes no POST
    //                               uploads, e.g. Cloudflare R2), the file
    //                               goes by PUT whatever was asked; asking
    //                               'put' of a service that signs only a POST
    //                               is upload_failed, before any byte goes
    //                               to storage
    uploadAvatar: async function (tempFilePath, options) {
      const o = options || {}
      const onProgress = typeof o.onProgress === 'function' ? o.onProgress : function () {}
      const method = o.method || 'post'
      if (method !== 'post' && method !== 'put') {
        throw new TypeError("wxavatar: method must be 'post' or 'put'")
      }
      // The size and the first bytes are all a signature needs: the POST
      // form's upload is wx.uploadFile's job, which reads the file itself.
      // Only the PUT sends bytes from here, so only it reads the whole file
      // (up to the service's limit, 5 MiB by default), once signed.
      let size = await fileSize(tempFilePath)
      let contentType = await sniffFile(tempFilePath, size)
      if (!contentType) {
        throw new WxAvatarError('unsupported_type', 'the file is not a JPEG, PNG, WebP, HEIC/HEIF or AVIF image')
      }
      if (UPLOADABLE_TYPES.indexOf(contentType) >= 0) {
        return sendAvatar(tempFilePath, size, contentType, method, onProgress)
      }
      // HEIC/HEIF or AVIF: the service cannot decode it, the phone can.
      const from = contentType
      const converted = await convertToJPEG(tempFilePath, from)
      try {
        size = await fileSize(converted)
        contentType = await sniffFile(converted, size)
        if (contentType !== 'image/jpeg' && contentType !== 'image/png') {
          const got = contentType || 'no known image type'
          throw new WxAvatarError('conversion_failed', 'converting the ' + from + ' image gave ' + got,
            { details: { from: from, errMsg: 'the converted file is ' + got } })
        }
        return await sendAvatar(converted, size, contentType, method, onProgress)
      } finally {
        removeOwnFile(converted)
      }
    }
  }
}

module.exports = {
  createClient: createClient,
  WxAvatarError: WxAvatarError,
  sniffImageType: sniffImageType,
  TOKEN_STORAGE_KEY: TOKEN_STORAGE_KEY,
  CONFIRM_RETRY_DELAYS_MS: CONFIRM_RETRY_DELAYS_MS,
  BUSY_RETRIES: BUSY_RETRIES,
  BUSY_MAX_WAIT_S: BUSY_MAX_WAIT_S,
  CONVERT_MAX_SIDE: CONVERT_MAX_SIDE
}
