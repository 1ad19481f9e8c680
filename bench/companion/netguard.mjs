// netguard.mjs: loaded by serve.mjs before Companion.
//
// The benchmark runs Companion with fake AWS credentials on loopback, where
// presigning is local computation: nothing may leave the machine. This module
// refuses, and reports on stderr, every TCP connection, UDP datagram and DNS
// query aimed anywhere but loopback, so a Companion feature that phones out
// fails loudly instead of sending traffic. The harness counts the
// "netguard: refused" lines and fails the run when there is one. It only
// wraps the calls that open connections; serving requests is untouched.
import dgram from 'node:dgram'
import dns from 'node:dns'
import { syncBuiltinESMExports } from 'node:module'
import net from 'node:net'

export function isLoopback (host) {
  if (host == null || host === '') return true // Node's default host: localhost
  let h = String(host).toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  if (h === 'localhost' || h === 'localhost.') return true
  if (net.isIPv4(h)) return h.startsWith('127.')
  if (net.isIPv6(h)) return h === '::1' || h.startsWith('::ffff:127.')
  return false
}

function refuse (what, target) {
  const msg = `netguard: refused ${what} to ${target}`
  process.stderr.write(msg + '\n')
  const err = new Error(msg)
  err.code = 'ENETUNREACH'
  return err
}

// TCP, and with it http, https, tls, undici's fetch and the AWS SDK.
const connect = net.Socket.prototype.connect
net.Socket.prototype.connect = function (...args) {
  let opts = args[0]
  if (Array.isArray(opts)) opts = opts[0] // already normalized by net.connect
  let host, port
  if (opts !== null && typeof opts === 'object') {
    if (opts.path != null) return connect.apply(this, args) // a unix socket
    host = opts.host
    port = opts.port
  } else if (typeof opts === 'string' && !/^\d+$/.test(opts)) {
    return connect.apply(this, args) // a unix socket path
  } else {
    port = opts
    host = typeof args[1] === 'string' ? args[1] : undefined
  }
  if (!isLoopback(host)) {
    const err = refuse('tcp connection', `${host}:${port}`)
    process.nextTick(() => this.destroy(err))
    return this
  }
  return connect.apply(this, args)
}

// UDP.
for (const name of ['connect', 'send']) {
  const orig = dgram.Socket.prototype[name]
  dgram.Socket.prototype[name] = function (...args) {
    // connect(port, address, cb); send(msg, [offset, length,] [port, address,] cb)
    const from = name === 'connect' ? 0 : 1
    const address = args.slice(from + 1).find((a) => typeof a === 'string')
    const port = args.slice(from).find((a) => typeof a === 'number')
    if ((port !== undefined || address !== undefined) && !isLoopback(address)) {
      const err = refuse('udp ' + name, `${address}:${port}`)
      const cb = args.findLast((a) => typeof a === 'function')
      if (cb) process.nextTick(cb, err)
      return undefined
    }
    return orig.apply(this, args)
  }
}

// DNS: a query for any name but localhost is traffic to a resolver.
for (const api of [dns, dns.promises]) {
  for (const name of Object.keys(api)) {
    if (!(name === 'lookup' || name === 'lookupService' || name === 'reverse' || name.startsWith('resolve'))) continue
    const orig = api[name]
    if (typeof orig !== 'function') continue
    api[name] = function (host, ...rest) {
      if (name !== 'lookupService' && isLoopback(host) && name !== 'reverse') return orig.call(this, host, ...rest)
      const err = refuse('dns ' + name, String(host))
      if (api === dns.promises) return Promise.reject(err)
      const cb = rest.findLast((a) => typeof a === 'function')
      if (cb) process.nextTick(cb, err)
      return undefined
    }
  }
}
syncBuiltinESMExports()
