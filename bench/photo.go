package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// photoSpec is one of the photos the confirm scenarios upload. They are
// generated, deterministically, rather than stored in the repository: smooth
// gradients and soft shapes for the scene, several octaves of value noise for
// texture and per-pixel noise for the sensor, which is what makes a JPEG of
// a photo as large as it is (a clean gradient compresses to almost nothing).
type photoSpec struct {
	Key string // the scenario's key
	// W×H are the stored pixels. The phone photo is stored landscape with
	// EXIF Orientation 6 (rotate 90° clockwise to display), as phones do,
	// so it displays as 3024×4032.
	W, H        int
	Seed        uint64
	Quality     int
	Orientation int // EXIF Orientation written in an APP1 segment; 0 for none
	// MinBytes and MaxBytes are the range the encoded size must land in
	// for the scenario to be realistic.
	MinBytes, MaxBytes int
}

var (
	photo1080 = photoSpec{Key: "confirm", W: 1080, H: 1080, Seed: 1080, Quality: 90,
		MinBytes: 150_000, MaxBytes: 600_000}
	photo12MP = photoSpec{Key: "confirm-12mp", W: 4032, H: 3024, Seed: 12, Quality: 90, Orientation: 6,
		MinBytes: 2_000_000, MaxBytes: 4_000_000}
)

// displaySize is the photo's size once its EXIF orientation is applied.
func (p photoSpec) displaySize() (w, h int) {
	if p.Orientation >= 5 && p.Orientation <= 8 {
		return p.H, p.W
	}
	return p.W, p.H
}

func (p photoSpec) describe(n int) string {
	w, h := p.displaySize()
	s := fmt.Sprintf("%d×%d JPEG q%d, %s", w, h, p.Quality, fmtBytes(int64(n)))
	if p.Orientation != 0 {
		s += fmt.Sprintf(", stored %d×%d with EXIF Orientation %d", p.W, p.H, p.Orientation)
	}
	return s
}

// loadPhoto returns the photo, generating it into dir the first time and
// reading it back after: once per run, not per request. It fails when the
// encoded size is out of the spec's range.
func loadPhoto(dir string, p photoSpec) ([]byte, error) {
	path := filepath.Join(dir, fmt.Sprintf("photo-%s-%dx%d-s%d-q%d-o%d.jpg", p.Key, p.W, p.H, p.Seed, p.Quality, p.Orientation))
	b, err := os.ReadFile(path)
	if err != nil {
		if b, err = makePhoto(p); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, err
		}
	}
	if len(b) < p.MinBytes || len(b) > p.MaxBytes {
		return nil, fmt.Errorf("the %s photo is %d bytes, out of its realistic range %d–%d: tune the generator", p.Key, len(b), p.MinBytes, p.MaxBytes)
	}
	return b, nil
}

// makePhoto renders and encodes the photo, with its EXIF segment if any.
func makePhoto(p photoSpec) ([]byte, error) {
	img := renderPhoto(p.W, p.H, p.Seed, p.Orientation == 6)
	var buf bytes.Buffer
	buf.Grow(p.MaxBytes)
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: p.Quality}); err != nil {
		return nil, err
	}
	if p.Orientation == 0 {
		return buf.Bytes(), nil
	}
	return insertEXIF(buf.Bytes(), p.Orientation)
}

// exifOrientation is an APP1 segment holding a minimal little-endian TIFF
// with one IFD of one entry: Orientation (0x0112), SHORT, the value given.
func exifOrientation(orientation int) []byte {
	var tiff []byte
	tiff = append(tiff, 'I', 'I', 0x2A, 0x00)             // little-endian TIFF
	tiff = binary.LittleEndian.AppendUint32(tiff, 8)      // IFD0 right after the header
	tiff = binary.LittleEndian.AppendUint16(tiff, 1)      // one entry
	tiff = binary.LittleEndian.AppendUint16(tiff, 0x0112) // Orientation
	tiff = binary.LittleEndian.AppendUint16(tiff, 3)      // SHORT
	tiff = binary.LittleEndian.AppendUint32(tiff, 1)      // one value
	tiff = binary.LittleEndian.AppendUint16(tiff, uint16(orientation))
	tiff = append(tiff, 0, 0)                        // the value field's other half
	tiff = binary.LittleEndian.AppendUint32(tiff, 0) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(2+len(payload))) // the length counts itself
	return append(seg, payload...)
}

// insertEXIF puts the orientation's APP1 segment right after the SOI marker,
// where a camera writes it.
func insertEXIF(jpg []byte, orientation int) ([]byte, error) {
	if len(jpg) < 4 || jpg[0] != 0xFF || jpg[1] != 0xD8 {
		return nil, fmt.Errorf("not a JPEG: % x", jpg[:min(4, len(jpg))])
	}
	seg := exifOrientation(orientation)
	out := make([]byte, 0, len(jpg)+len(seg))
	out = append(out, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...), nil
}

// renderPhoto paints w×h pixels of a scene: a sky-to-ground gradient, a few
// soft blobs (a subject, some light), textured by value noise, plus sensor
// noise. With rot6 the scene is painted turned 90° counterclockwise, so that
// it is upright once EXIF Orientation 6 is applied. Rows are painted in
// parallel; every pixel depends only on (x, y, seed).
func renderPhoto(w, h int, seed uint64, rot6 bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	sw, sh := w, h // the scene's (displayed) size
	if rot6 {
		sw, sh = h, w
	}
	scale := float64(max(w, h))
	type blob struct{ x, y, r, cr, cg, cb float64 }
	blobs := make([]blob, 5)
	for i := range blobs {
		u := func(k uint64) float64 { return unit(hash3(uint64(i), k, seed^0xB10B)) }
		blobs[i] = blob{x: 0.15 + 0.7*u(1), y: 0.15 + 0.7*u(2), r: 0.08 + 0.2*u(3),
			cr: 120*u(4) - 40, cg: 120*u(5) - 40, cb: 120*u(6) - 40}
	}
	horizon := 0.45 + 0.15*unit(hash3(7, 7, seed))
	rows := make(chan int, h)
	for y := range h {
		rows <- y
	}
	close(rows)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for y := range rows {
				line := img.Pix[y*img.Stride : y*img.Stride+4*w]
				for x := range w {
					sx, sy := x, y // the pixel in the scene
					if rot6 {
						sx, sy = h-1-y, x
					}
					nx, ny := float64(sx)/float64(sw), float64(sy)/float64(sh)
					// The scene: sky above a soft horizon, ground below.
					t := smoothstep(horizon-0.04, horizon+0.04, ny+0.03*math.Sin(nx*9+float64(seed%7)))
					r := lerp(110+60*ny, 92, t)
					g := lerp(150+50*ny, 112, t)
					b := lerp(215-30*ny, 64, t)
					for _, bl := range blobs {
						dx, dy := nx-bl.x, (ny-bl.y)*float64(sh)/float64(sw)
						k := math.Exp(-(dx*dx + dy*dy) / (bl.r * bl.r))
						r += bl.cr * k
						g += bl.cg * k
						b += bl.cb * k
					}
					// Texture: coarse shading everywhere, fine detail mostly
					// on the ground (grass, gravel), less in the sky.
					fx, fy := float64(sx), float64(sy)
					coarse := fbm(fx/scale*6, fy/scale*6, seed, 3)
					fine := fbm(fx/6, fy/6, seed+1, 3)
					detail := lerp(8, 34, t)
					lum := 28*coarse + detail*fine
					// Sensor noise: per pixel, mostly luminance, a little
					// chroma.
					n := hash3(uint64(sx), uint64(sy), seed)
					nl := (unit(n) + unit(n>>16) + unit(n>>32) - 1.5) * 9
					nc := (unit(n>>48) - 0.5) * 4
					line[4*x+0] = clamp8(r + lum + nl + nc)
					line[4*x+1] = clamp8(g + lum + nl)
					line[4*x+2] = clamp8(b + lum*0.8 + nl - nc)
					line[4*x+3] = 0xFF
				}
			}
		}()
	}
	wg.Wait()
	return img
}

// fbm is fractal value noise in about [-1, 1]: octaves of smoothly
// interpolated lattice noise, each at twice the frequency and half the
// amplitude of the last.
func fbm(x, y float64, seed uint64, octaves int) float64 {
	sum, amp, norm := 0.0, 1.0, 0.0
	for o := range octaves {
		sum += amp * valueNoise(x, y, seed+uint64(o)*0x9E37)
		norm += amp
		amp *= 0.5
		x, y = x*2.03, y*2.03
	}
	return sum / norm
}

func valueNoise(x, y float64, seed uint64) float64 {
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := x-x0, y-y0
	fx, fy = fx*fx*(3-2*fx), fy*fy*(3-2*fy)
	ix, iy := uint64(int64(x0)), uint64(int64(y0))
	v00 := unit(hash3(ix, iy, seed))
	v10 := unit(hash3(ix+1, iy, seed))
	v01 := unit(hash3(ix, iy+1, seed))
	v11 := unit(hash3(ix+1, iy+1, seed))
	return 2*lerp(lerp(v00, v10, fx), lerp(v01, v11, fx), fy) - 1
}

// hash3 mixes three words into 64 well-distributed bits (splitmix64's
// finalizer).
func hash3(a, b, c uint64) uint64 {
	z := a*0x9E3779B97F4A7C15 ^ b*0xC2B2AE3D27D4EB4F ^ c*0x165667B19E3779F9
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// unit maps the low 16 bits of h to [0, 1).
func unit(h uint64) float64 { return float64(h&0xFFFF) / 65536 }

func lerp(a, b, t float64) float64 { return a + (b-a)*t }

func smoothstep(e0, e1, x float64) float64 {
	t := math.Max(0, math.Min(1, (x-e0)/(e1-e0)))
	return t * t * (3 - 2*t)
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// fmtBytes renders a size in KB or MB (powers of ten, as photo sizes are
// usually quoted).
func fmtBytes(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 1_000:
		return fmt.Sprintf("%.0f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
