'use strict'

// Starts the real wxavatar service in --dev mode for the node tests: built
// once per test process with go build (faster and cleaner to stop than go
// run), each instance listening on free loopback ports, with its own SQLite
// file and object folder.

const { spawn, execFile } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const REPO_ROOT = path.resolve(__dirname, '..', '..')

// The --dev signing key: public on purpose (see the service's config), and
// set explicitly so that a JWT_KEYS in the caller's environment cannot
// change it under the tests.
const DEV_JWT_KID = 'dev'
const DEV_JWT_SECRET = 'wxavatar-dev-jwt-key-not-for-production-use'

function withTimeout (promise, ms, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(what + ' did not happen within ' + ms + ' ms')), ms)
  })
  return Promise.race([promise, timeout]).then((v) => { clearTimeout(timer); return v },
    (e) => { clearTimeout(timer); throw e })
}

function build (out) {
  return new Promise((resolve, reject) => {
    execFile(process.env.GO || 'go', ['build', '-o', out, './cmd/wxavatar'],
      { cwd: REPO_ROOT, timeout: 180000 }, (err, stdout, stderr) => {
        if (err) {
          reject(new Error('go build failed (is Go on PATH? set GO= to point at it): ' + err.message + '\n' + stderr))
          return
        }
        resolve()
      })
  })
}

// The binary of this test process, built by the first startServer: a file
// that starts several services (one per storage provider) links it once.
// Its folder goes when the process exits, or, if the process is killed, with
// the guards' folders (see guard.js); a guard made to kill its service
// (stop's forced path) removes it too, and then the next start builds again.
let built = null

async function binary () {
  if (built) {
    const b = await built.catch(() => null)
    if (!b || !fs.existsSync(b.bin)) built = null
  }
  if (!built) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxavatar-mp-bin-'))
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
    const bin = path.join(dir, 'wxavatar')
    built = build(bin).then(() => ({ dir, bin }))
  }
  return built
}

// startServer resolves with {api, storage, stop, output}: storage is the
// local object server, {url, provider}, as the service announced it. stop()
// sends SIGTERM, waits for the graceful shutdown and resolves with the exit
// code.
//   env  settings added to (or replacing) the ones below, e.g.
//        {STORAGE: 's3', S3_POST_POLICY: 'false'}
async function startServer (options) {
  const o = options || {}
  const { dir: binDir, bin } = await binary()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxavatar-mp-'))
  const env = {
    PATH: process.env.PATH || '',
    HOME: process.env.HOME || dir,
    ADDR: '127.0.0.1:0',
    DEV_STORAGE_ADDR: '127.0.0.1:0',
    // /metrics on a free loopback port of its own: a fixed one (the service
    // is to default to 127.0.0.1:9090) would make parallel runs collide.
    METRICS_ADDR: '127.0.0.1:0',
    DATABASE_URL: 'sqlite:' + path.join(dir, 'wx.db'),
    DEV_STORAGE_DIR: path.join(dir, 'objects'),
    JWT_KEYS: DEV_JWT_KID + ':' + DEV_JWT_SECRET,
    LIMIT_UPLOADS_PER_MINUTE: '0',
    LIMIT_PENDING_UPLOADS: '0',
    LIMIT_SESSIONS_PER_MINUTE: '0'
  }
  Object.assign(env, o.env)
  // Through guard.js, which stops the service and removes dir (and the
  // binary's folder) if this process dies without calling stop().
  const child = spawn(process.execPath, [path.join(__dirname, 'guard.js'),
    JSON.stringify([bin, 'serve', '--dev', '--env-file', '']), dir, binDir],
    { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] })

  let stdout = ''
  let stderr = ''
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  const apiURL = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      const m = /wxavatar: API on (http:\/\/\S+)/.exec(stdout)
      if (m) resolve(m[1])
    })
    child.on('error', reject)
    exited.then(({ code }) => reject(new Error('wxavatar exited with ' + code + ' before listening:\n' + stderr)))
  })
  child.stderr.on('data', (chunk) => {
    // Keep the tail only: the JSON log of a whole run is not needed.
    stderr = (stderr + chunk).slice(-64 * 1024)
  })

  async function stop () {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    let result
    try {
      result = await withTimeout(exited, 10000, 'graceful shutdown')
    } catch (e) {
      // Closing the guard's stdin makes it SIGKILL the service and exit.
      child.stdin.end()
      result = await withTimeout(exited, 5000, 'forced stop').catch(() => {
        child.kill('SIGKILL')
        return exited
      })
    }
    fs.rmSync(dir, { recursive: true, force: true })
    return result.code
  }

  try {
    const api = await withTimeout(apiURL, 15000, 'wxavatar start')
    await healthy(api, Date.now() + 10000)
    const m = /wxavatar: local object server on (http:\/\/\S+) \((\w+),/.exec(stdout)
    if (!m) throw new Error('wxavatar did not say where its local object server is:\n' + stdout)
    return { api, storage: { url: m[1], provider: m[2] }, stop, output: () => stdout + stderr }
  } catch (e) {
    await stop()
    throw new Error(e.message + '\nstderr:\n' + stderr)
  }
}

async function healthy (api, deadline) {
  while (Date.now() < deadline) {
    try {
      const res = await fetch(api + '/healthz', { signal: AbortSignal.timeout(1000) })
      if (res.status === 200) return
    } catch (e) {
      // not answering yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('GET ' + api + '/healthz did not answer 200 within 10 s')
}

// devToken signs claims with the --dev key as the service does (HS256, kid).
function devToken (claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const head = b64({ alg: 'HS256', typ: 'JWT', kid: DEV_JWT_KID })
  const body = b64(claims)
  const sig = crypto.createHmac('sha256', DEV_JWT_SECRET).update(head + '.' + body).digest('base64url')
  return head + '.' + body + '.' + sig
}

module.exports = { startServer, devToken }
