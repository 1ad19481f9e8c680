package avatar

import "bytes"

// sniffPrefix is how many leading bytes confirm reads from storage.
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
