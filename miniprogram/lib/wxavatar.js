'use strict'

// wxavatar client for WeChat mini programs.
//
// It logs in with wx.login, keeps the session token in the storage it is
// given, and uploads an avatar the way the service wants: signature from
// wxavatar, bytes straight to COS, then confirm. It depends on nothing but the
// wx object it is handed (the global one by default), so pages, components
// and tests can all use it.
//
// Written for the mini program runtime: CommonJS and ES2017 at most (no
// optional chaining, no ??, no Promise.prototype.finally).

const TOKEN_STORAGE_KEY = 'wxavatar_token'

// confirm answers 409 upload_missing while COS has not made the object
// visible yet; these waits (about 3.75 s in all) cover a slow upload without
// leaving the user staring at a spinner for long.
const CONFIRM_RETRY_DELAYS_MS = [250, 500, 1000, 1000, 1000]

// The contract lets confirm take up to 10 s; API calls get a little more.
const API_TIMEOUT_MS = 15000
// An avatar of a few MiB over a slow mobile network.
const UPLOAD_TIMEOUT_MS = 60000

// COS answers a POST Object with success_action_status: 204 by default, 200 or
// 201 when the form asks for them.
const POST_OK_STATUS = [200, 201, 204]

// How much of the file the type sniffing reads: every signature
// sniffImageType knows fits (WebP's is the longest, 12 bytes).
const SNIFF_BYTES = 16

// PUT /v1/me, not PATCH: wx.request documents only OPTIONS, GET, HEAD, POST,
// PUT, DELETE, TRACE and CONNECT, and clients have been seen refusing PATCH
// ("request:fail method is invalid"). The service answers both the same way.
const NICKNAME_METHOD = 'PUT'

// WxAvatarError is every failure the client reports. code is the API's error
// code (invalid_nickname, upload_rejected, …) or one of the client's own:
// network_error, login_failed, read_file_failed, unsupported_type (detected
// before asking for a signature), upload_failed (COS refused the bytes),
// bad_response and http_error (an answer not shaped like the contract's).
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
    this.retryAfter = d.retryAfter || 0 // seconds, from Retry-After on 429
    this.cosCode = d.cosCode || '' // COS's error Code when COS refused an upload
  }
}

// sniffImageType names the image type of the first bytes of a file, or ''.
// chooseAvatar's temporary path says nothing reliable about the format, so
// the bytes decide which content type to ask a signature for; the server
// checks the stored bytes again and is the judge.
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
  return ''
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
    return new WxAvatarError(err.code, err.message || err.code, details)
  }
  // A proxy or gateway answered instead of wxavatar.
  return new WxAvatarError('http_error', 'HTTP ' + res.statusCode, details)
}

// cosCode reads <Code> from a COS XML error document.
function cosCode (data) {
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
    let token = await storage.get(TOKEN_STORAGE_KEY)
    if (!token) token = await tokenAfter('')
    let res = await send(method, path, body, token)
    if (res.statusCode === 401) {
      if ((await storage.get(TOKEN_STORAGE_KEY)) === token) await storage.remove(TOKEN_STORAGE_KEY)
      token = await tokenAfter(token)
      res = await send(method, path, body, token)
    }
    return result(res)
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

  function postToCOS (post, filePath, onProgress) {
    return new Promise(function (resolve, reject) {
      const task = wxapi.uploadFile({
        url: post.url,
        filePath: filePath,
        name: post.file_field,
        formData: post.form,
        timeout: UPLOAD_TIMEOUT_MS,
        success: function (res) {
          if (POST_OK_STATUS.indexOf(res.statusCode) >= 0) return resolve()
          const code = cosCode(res.data)
          reject(new WxAvatarError('upload_failed', 'COS answered ' + res.statusCode + (code ? ' ' + code : ''),
            { status: res.statusCode, cosCode: code }))
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

  function putToCOS (put, data) {
    return new Promise(function (resolve, reject) {
      wxapi.request({
        url: put.url,
        method: 'PUT',
        // Exactly the headers the URL was signed with: COS refuses any other
        // Content-Type, and any Content-Length but the size declared when
        // signing (the runtime sends the data's own length, which is it).
        header: put.headers,
        data: data,
        dataType: 'text',
        timeout: UPLOAD_TIMEOUT_MS,
        success: function (res) {
          if (res.statusCode === 200) return resolve()
          const code = cosCode(res.data)
          reject(new WxAvatarError('upload_failed', 'COS answered ' + res.statusCode + (code ? ' ' + code : ''),
            { status: res.statusCode, cosCode: code }))
        },
        fail: function (e) {
          reject(new WxAvatarError('network_error', (e && e.errMsg) || 'upload failed'))
        }
      })
    })
  }

  async function confirm (uploadID) {
    const path = '/v1/avatar/uploads/' + encodeURIComponent(uploadID) + '/confirm'
    for (let attempt = 0; ; attempt++) {
      try {
        return await authed('POST', path)
      } catch (err) {
        if (err.code !== 'upload_missing' || attempt >= CONFIRM_RETRY_DELAYS_MS.length) throw err
        await sleep(CONFIRM_RETRY_DELAYS_MS[attempt])
      }
    }
  }

  return {
    // login logs in now (wx.login, then POST /v1/session) and resolves with
    // the user. Other calls log in by themselves when needed.
    login: async function () {
      return (await sharedLogin()).user
    },

    // me resolves with the user's profile.
    me: async function () {
      return (await authed('GET', '/v1/me')).user
    },

    // setNickname saves the nickname as typed; the service trims and checks
    // it (invalid_nickname) and resolves with the updated user.
    setNickname: async function (nickname) {
      return (await authed(NICKNAME_METHOD, '/v1/me', { nickname: nickname })).user
    },

    // uploadAvatar uploads the file at tempFilePath (chooseAvatar's
    // e.detail.avatarUrl) and makes it the avatar. It resolves with
    // {user, upload}; user.avatar_url is the permanent URL.
    //   onProgress(percent, event)  0–100 while the bytes go to COS
    //   method                      'post' (wx.uploadFile with the signed
    //                               form, default) or 'put' (wx.request with
    //                               the presigned URL; no progress between 0
    //                               and 100)
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
      const size = await fileSize(tempFilePath)
      // An empty file leaves readFile no valid range (position within
      // [0, size-1], length within [1, size]): nothing to read.
      const head = size > 0 ? await readFile(tempFilePath, 0, Math.min(SNIFF_BYTES, size)) : new ArrayBuffer(0)
      const contentType = sniffImageType(new Uint8Array(head, 0, Math.min(SNIFF_BYTES, head.byteLength)))
      if (!contentType) {
        throw new WxAvatarError('unsupported_type', 'the file is not a JPEG, PNG or WebP image')
      }
      const signed = await authed('POST', '/v1/avatar/uploads', { content_type: contentType, size: size })
      const upload = signed.upload
      onProgress(0)
      if (method === 'put') {
        if (!upload.put) { // the server signs a PUT only for a declared size
          throw new WxAvatarError('upload_failed', 'the server signed no PUT URL for this upload')
        }
        const data = await readFile(tempFilePath)
        // The URL signs the size declared as Content-Length.
        if (data.byteLength !== size) {
          throw new WxAvatarError('read_file_failed', 'the file changed while being uploaded: ' +
            size + ' bytes, then ' + data.byteLength)
        }
        await putToCOS(upload.put, data)
      } else {
        await postToCOS(upload.post, tempFilePath, onProgress)
      }
      onProgress(100)
      return confirm(upload.id)
    }
  }
}

module.exports = {
  createClient: createClient,
  WxAvatarError: WxAvatarError,
  sniffImageType: sniffImageType,
  TOKEN_STORAGE_KEY: TOKEN_STORAGE_KEY,
  CONFIRM_RETRY_DELAYS_MS: CONFIRM_RETRY_DELAYS_MS
}
