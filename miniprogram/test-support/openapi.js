'use strict'

// Reading openapi.yaml, the contract, from the tests: what the client and
// the scripted service (fakeservice.js) must agree with is read from there,
// not written again here. A small reader for the file's own layout (schemas
// under components at four spaces, their keys at six, properties at eight),
// not a YAML parser.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

function doc () {
  return fs.readFileSync(path.join(__dirname, '..', '..', 'openapi.yaml'), 'utf8')
}

// schema gives a schema of the components: its required names, all its
// property names, and whether it takes other (string) properties; e.g.
// schema('OSSPostForm').
function schema (name) {
  const text = doc()
  const start = text.indexOf('\n    ' + name + ':\n')
  assert.ok(start >= 0, 'no schema ' + name + ' in openapi.yaml')
  // The schema ends where the next one (or the next section) starts.
  const rest = text.slice(start + 1)
  const next = rest.slice(1).search(/\n {0,4}\S/)
  const block = next < 0 ? rest : rest.slice(0, next + 1)
  const required = /\n {6}required: \[([^\]]+)\]/.exec(block)
  assert.ok(required, 'no required list in ' + name)
  return {
    required: required[1].split(',').map((v) => v.trim()),
    properties: [...block.matchAll(/\n {8}([\w-]+):/g)].map((m) => m[1]),
    additional: /\n {6}additionalProperties: \{type: string\}/.test(block)
  }
}

// sizeRequiredReason is the error.reason of a signature request without
// size when the server's store takes only PUT (400 invalid_request).
function sizeRequiredReason () {
  const m = /code: \{enum: \[invalid_request\]\}, reason: \{enum: \[(\w+)\]\}/.exec(doc())
  assert.ok(m, 'openapi.yaml names no reason of invalid_request')
  return m[1]
}

// assertSigned checks a signature answer's post form and put headers
// against the schemas openapi.yaml gives the store (COS, OSS or S3): every
// required name there, and no form field it does not list.
function assertSigned (store, upload) {
  const prefix = { cos: 'COS', oss: 'OSS', s3: 'S3' }[store]
  assert.ok(prefix, 'no store ' + store)
  if (upload.post) {
    const form = schema(prefix + 'PostForm')
    const fields = Object.keys(upload.post.form)
    for (const f of form.required) assert.ok(fields.includes(f), store + ' form lacks ' + f)
    for (const f of fields) assert.ok(form.properties.includes(f), store + ' form field ' + f + ' is not in openapi.yaml')
  }
  if (upload.put) {
    const headers = schema(prefix + 'PutHeaders')
    const sent = Object.keys(upload.put.headers)
    for (const h of headers.required) assert.ok(sent.includes(h), store + ' PUT lacks ' + h)
    for (const h of sent) assert.ok(headers.additional || headers.properties.includes(h), store + ' PUT header ' + h + ' is not in openapi.yaml')
  }
}

module.exports = { schema, sizeRequiredReason, assertSigned }
