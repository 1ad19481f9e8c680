// serve.mjs: Uppy Companion standalone, exactly as its `companion` binary
// (lib/standalone/start-server.js) starts it, configured by the same
// COMPANION_* environment variables, with two differences for the benchmark:
// it listens on 127.0.0.1 only (the binary listens on every interface), and
// netguard.mjs refuses any connection that would leave the machine.
import './netguard.mjs' // first: before Companion and the AWS SDK load

import * as companion from '@uppy/companion'
import pkg from '@uppy/companion/package.json' with { type: 'json' }
import standalone from '@uppy/companion/standalone'

const port = Number(process.env.COMPANION_PORT || 3020)
const { app } = standalone()
const server = app.listen(port, '127.0.0.1', () => {
  const { address, port: bound } = server.address()
  console.log(`companion-bench: listening on http://${address}:${bound} (@uppy/companion ${pkg.version}, node ${process.version})`)
})
companion.socket(server)
