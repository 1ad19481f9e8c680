'use strict'

// What confirm stored: the service decodes the upload and writes an avatar
// of its own from the pixels (longest side at most 640 px; JPEG when opaque,
// PNG with any transparency) at …/avatar, and a square thumbnail (132 px, or
// the avatar's shorter side if smaller) at …/thumb. Neither is ever the
// uploaded file.

const assert = require('node:assert/strict')
const images = require('./images')

const AVATAR_SIDE = 640 // AVATAR_SIDE's default
const THUMB_SIDE = 132 // AVATAR_THUMB_SIDE's default

// fitted is the size the service scales width × height to (never up).
function fitted (width, height) {
  if (width <= AVATAR_SIDE && height <= AVATAR_SIDE) return { width, height }
  if (width >= height) return { width: AVATAR_SIDE, height: Math.max(1, Math.floor((height * AVATAR_SIDE) / width)) }
  return { width: Math.max(1, Math.floor((width * AVATAR_SIDE) / height)), height: AVATAR_SIDE }
}

// fetchImage downloads url and checks that it is a JPEG or PNG whose
// Content-Type says so: {bytes, type, width, height}.
async function fetchImage (url) {
  const res = await fetch(url)
  assert.equal(res.status, 200, 'GET ' + url)
  const bytes = Buffer.from(await res.arrayBuffer())
  const info = images.imageInfo(bytes)
  assert.ok(info, 'GET ' + url + ': neither a JPEG nor a PNG: ' + bytes.subarray(0, 16).toString('hex'))
  assert.equal(res.headers.get('content-type'), info.type, 'GET ' + url + ': the Content-Type is not what the bytes are')
  return Object.assign({ bytes }, info)
}

// assertStored checks the user's avatar_url and avatar_thumb_url after an
// upload of the bytes uploaded, an image of width × height: the URLs' shape,
// that both download, their types and sizes, and that the avatar is not the
// uploaded file. type is the avatar's expected type (image/jpeg unless the
// upload had transparency). Resolves with the avatar ({bytes, type, width,
// height}).
async function assertStored (user, uploaded, { width, height, type = 'image/jpeg' }) {
  // On the local object server's host; S3 addresses its bucket path-style
  // there (127.0.0.1 can have no bucket subdomain), so a bucket may come first.
  assert.match(user.avatar_url, /^http:\/\/127\.0\.0\.1:\d+\/(?:[a-z0-9.-]+\/)?avatars\/[^/]+\/[^/]+\/avatar$/)
  assert.equal(user.avatar_thumb_url, user.avatar_url.replace(/\/avatar$/, '/thumb'))

  const avatar = await fetchImage(user.avatar_url)
  assert.equal(avatar.type, type, 'the avatar\'s type')
  assert.deepEqual({ width: avatar.width, height: avatar.height }, fitted(width, height), 'the avatar\'s size')
  assert.ok(!avatar.bytes.equals(Buffer.from(uploaded)), 'the avatar is the uploaded file')

  const thumb = await fetchImage(user.avatar_thumb_url)
  const side = Math.min(THUMB_SIDE, avatar.width, avatar.height)
  assert.equal(thumb.type, type, 'the thumbnail\'s type')
  assert.deepEqual({ width: thumb.width, height: thumb.height }, { width: side, height: side }, 'the thumbnail\'s size')
  return avatar
}

module.exports = { AVATAR_SIDE, THUMB_SIDE, fitted, fetchImage, assertStored }
