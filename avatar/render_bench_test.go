package avatar_test

import (
	"testing"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/avatar/avatartest"
)

// BenchmarkRender measures confirm's decoding and re-encoding of a square
// 1080 px photo and of a 12 MP phone photo (issue 15's targets: 60 ms and
// 400 ms of CPU per confirm on the README's 2-core machine).
func BenchmarkRender(b *testing.B) {
	for _, tt := range []struct {
		name string
		w, h int
	}{{"1080x1080", 1080, 1080}, {"3024x4032", 3024, 4032}} {
		photo := avatartest.Photo(tt.w, tt.h, 1)
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(photo)))
			for b.Loop() {
				if _, _, _, _, err := avatar.Render(photo, "image/jpeg", avatar.DefaultImageLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
