'use strict'

// Test images: a real PNG built here, a real JPEG from fixtures, a real 1×1
// WebP, and files that only pretend to be images.

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const zlib = require('node:zlib')

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32 (buf) {
  let c = 0xFFFFFFFF
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >>> 8)
  return (c ^ 0xFFFFFFFF) >>> 0
}

function chunk (type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(td))
  return Buffer.concat([len, td, crc])
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])

// png builds a valid RGBA PNG of size×size with a gradient (so that every
// size gives different bytes).
function png (size) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(size, 0)
  ihdr.writeUInt32BE(size, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 6 // RGBA
  const raw = Buffer.alloc(size * (1 + size * 4))
  for (let y = 0; y < size; y++) {
    const row = y * (1 + size * 4) // filter byte 0 (none) first
    for (let x = 0; x < size; x++) {
      const p = row + 1 + x * 4
      raw[p] = (x * 255) / size
      raw[p + 1] = (y * 255) / size
      raw[p + 2] = 128
      raw[p + 3] = 255
    }
  }
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

// largePNG is a valid PNG of exactly bytes bytes: a small image padded with
// a private ancillary chunk ("waPd"), which decoders skip.
function largePNG (bytes) {
  const small = png(16)
  const iend = chunk('IEND', Buffer.alloc(0))
  const pad = bytes - small.length - 12 // a chunk's length, type and CRC
  if (pad < 0) throw new Error('largePNG: ' + bytes + ' bytes is too small')
  return Buffer.concat([small.subarray(0, small.length - iend.length), chunk('waPd', crypto.randomBytes(pad)), iend])
}

// A 24×24 baseline JPEG written by Go's image/jpeg.
function jpeg () {
  return fs.readFileSync(path.join(__dirname, '..', 'test', 'fixtures', 'avatar.jpg'))
}

// The well-known 1×1 lossless WebP (RIFF, WEBP, one VP8L chunk).
function webp () {
  return Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64')
}

// notReallyPNG starts with the PNG signature, so the client asks for an
// image/png signature, but the rest is not a PNG: the service rejects it.
function notReallyPNG () {
  return Buffer.concat([PNG_SIGNATURE, Buffer.from('<html><script>alert(1)</script></html>')])
}

function gif () {
  return Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64')
}

// tempFiles writes files the way chooseAvatar hands them over: in a temporary
// folder, under names whose extension says nothing reliable.
function tempFiles () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxavatar-tmp-'))
  let n = 0
  return {
    write (bytes, ext) {
      const p = path.join(dir, 'tmp_' + (++n) + (ext || ''))
      fs.writeFileSync(p, bytes)
      return p
    },
    remove () { fs.rmSync(dir, { recursive: true, force: true }) }
  }
}

module.exports = { png, largePNG, jpeg, webp, notReallyPNG, gif, tempFiles }
