'use strict'

// node guard.js '["command", "arg", …]' [folder …]
//
// Runs the command (the wxavatar service) for a test process and makes sure
// it does not outlive that process, however the process ends: a test runner
// killed with SIGKILL, or dying on a closed pipe, runs no 'exit' handler, but
// its end of our stdin always closes. Then the service is killed and the
// folders (its database and objects, its binary's) removed. SIGTERM is passed on so
// that the service can shut down gracefully; we exit with its exit code.
//
// The command comes as one JSON argument because node 20 reads --env-file
// from anywhere on its command line, script arguments included, and the
// service is started with --env-file "".

const { spawn } = require('node:child_process')
const fs = require('node:fs')

const [command, ...args] = JSON.parse(process.argv[2])
const folders = process.argv.slice(3)
const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] })
let orphaned = false

function parentGone () {
  if (orphaned) return
  orphaned = true
  child.kill('SIGKILL')
}

process.stdin.on('end', parentGone)
process.stdin.on('close', parentGone)
process.stdin.on('error', parentGone)
process.stdin.resume()
process.on('SIGTERM', () => child.kill('SIGTERM'))
process.on('SIGINT', () => child.kill('SIGTERM'))
child.on('error', (err) => {
  console.error('guard: ' + err.message)
  process.exit(127)
})
child.on('exit', (code, signal) => {
  if (orphaned) for (const f of folders) fs.rmSync(f, { recursive: true, force: true })
  process.exit(code === null ? 128 + (signal === 'SIGKILL' ? 9 : 15) : code)
})
