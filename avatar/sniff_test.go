package avatar

import "testing"

func TestSniffImage(t *testing.T) {
	png := append(append([]byte{}, pngSignature...), 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1)
	tests := map[string]struct {
		in   []byte
		want string
	}{
		"jpeg":          {[]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F'}, "image/jpeg"},
		"png":           {png, "image/png"},
		"png no IHDR":   {append(append([]byte{}, pngSignature...), 0, 0, 0, 13, 'X', 'X', 'X', 'X'), ""},
		"webp lossy":    {[]byte("RIFF\x24\x00\x00\x00WEBPVP8 \x00\x00"), "image/webp"},
		"webp lossless": {[]byte("RIFF\x24\x00\x00\x00WEBPVP8L\x00\x00"), "image/webp"},
		"riff wave":     {[]byte("RIFF\x24\x00\x00\x00WAVEfmt \x00\x00"), ""},
		"gif":           {[]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00"), ""},
		"html":          {[]byte("<html><script>alert(1)</script>"), ""},
		"empty":         {nil, ""},
		"short jpeg":    {[]byte{0xFF, 0xD8}, ""},
	}
	for name, tt := range tests {
		if got := sniffImage(tt.in); got != tt.want {
			t.Errorf("%s: sniffImage = %q; want %q", name, got, tt.want)
		}
	}
}
