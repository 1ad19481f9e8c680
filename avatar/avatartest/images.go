package avatartest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
)

// picture is a w × h gradient, with an alpha gradient when transparent.
func picture(w, h int, transparent bool) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint8(255)
			if transparent {
				a = uint8(255 * x / max(1, w-1))
			}
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(255 * x / max(1, w-1)), G: uint8(255 * y / max(1, h-1)), B: 128, A: a})
		}
	}
	return img
}

// PNG is a real w × h PNG: a gradient, with transparency if asked.
func PNG(w, h int, transparent bool) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, picture(w, h, transparent)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// JPEG is a real w × h JPEG of a gradient.
func JPEG(w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture(w, h, false), &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// WithEXIF inserts, right after a JPEG's SOI marker, an APP1 segment with an
// EXIF structure of orientation (tag 0x0112) and, if gps, a GPS IFD with a
// latitude and longitude, as phones write them.
func WithEXIF(jpegData []byte, orientation uint16, gps bool) []byte {
	le := binary.LittleEndian
	var t []byte
	t = append(t, "II*\x00"...)
	t = le.AppendUint32(t, 8)
	entries := uint16(1)
	if gps {
		entries = 2
	}
	t = le.AppendUint16(t, entries)
	t = le.AppendUint16(t, 0x0112) // Orientation, SHORT, 1
	t = le.AppendUint16(t, 3)
	t = le.AppendUint32(t, 1)
	t = le.AppendUint16(t, orientation)
	t = le.AppendUint16(t, 0)
	gpsIFD := uint32(8 + 2 + 12*int(entries) + 4)
	if gps {
		t = le.AppendUint16(t, 0x8825) // GPSInfo, LONG, offset
		t = le.AppendUint16(t, 4)
		t = le.AppendUint32(t, 1)
		t = le.AppendUint32(t, gpsIFD)
	}
	t = le.AppendUint32(t, 0) // no next IFD
	if gps {
		// GPSLatitudeRef "N", GPSLatitude 31/1 14/1 0/1 (rationals at the end).
		rationals := gpsIFD + 2 + 12*2 + 4
		t = le.AppendUint16(t, 2)
		t = le.AppendUint16(t, 0x0001)
		t = le.AppendUint16(t, 2)
		t = le.AppendUint32(t, 2)
		t = append(t, 'N', 0, 0, 0)
		t = le.AppendUint16(t, 0x0002)
		t = le.AppendUint16(t, 5)
		t = le.AppendUint32(t, 3)
		t = le.AppendUint32(t, rationals)
		t = le.AppendUint32(t, 0)
		for _, v := range []uint32{31, 1, 14, 1, 0, 1} {
			t = le.AppendUint32(t, v)
		}
	}
	seg := append([]byte("Exif\x00\x00"), t...)
	app1 := []byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	out := append([]byte{}, jpegData[:2]...)
	out = append(out, app1...)
	out = append(out, seg...)
	return append(out, jpegData[2:]...)
}

// WithPNGChunk inserts a chunk of type typ before a PNG's IEND.
func WithPNGChunk(pngData []byte, typ string, data []byte) []byte {
	end := bytes.LastIndex(pngData, []byte("IEND")) - 4
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	chunk = append(chunk, typ...)
	chunk = append(chunk, data...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	out := append([]byte{}, pngData[:end]...)
	out = append(out, chunk...)
	return append(out, pngData[end:]...)
}

// Photo is a w × h JPEG that compresses like a photo: smooth gradients with
// seeded noise, at quality 90 (a 1080² one is a few hundred KB).
func Photo(w, h int, seed uint32) []byte {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	x := seed | 1
	next := func() uint8 { // xorshift: deterministic, no global state
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return uint8(x)
	}
	for py := 0; py < h; py++ {
		for px := 0; px < w; px++ {
			v := (px*200/max(1, w) + py*55/max(1, h)) + int(next()%48)
			img.Y[img.YOffset(px, py)] = uint8(min(255, v))
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 100+next()%24, 140+next()%24
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}
