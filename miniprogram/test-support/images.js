'use strict'

// Test images: real PNGs built here (a gradient, with or without
// transparency, and noise that does not compress), a real JPEG and a real
// WebP from fixtures, files that only pretend to be images, HEIC/AVIF
// containers for the fake wx to "decode", a small baseline JPEG encoder for
// its canvas, and imageInfo to read what the service stored.
//
// The service decodes every upload whole and refuses an image with a side
// under 32 px, so every image meant to be confirmed is at least 32 × 32.

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

function encodePNG (width, height, colorType, raw) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = colorType // 2 RGB, 6 RGBA
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

// png builds a valid RGBA PNG of size×size (or size×height) with a
// gradient (so that every size gives different bytes). Opaque unless
// options.alpha: then the alpha falls from 255 at the top to 0 at the
// bottom, and the service stores the avatar as PNG.
function png (size, height, options) {
  const width = size
  const h = height || size
  const alpha = Boolean(options && options.alpha)
  const raw = Buffer.alloc(h * (1 + width * 4))
  for (let y = 0; y < h; y++) {
    const row = y * (1 + width * 4) // filter byte 0 (none) first
    for (let x = 0; x < width; x++) {
      const p = row + 1 + x * 4
      raw[p] = (x * 255) / width
      raw[p + 1] = (y * 255) / h
      raw[p + 2] = 128
      raw[p + 3] = alpha ? 255 - Math.floor((y * 255) / Math.max(1, h - 1)) : 255
    }
  }
  return encodePNG(width, h, 6, raw)
}

// noisePNG is an opaque RGB PNG of random pixels: deflate cannot shrink
// them, so the file is a little over width × height × 3 bytes.
function noisePNG (width, height) {
  const stride = 1 + width * 3
  const raw = crypto.randomBytes(height * stride)
  for (let y = 0; y < height; y++) raw[y * stride] = 0 // filter: none
  return encodePNG(width, height, 2, raw)
}

// largePNG is a valid 48×48 PNG of exactly bytes bytes: the gradient padded
// with a private ancillary chunk ("waPd"), which decoders skip.
function largePNG (bytes) {
  const small = png(48)
  const iend = chunk('IEND', Buffer.alloc(0))
  const pad = bytes - small.length - 12 // a chunk's length, type and CRC
  if (pad < 0) throw new Error('largePNG: ' + bytes + ' bytes is too small')
  return Buffer.concat([small.subarray(0, small.length - iend.length), chunk('waPd', crypto.randomBytes(pad)), iend])
}

function fixture (name) {
  return fs.readFileSync(path.join(__dirname, '..', 'test', 'fixtures', name))
}

// A 64×48 baseline colour JPEG (4:2:0) written by Go's image/jpeg.
const JPEG_SIZE = { width: 64, height: 48 }
function jpeg () {
  return fixture('avatar.jpg')
}

// A 150×103 lossy WebP (RIFF, WEBP, one VP8 chunk): video-001.lossy.webp
// from golang.org/x/image's testdata (BSD licence).
const WEBP_SIZE = { width: 150, height: 103 }
function webp () {
  return fixture('avatar.webp')
}

// notReallyPNG starts with the PNG signature, so the client asks for an
// image/png signature, but the rest is not a PNG: the service rejects it.
function notReallyPNG () {
  return Buffer.concat([PNG_SIGNATURE, Buffer.from('<html><script>alert(1)</script></html>')])
}

function gif () {
  return Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64')
}

function box (type, payload) {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(8 + payload.length)
  head.write(type, 4, 'ascii')
  return Buffer.concat([head, payload])
}

function fullBox (type, payload) {
  return box(type, Buffer.concat([Buffer.alloc(4), payload])) // version 0, flags 0
}

// isoImage builds the container of a HEIF-family image (HEIC, AVIF): ftyp
// with the major brand, and meta/iprp/ipco/ispe with the width and height,
// where real files keep them; the coded image itself is random bytes. Only
// the fake wx "decodes" it, reading ispe, as a phone's decoder would the
// real thing.
function isoImage (brand, width, height, compatible) {
  const ftyp = box('ftyp', Buffer.concat([Buffer.from(brand, 'ascii'), Buffer.alloc(4),
    Buffer.from((compatible || ['mif1', brand]).join(''), 'ascii')]))
  const dims = Buffer.alloc(8)
  dims.writeUInt32BE(width, 0)
  dims.writeUInt32BE(height, 4)
  const meta = fullBox('meta', box('iprp', box('ipco', fullBox('ispe', dims))))
  return Buffer.concat([ftyp, meta, box('mdat', crypto.randomBytes(256))])
}

// heic is what an iPhone saves (major brand heic); avif an AVIF.
function heic (width, height, brand) {
  return isoImage(brand || 'heic', width || 24, height || 24)
}

function avif (width, height, brand) {
  return isoImage(brand || 'avif', width || 24, height || 24, ['mif1', 'miaf', brand || 'avif'])
}

// ispeSize reads the width and height from an isoImage, or null.
function ispeSize (buf) {
  const at = buf.indexOf('ispe', 0, 'ascii')
  if (at < 4 || at + 16 > buf.length) return null
  return { width: buf.readUInt32BE(at + 8), height: buf.readUInt32BE(at + 12) }
}

// pngSize reads the width and height from a PNG's IHDR, or null.
function pngSize (buf) {
  if (buf.length < 24 || !buf.subarray(0, 8).equals(PNG_SIGNATURE) || buf.toString('latin1', 12, 16) !== 'IHDR') return null
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) }
}

// imageInfo names a JPEG or PNG by its magic bytes, with the width and
// height from its SOF marker or IHDR: {type, width, height}, or null for
// anything else (the service stores only these two).
function imageInfo (buf) {
  let type = ''
  let size = null
  if (buf.length >= 3 && buf[0] === 0xFF && buf[1] === 0xD8 && buf[2] === 0xFF) {
    type = 'image/jpeg'
    size = jpegSize(buf)
  } else if (buf.length >= 8 && buf.subarray(0, 8).equals(PNG_SIGNATURE)) {
    type = 'image/png'
    size = pngSize(buf)
  }
  if (!size) return null
  return { type, width: size.width, height: size.height }
}

// jpegSize reads the width and height from a JPEG's SOF marker, or null.
function jpegSize (buf) {
  let i = 2
  while (i + 9 < buf.length && buf[i] === 0xFF) {
    const marker = buf[i + 1]
    const len = buf.readUInt16BE(i + 2)
    if (marker >= 0xC0 && marker <= 0xCF && marker !== 0xC4 && marker !== 0xC8 && marker !== 0xCC) {
      return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) }
    }
    i += 2 + len
  }
  return null
}

// The zigzag order of an 8×8 block.
const ZIGZAG = (() => {
  const order = []
  for (let s = 0; s < 15; s++) {
    const lo = Math.max(0, s - 7)
    const hi = Math.min(s, 7)
    if (s % 2 === 0) for (let y = hi; y >= lo; y--) order.push(y * 8 + (s - y))
    else for (let y = lo; y <= hi; y++) order.push(y * 8 + (s - y))
  }
  return order
})()

// Huffman tables of our own, valid by the standard's rules: every DC
// category (0–11) a 4-bit code, every AC symbol (EOB, ZRL, run/size with
// size 1–10) an 8-bit one. Not optimal, only simple.
const DC_SYMBOLS = Array.from({ length: 12 }, (_, i) => i)
const AC_SYMBOLS = [0x00, 0xF0]
for (let run = 0; run < 16; run++) for (let size = 1; size <= 10; size++) AC_SYMBOLS.push((run << 4) | size)
const QUANT = 4 // one step for every coefficient

function huffmanTable (symbols, length) {
  const codes = new Map()
  symbols.forEach((sym, i) => codes.set(sym, { code: i, length }))
  const counts = Buffer.alloc(16)
  counts[length - 1] = symbols.length
  return { codes, counts, symbols: Buffer.from(symbols) }
}

const DC_TABLE = huffmanTable(DC_SYMBOLS, 4)
const AC_TABLE = huffmanTable(AC_SYMBOLS, 8)

function segment (marker, payload) {
  const head = Buffer.from([0xFF, marker, 0, 0])
  head.writeUInt16BE(payload.length + 2, 2)
  return Buffer.concat([head, payload])
}

// encodeJPEG writes a baseline grayscale JPEG of width×height whose pixel
// (x, y) is gray(x, y) (0–255), readable by any decoder (Go's image/jpeg
// included). For the fake canvas, which "encodes" what was drawn on it.
function encodeJPEG (width, height, gray) {
  const out = []
  let acc = 0
  let bits = 0
  const put = (code, length) => {
    for (let i = length - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >> i) & 1)
      if (++bits === 8) {
        out.push(acc)
        if (acc === 0xFF) out.push(0) // byte stuffing
        acc = 0
        bits = 0
      }
    }
  }
  const category = (v) => { let n = 0; let a = Math.abs(v); while (a) { n++; a >>= 1 } return n }
  const amplitude = (v, n) => (v >= 0 ? v : v + (1 << n) - 1)
  const cos = []
  for (let u = 0; u < 8; u++) for (let x = 0; x < 8; x++) cos.push(Math.cos(((2 * x + 1) * u * Math.PI) / 16))
  const c = (u) => (u === 0 ? Math.SQRT1_2 : 1)
  let prevDC = 0
  const block = new Float64Array(64)
  const tmp = new Float64Array(64)
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      for (let y = 0; y < 8; y++) {
        for (let x = 0; x < 8; x++) {
          block[y * 8 + x] = gray(Math.min(bx + x, width - 1), Math.min(by + y, height - 1)) - 128
        }
      }
      // The 2-D DCT, rows then columns.
      for (let y = 0; y < 8; y++) {
        for (let u = 0; u < 8; u++) {
          let sum = 0
          for (let x = 0; x < 8; x++) sum += block[y * 8 + x] * cos[u * 8 + x]
          tmp[y * 8 + u] = sum * c(u) / 2
        }
      }
      const coef = new Int32Array(64)
      for (let u = 0; u < 8; u++) {
        for (let v = 0; v < 8; v++) {
          let sum = 0
          for (let y = 0; y < 8; y++) sum += tmp[y * 8 + u] * cos[v * 8 + y]
          coef[v * 8 + u] = Math.round((sum * c(v) / 2) / QUANT)
        }
      }
      const dc = coef[0]
      const diff = dc - prevDC
      prevDC = dc
      let n = category(diff)
      const d = DC_TABLE.codes.get(n)
      put(d.code, d.length)
      if (n) put(amplitude(diff, n), n)
      let run = 0
      for (let k = 1; k < 64; k++) {
        const v = coef[ZIGZAG[k]]
        if (v === 0) { run++; continue }
        while (run > 15) {
          const z = AC_TABLE.codes.get(0xF0)
          put(z.code, z.length)
          run -= 16
        }
        n = category(v)
        const a = AC_TABLE.codes.get((run << 4) | n)
        put(a.code, a.length)
        put(amplitude(v, n), n)
        run = 0
      }
      if (run > 0) {
        const eob = AC_TABLE.codes.get(0x00)
        put(eob.code, eob.length)
      }
    }
  }
  if (bits > 0) put(0x7F >> (bits - 1), 8 - bits) // pad with 1 bits
  const sof = Buffer.from([8, 0, 0, 0, 0, 1, 1, 0x11, 0])
  sof.writeUInt16BE(height, 1)
  sof.writeUInt16BE(width, 3)
  return Buffer.concat([
    Buffer.from([0xFF, 0xD8]),
    segment(0xDB, Buffer.concat([Buffer.from([0]), Buffer.alloc(64, QUANT)])),
    segment(0xC0, sof),
    segment(0xC4, Buffer.concat([Buffer.from([0x00]), DC_TABLE.counts, DC_TABLE.symbols,
      Buffer.from([0x10]), AC_TABLE.counts, AC_TABLE.symbols])),
    segment(0xDA, Buffer.from([1, 1, 0x00, 0, 63, 0])),
    Buffer.from(out),
    Buffer.from([0xFF, 0xD9])
  ])
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

module.exports = {
  png,
  noisePNG,
  largePNG,
  jpeg,
  JPEG_SIZE,
  webp,
  WEBP_SIZE,
  notReallyPNG,
  gif,
  heic,
  avif,
  ispeSize,
  jpegSize,
  pngSize,
  imageInfo,
  encodeJPEG,
  tempFiles
}
