package avatar_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	_ "image/png" // for image.Decode
	"os"
	"sync"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/avatar/avatartest"
)

// pngWithHeader is a PNG whose IHDR claims w × h, followed by the IDAT of a
// 1 × 1 image: what an image bomb looks like before anyone decodes it.
func pngWithHeader(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		c = append(c, typ...)
		c = append(c, data...)
		return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, chunk("IHDR", ihdr)...)
	b = append(b, chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x60, 0x60, 0x60, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01})...)
	return append(b, chunk("IEND", nil)...)
}

func decodeConfig(t *testing.T, b []byte) (image.Config, string) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the written image does not decode: %v", err)
	}
	return cfg, format
}

// TestHostileImages: everything that is not a complete image within the
// limits is refused, with its reason, before or by decoding; none of it
// leaves an object behind (TestConfirm checks the deletion for a confirm).
func TestHostileImages(t *testing.T) {
	png := avatartest.PNG(64, 64, false)
	jpg := avatartest.JPEG(64, 64)
	webp, err := os.ReadFile("testdata/opaque.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, contentType string
		data              []byte
		reason            string
	}{
		{"truncated PNG", "image/png", png[:len(png)-20], avatar.ReasonNotAnImage},
		{"truncated JPEG", "image/jpeg", jpg[:len(jpg)/2], avatar.ReasonNotAnImage},
		{"truncated WebP", "image/webp", webp[:len(webp)/2], avatar.ReasonNotAnImage},
		{"PNG header claiming 2^31 × 2^31", "image/png", pngWithHeader(1<<31-1, 1<<31-1), avatar.ReasonTooManyPixels},
		{"PNG header claiming 20000 × 20000", "image/png", pngWithHeader(20000, 20000), avatar.ReasonTooManyPixels},
		{"PNG of 4097 × 32", "image/png", pngWithHeader(4097, 32), avatar.ReasonTooManyPixels},
		{"PNG of 16 × 16", "image/png", avatartest.PNG(16, 16, false), avatar.ReasonTooSmall},
		{"PNG header over an image of another size", "image/png", pngWithHeader(64, 64), avatar.ReasonNotAnImage},
		{"JPEG magic, then HTML", "image/jpeg", []byte("\xff\xd8\xff\xe0<html><script>alert(1)</script></html>"), avatar.ReasonNotAnImage},
		{"PNG magic, then a ZIP", "image/png", append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), "PK\x03\x04 an archive"...), avatar.ReasonNotAnImage},
		{"WebP magic, then anything", "image/webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x00\x00anything at all"), avatar.ReasonNotAnImage},
		{"a PNG declared as JPEG", "image/jpeg", png, avatar.ReasonNotAnImage},
		{"HEIC", "image/jpeg", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), avatar.ReasonUnsupportedFormat},
		{"AVIF", "image/png", []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"), avatar.ReasonUnsupportedFormat},
		{"GIF", "image/png", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x00;"), avatar.ReasonUnsupportedFormat},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, _, err := avatar.Render(tt.data, tt.contentType, avatar.DefaultImageLimits)
			var rej *avatar.RejectedError
			if !errors.As(err, &rej) || rej.Reason != tt.reason || rej.Message == "" {
				t.Errorf("Render: %v; want rejected, %s", err, tt.reason)
			}
		})
	}
}

// TestRenderWritesPixelsOnly: what confirm writes is made of the pixels
// alone, whatever the file carried.
func TestRenderWritesPixelsOnly(t *testing.T) {
	t.Run("a PNG followed by an archive: re-encoded, the archive gone", func(t *testing.T) {
		data := append(avatartest.PNG(64, 64, false), "PK\x03\x04secret archive payload"...)
		a, th, at, _, err := avatar.Render(data, "image/png", avatar.DefaultImageLimits)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{a, th} {
			if bytes.Contains(b, []byte("PK\x03\x04")) || bytes.Contains(b, []byte("secret")) {
				t.Errorf("the appended archive survived")
			}
		}
		if at != "image/jpeg" {
			t.Errorf("an opaque PNG became %s; want image/jpeg", at)
		}
	})
	t.Run("GPS and Orientation 6: no EXIF, sides swapped", func(t *testing.T) {
		data := avatartest.WithEXIF(avatartest.JPEG(200, 100), 6, true)
		a, th, at, tt, err := avatar.Render(data, "image/jpeg", avatar.DefaultImageLimits)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{a, th} {
			if bytes.Contains(b, []byte("Exif")) || bytes.Contains(b, []byte{0xFF, 0xE1}) {
				t.Errorf("the rendition still has an EXIF segment")
			}
		}
		if cfg, format := decodeConfig(t, a); format != "jpeg" || at != "image/jpeg" || cfg.Width != 100 || cfg.Height != 200 {
			t.Errorf("avatar: %s (%s) %d × %d; want a JPEG of 100 × 200", format, at, cfg.Width, cfg.Height)
		}
		if cfg, _ := decodeConfig(t, th); tt != "image/jpeg" || cfg.Width != 100 || cfg.Height != 100 {
			t.Errorf("thumbnail: %s %d × %d; want 100 × 100, the avatar's shorter side", tt, cfg.Width, cfg.Height)
		}
	})
	t.Run("orientation turns the pixels, not just the sides", func(t *testing.T) {
		// Left half black, right half white; Orientation 6 turns it 90°
		// clockwise: top black, bottom white.
		img := image.NewGray(image.Rect(0, 0, 64, 32))
		for y := 0; y < 32; y++ {
			for x := 32; x < 64; x++ {
				img.Pix[y*img.Stride+x] = 255
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, nil); err != nil {
			t.Fatal(err)
		}
		a, _, _, _, err := avatar.Render(avatartest.WithEXIF(buf.Bytes(), 6, false), "image/jpeg", avatar.DefaultImageLimits)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := image.Decode(bytes.NewReader(a))
		if err != nil {
			t.Fatal(err)
		}
		if b := out.Bounds(); b.Dx() != 32 || b.Dy() != 64 {
			t.Fatalf("%v; want 32 × 64", b)
		}
		top, _, _, _ := out.At(16, 8).RGBA()
		bottom, _, _, _ := out.At(16, 56).RGBA()
		if top > 0x2000 || bottom < 0xe000 {
			t.Errorf("top %#x, bottom %#x; want black above white", top, bottom)
		}
	})
	t.Run("text chunks dropped", func(t *testing.T) {
		data := avatartest.WithPNGChunk(avatartest.PNG(64, 64, true), "tEXt", []byte("Comment\x00home: 31.23N 121.47E"))
		a, th, _, _, err := avatar.Render(data, "image/png", avatar.DefaultImageLimits)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{a, th} {
			if bytes.Contains(b, []byte("tEXt")) || bytes.Contains(b, []byte("home")) {
				t.Errorf("the text chunk survived")
			}
		}
	})
	t.Run("transparency stays PNG, with its alpha", func(t *testing.T) {
		a, th, at, tt, err := avatar.Render(avatartest.PNG(800, 400, true), "image/png", avatar.DefaultImageLimits)
		if err != nil {
			t.Fatal(err)
		}
		if at != "image/png" || tt != "image/png" {
			t.Fatalf("types %s, %s; want PNG for both", at, tt)
		}
		out, format, err := image.Decode(bytes.NewReader(a))
		if err != nil || format != "png" || out.Bounds().Dx() != 640 || out.Bounds().Dy() != 320 {
			t.Fatalf("avatar: %v %s %v; want a 640 × 320 PNG", err, format, out.Bounds())
		}
		if _, _, _, alpha := out.At(0, 0).RGBA(); alpha > 0x1000 {
			t.Errorf("the transparent corner has alpha %#x; want it transparent", alpha)
		}
		if cfg, _ := decodeConfig(t, th); cfg.Width != 132 || cfg.Height != 132 {
			t.Errorf("thumbnail %d × %d; want 132 × 132", cfg.Width, cfg.Height)
		}
	})
	t.Run("WebP, lossy and lossless with alpha", func(t *testing.T) {
		for file, want := range map[string]string{"testdata/opaque.lossy.webp": "image/jpeg", "testdata/alpha.lossless.webp": "image/png"} {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, _, at, _, err := avatar.Render(data, "image/webp", avatar.DefaultImageLimits)
			if err != nil || at != want {
				t.Errorf("%s: %v, %s; want %s", file, err, at, want)
			}
		}
	})
	t.Run("sizes: fitted, never scaled up; thumbnail a centre square", func(t *testing.T) {
		for _, tt := range []struct{ w, h, aw, ah, ts int }{
			{3000, 1000, 640, 213, 132},
			{1000, 3000, 213, 640, 132},
			{640, 640, 640, 640, 132},
			{100, 50, 100, 50, 50},
		} {
			a, th, _, _, err := avatar.Render(avatartest.JPEG(tt.w, tt.h), "image/jpeg", avatar.DefaultImageLimits)
			if err != nil {
				t.Fatal(err)
			}
			if cfg, _ := decodeConfig(t, a); cfg.Width != tt.aw || cfg.Height != tt.ah {
				t.Errorf("%d × %d: avatar %d × %d; want %d × %d", tt.w, tt.h, cfg.Width, cfg.Height, tt.aw, tt.ah)
			}
			if cfg, _ := decodeConfig(t, th); cfg.Width != tt.ts || cfg.Height != tt.ts {
				t.Errorf("%d × %d: thumbnail %d × %d; want %d square", tt.w, tt.h, cfg.Width, cfg.Height, tt.ts)
			}
		}
	})
}

// TestConfirmBusy: with every image slot taken, a confirm answers ErrBusy,
// records nothing, and the same confirm succeeds once a slot is free.
func TestConfirmBusy(t *testing.T) {
	ctx := context.Background()
	s := newService(t, func(c *avatar.Config) { c.ImageWorkers = 1 })
	avatar.SetImageWait(s.Service, 50*time.Millisecond)
	first, second := s.upload(t, "image/png", png), s.upload(t, "image/png", png)
	inside, release := make(chan struct{}), make(chan struct{})
	s.bucket.OnPeek = func(key string, n int) (avatar.ObjectInfo, []byte, error) {
		s.bucket.OnPeek = nil
		close(inside)
		<-release
		return s.bucket.Peek(ctx, key, n)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, _, err := s.Confirm(ctx, s.user.ID, first.ID); err != nil {
			t.Errorf("the confirm holding the slot: %v", err)
		}
	}()
	<-inside
	if _, _, err := s.Confirm(ctx, s.user.ID, second.ID); !errors.Is(err, avatar.ErrBusy) {
		t.Errorf("confirm with no slot free: %v; want ErrBusy", err)
	}
	if up, err := s.records.UploadForUser(ctx, s.user.ID, second.ID); err != nil || up.Status != avatar.UploadPending {
		t.Errorf("after the busy answer: %s, %v; want the upload still pending", up.Status, err)
	}
	close(release)
	wg.Wait()
	if _, got, err := s.Confirm(ctx, s.user.ID, second.ID); err != nil || got.Status != avatar.UploadConfirmed {
		t.Errorf("the retry: %+v %v; want it confirmed", got, err)
	}
}

// FuzzRender: whatever the bytes, Render answers renditions or a
// rejection with a reason, never a panic or another error, and what it
// writes decodes to at most the avatar's side.
func FuzzRender(f *testing.F) {
	f.Add(avatartest.PNG(40, 40, true), "image/png")
	f.Add(avatartest.WithEXIF(avatartest.JPEG(40, 48), 8, true), "image/jpeg")
	f.Add(avatartest.WithPNGChunk(avatartest.PNG(33, 40, false), "eXIf", []byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x05\x00\x00")), "image/png")
	f.Add(pngWithHeader(1<<20, 1<<20), "image/png")
	if webp, err := os.ReadFile("testdata/alpha.lossless.webp"); err == nil {
		f.Add(webp, "image/webp")
	}
	lim := avatar.DefaultImageLimits
	lim.AvatarSide, lim.ThumbSide = 48, 16
	f.Fuzz(func(t *testing.T, data []byte, contentType string) {
		a, th, _, _, err := avatar.Render(data, contentType, lim)
		var rej *avatar.RejectedError
		if err != nil {
			if !errors.As(err, &rej) || rej.Reason == "" {
				t.Fatalf("Render: %v; want renditions or a reasoned rejection", err)
			}
			return
		}
		for _, b := range [][]byte{a, th} {
			cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
			if err != nil || cfg.Width > 48 || cfg.Height > 48 {
				t.Fatalf("a rendition %d × %d, %v; want an image within 48 px", cfg.Width, cfg.Height, err)
			}
		}
	})
}
