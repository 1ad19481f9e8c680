package avatar

import "bytes"

// sniffPrefix is how many leading bytes sniffImage looks at.
const sniffPrefix = 32

var pngSignature = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}

// sniffImage names the image type of b by its magic bytes, "" if none of the
// accepted types. net/http's DetectContentType is not used: it accepts a bare
// "RIFF....WEBPVP" prefix and has no notion of a PNG's first chunk, and the
// checks here are a few bytes each.
func sniffImage(b []byte) string {
	switch {
	case len(b) >= 4 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "image/jpeg"
	case len(b) >= 16 && bytes.HasPrefix(b, pngSignature) && string(b[12:16]) == "IHDR":
		return "image/png"
	case len(b) >= 16 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		switch string(b[12:16]) {
		case "VP8 ", "VP8L", "VP8X":
			return "image/webp"
		}
	}
	return ""
}

// sniffUnsupported names an image format confirm cannot decode (no pure-Go
// decoder reads HEIC or AVIF; GIF, BMP and TIFF are not avatars here), ""
// for anything else.
func sniffUnsupported(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
			return "HEIC"
		case "avif", "avis":
			return "AVIF"
		}
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "GIF"
	case bytes.HasPrefix(b, []byte("BM")) && len(b) >= 26:
		return "BMP"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "TIFF"
	}
	return ""
}
