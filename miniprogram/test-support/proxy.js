'use strict'

// A loopback proxy in front of the real service, for answers the service
// gives only under conditions a test cannot easily make (503 busy while it
// is decoding too many images) or that it does not give yet: a rule answers
// matching calls itself, or passes them on and rewrites the JSON answer.
// Everything else goes through untouched.

const http = require('node:http')

// startProxy(target) resolves with {url, rules, calls, close()}.
//   rules  [{method, path: RegExp, times?, respond?: {status, headers, body},
//          rewrite?: function(status, json) → json}]; the first matching
//          rule with times left (unlimited when not given) is used
//   calls  every call seen: {method, path, status, by: 'rule' | 'service'}
function startProxy (target) {
  const upstream = new URL(target)
  const proxy = { rules: [], calls: [] }

  function ruleFor (method, path) {
    return proxy.rules.find((r) => (!r.method || r.method === method) && r.path.test(path) &&
      (r.times === undefined || r.times > 0))
  }

  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const rule = ruleFor(req.method, req.url)
      if (rule && rule.times !== undefined) rule.times--
      if (rule && rule.respond) {
        const r = rule.respond
        const payload = Buffer.from(typeof r.body === 'string' ? r.body : JSON.stringify(r.body))
        res.writeHead(r.status, Object.assign({ 'Content-Type': 'application/json', 'Content-Length': payload.length }, r.headers))
        res.end(payload)
        proxy.calls.push({ method: req.method, path: req.url, status: r.status, by: 'rule' })
        return
      }
      const headers = Object.assign({}, req.headers, { host: upstream.host })
      const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
        const got = []
        up.on('data', (c) => got.push(c))
        up.on('end', () => {
          let payload = Buffer.concat(got)
          const h = Object.assign({}, up.headers)
          if (rule && rule.rewrite) {
            payload = Buffer.from(JSON.stringify(rule.rewrite(up.statusCode, JSON.parse(payload.toString('utf8')))))
          }
          // The whole answer is in hand: sent with its length, not in the
          // chunks the service may have used (a large answer, such as an
          // OSS signature's, comes chunked; both headers at once is an
          // answer clients refuse).
          delete h['transfer-encoding']
          h['content-length'] = String(payload.length)
          res.writeHead(up.statusCode, h)
          res.end(payload)
          proxy.calls.push({ method: req.method, path: req.url, status: up.statusCode, by: 'service' })
        })
      })
      out.on('error', (e) => {
        res.writeHead(502)
        res.end(e.message)
      })
      out.end(body)
    })
  })

  return new Promise((resolve, reject) => {
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      proxy.url = 'http://127.0.0.1:' + server.address().port
      proxy.close = () => new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      resolve(proxy)
    })
  })
}

module.exports = { startProxy }
