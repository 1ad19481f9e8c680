package avatar

import (
	"bytes"
	"encoding/binary"
)

// orientation is the EXIF Orientation (1–8) of an image file, 1 when it has
// none. JPEG carries EXIF in an APP1 segment, WebP in an "EXIF" chunk and
// PNG in an "eXIf" chunk; each holds a TIFF structure whose first IFD may
// have tag 0x0112.
//
// Written by hand: confirm needs this one tag of one IFD, and the EXIF
// libraries in pure Go are either unmaintained (rwcarlsen/goexif, last
// changed in 2019) or a large tree for full EXIF editing (dsoprea/go-exif).
// It only reads, within the bounds of the slice, and answers 1 on anything
// it does not understand.
func orientation(data []byte, contentType string) int {
	var tiff []byte
	switch contentType {
	case "image/jpeg":
		tiff = jpegEXIF(data)
	case "image/png":
		tiff = pngChunk(data, "eXIf")
	case "image/webp":
		tiff = webpChunk(data, "EXIF")
		tiff, _ = bytes.CutPrefix(tiff, []byte("Exif\x00\x00")) // some writers keep the JPEG prefix
	}
	return tiffOrientation(tiff)
}

// jpegEXIF is the TIFF structure of the first "Exif" APP1 segment before
// the image data.
func jpegEXIF(b []byte) []byte {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return nil
		}
		marker := b[i+1]
		if marker == 0xDA || marker == 0xD9 { // start of scan, end of image
			return nil
		}
		if marker == 0xFF || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) { // fill, markers without length
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 {
			if tiff, ok := bytes.CutPrefix(seg, []byte("Exif\x00\x00")); ok {
				return tiff
			}
		}
		i += 2 + n
	}
	return nil
}

// pngChunk is the data of the first chunk of type typ.
func pngChunk(b []byte, typ string) []byte {
	if !bytes.HasPrefix(b, pngSignature) {
		return nil
	}
	for i := len(pngSignature); i+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n < 0 || n > len(b)-i-12 {
			return nil
		}
		if string(b[i+4:i+8]) == typ {
			return b[i+8 : i+8+n]
		}
		if string(b[i+4:i+8]) == "IEND" {
			return nil
		}
		i += 12 + n
	}
	return nil
}

// webpChunk is the data of the first RIFF chunk of type typ.
func webpChunk(b []byte, typ string) []byte {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil
	}
	for i := 12; i+8 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || n > len(b)-i-8 {
			return nil
		}
		if string(b[i:i+4]) == typ {
			return b[i+8 : i+8+n]
		}
		i += 8 + n + n&1 // chunks are padded to an even size
	}
	return nil
}

// tiffOrientation reads tag 0x0112 of a TIFF structure's first IFD.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		order = binary.LittleEndian
	case "MM\x00*":
		order = binary.BigEndian
	default:
		return 1
	}
	ifd := int64(order.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(order.Uint16(t[ifd:]))
	for e := ifd + 2; e+12 <= int64(len(t)) && count > 0; e, count = e+12, count-1 {
		if order.Uint16(t[e:]) != 0x0112 {
			continue
		}
		if order.Uint16(t[e+2:]) != 3 { // SHORT
			return 1
		}
		if o := int(order.Uint16(t[e+8:])); o >= 1 && o <= 8 {
			return o
		}
		return 1
	}
	return 1
}
