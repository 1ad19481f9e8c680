package avatar

import (
	"image"
	"math"
)

// The avatar is a small image made from a large one, and confirm's CPU
// budget (60 ms for a 1080² photo, 400 ms for a 12 MP one, decoding
// included) leaves little for scaling. golang.org/x/image/draw's
// Catmull-Rom took 30–70 ms for 1080² → 640² alone and 430 ms for 12 MP,
// disintegration/imaging's 32 ms and 200 ms: both convert every source
// pixel to 16-bit RGBA once per filter tap. Written by hand, then: a
// separable resampler over 8-bit planes with precomputed fixed-point
// weights (the approach of Pillow's and libvips's reducers), run on a JPEG's
// Y, Cb and Cr planes as decoded, so that the encoder reads them back
// without any colour conversion. A source more than twice the target is
// first reduced by a whole factor with a box filter, which reads each pixel
// once.

// plane is one channel, or ch interleaved channels, of 8-bit samples.
type plane struct {
	pix          []uint8
	w, h, stride int
	ch           int // channels per pixel
}

// weightBits is the fixed-point precision of the filter weights.
const weightBits = 14

// taps is, for each output position, the first input position and the
// weights of the inputs from there.
type taps struct {
	start   []int
	weights [][]int32
}

// catmullRom is the Catmull-Rom cubic (B = 0, C = ½): sharp, without the
// ringing of Lanczos on photos' edges.
func catmullRom(x float64) float64 {
	x = math.Abs(x)
	switch {
	case x < 1:
		return (1.5*x-2.5)*x*x + 1
	case x < 2:
		return ((-0.5*x+2.5)*x-4)*x + 2
	}
	return 0
}

// makeTaps computes the taps that take n inputs to m outputs (m ≤ n),
// the filter widened by n/m so that every input contributes.
func makeTaps(n, m int) taps {
	scale := float64(n) / float64(m)
	support := 2 * max(scale, 1)
	t := taps{start: make([]int, m), weights: make([][]int32, m)}
	for i := 0; i < m; i++ {
		center := (float64(i)+0.5)*scale - 0.5
		lo := max(int(math.Floor(center-support))+1, 0)
		hi := min(int(math.Ceil(center+support)), n-1)
		w := make([]float64, hi-lo+1)
		sum := 0.0
		for j := range w {
			w[j] = catmullRom((float64(lo+j) - center) / max(scale, 1))
			sum += w[j]
		}
		fixed := make([]int32, len(w))
		for j := range w {
			fixed[j] = int32(math.Round(w[j] / sum * (1 << weightBits)))
		}
		t.start[i], t.weights[i] = lo, fixed
	}
	return t
}

func clamp8(v int32) uint8 {
	v = (v + 1<<(weightBits-1)) >> weightBits
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// resize resamples p to w × h: horizontally, then vertically.
func (p plane) resize(w, h int) plane {
	if w == p.w && h == p.h {
		return p
	}
	if f := min(p.w/w, p.h/h); f >= 2 {
		p = p.box(f)
	}
	tx, ty := makeTaps(p.w, w), makeTaps(p.h, h)
	mid := plane{pix: make([]uint8, w*p.h*p.ch), w: w, h: p.h, stride: w * p.ch, ch: p.ch}
	for y := 0; y < p.h; y++ {
		row := p.pix[y*p.stride:]
		out := mid.pix[y*mid.stride:][:w*p.ch]
		if p.ch == 1 { // the planes of a JPEG: the hot loop, kept plain
			for x := range out {
				ws := tx.weights[x]
				src := row[tx.start[x]:][:len(ws)]
				var sum int32
				for j, wt := range ws {
					sum += int32(src[j]) * wt
				}
				out[x] = clamp8(sum)
			}
			continue
		}
		for x := 0; x < w; x++ {
			ws := tx.weights[x]
			src := row[tx.start[x]*p.ch:][:len(ws)*p.ch]
			for c := 0; c < p.ch; c++ {
				var sum int32
				for j, wt := range ws {
					sum += int32(src[j*p.ch+c]) * wt
				}
				out[x*p.ch+c] = clamp8(sum)
			}
		}
	}
	dst := plane{pix: make([]uint8, w*h*p.ch), w: w, h: h, stride: w * p.ch, ch: p.ch}
	rowLen := w * p.ch
	acc := make([]int32, rowLen)
	for y := 0; y < h; y++ {
		clear(acc)
		for j, wt := range ty.weights[y] {
			src := mid.pix[(ty.start[y]+j)*mid.stride:][:rowLen]
			for i, v := range src {
				acc[i] += int32(v) * wt
			}
		}
		out := dst.pix[y*dst.stride:][:rowLen]
		for i, v := range acc {
			out[i] = clamp8(v)
		}
	}
	return dst
}

// box reduces p by a whole factor f, each output the mean of an f × f block
// (the last blocks take what is left of the edge).
func (p plane) box(f int) plane {
	w, h := (p.w+f-1)/f, (p.h+f-1)/f
	dst := plane{pix: make([]uint8, w*h*p.ch), w: w, h: h, stride: w * p.ch, ch: p.ch}
	sums := make([]uint32, w*p.ch)
	counts := make([]uint32, w)
	for by := 0; by < h; by++ {
		clear(sums)
		clear(counts)
		for y := by * f; y < min((by+1)*f, p.h); y++ {
			row := p.pix[y*p.stride:][:p.w*p.ch]
			for bx := 0; bx < w; bx++ {
				block := row[bx*f*p.ch : min((bx+1)*f, p.w)*p.ch]
				counts[bx] += uint32(len(block) / p.ch)
				if p.ch == 1 {
					var sum uint32
					for _, v := range block {
						sum += uint32(v)
					}
					sums[bx] += sum
					continue
				}
				for i, v := range block {
					sums[bx*p.ch+i%p.ch] += uint32(v)
				}
			}
		}
		out := dst.pix[by*dst.stride:]
		for bx := 0; bx < w; bx++ {
			n := counts[bx]
			for c := 0; c < p.ch; c++ {
				out[bx*p.ch+c] = uint8((sums[bx*p.ch+c] + n/2) / n)
			}
		}
	}
	return dst
}

// crop is the sub-rectangle of p at (x, y), w × h, sharing its samples.
func (p plane) crop(x, y, w, h int) plane {
	return plane{pix: p.pix[y*p.stride+x*p.ch:], w: w, h: h, stride: p.stride, ch: p.ch}
}

// picture is an image as planes: a YCbCr 4:2:0 one (y, cb, cr; ch 1) or an
// RGBA one, premultiplied (rgba; ch 4).
type picture struct {
	y, cb, cr plane
	rgba      plane
	w, h      int
}

// toPicture takes img's planes as they are when it is YCbCr (any
// subsampling: the chroma planes are resampled with their own sizes), and
// converts anything else to premultiplied RGBA.
func toPicture(img image.Image) picture {
	b := img.Bounds()
	if yc, ok := img.(*image.YCbCr); ok {
		cw, ch := chromaSize(yc)
		return picture{
			y:  plane{pix: yc.Y[yc.YOffset(b.Min.X, b.Min.Y):], w: b.Dx(), h: b.Dy(), stride: yc.YStride, ch: 1},
			cb: plane{pix: yc.Cb[yc.COffset(b.Min.X, b.Min.Y):], w: cw, h: ch, stride: yc.CStride, ch: 1},
			cr: plane{pix: yc.Cr[yc.COffset(b.Min.X, b.Min.Y):], w: cw, h: ch, stride: yc.CStride, ch: 1},
			w:  b.Dx(), h: b.Dy(),
		}
	}
	var rgba *image.RGBA
	switch m := img.(type) {
	case *image.RGBA: // an opaque PNG's
		rgba = m
	case *image.NRGBA: // a PNG or WebP with alpha: premultiplied where it lies, not copied
		premultiply(m)
		rgba = &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
	default: // grey, paletted, 16-bit, CMYK: converted
		rgba = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		drawSrc(rgba, img)
	}
	pix := rgba.Pix[rgba.PixOffset(rgba.Rect.Min.X, rgba.Rect.Min.Y):]
	return picture{rgba: plane{pix: pix, w: b.Dx(), h: b.Dy(), stride: rgba.Stride, ch: 4}, w: b.Dx(), h: b.Dy()}
}

// premultiply turns m's colours into RGBA's, in place: a second copy of a
// 16 MP image would be 64 MB more per decode.
func premultiply(m *image.NRGBA) {
	for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
		row := m.Pix[m.PixOffset(m.Rect.Min.X, y):][:m.Rect.Dx()*4]
		for i := 0; i < len(row); i += 4 {
			if a := uint32(row[i+3]); a != 0xff {
				row[i] = uint8((uint32(row[i])*a + 127) / 255)
				row[i+1] = uint8((uint32(row[i+1])*a + 127) / 255)
				row[i+2] = uint8((uint32(row[i+2])*a + 127) / 255)
			}
		}
	}
}

// chromaSize is the size of yc's chroma planes.
func chromaSize(yc *image.YCbCr) (w, h int) {
	b := yc.Rect
	w, h = b.Dx(), b.Dy()
	switch yc.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		w = (w + 1) / 2
	case image.YCbCrSubsampleRatio420:
		w, h = (w+1)/2, (h+1)/2
	case image.YCbCrSubsampleRatio440:
		h = (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		w = (w + 3) / 4
	case image.YCbCrSubsampleRatio410:
		w, h = (w+3)/4, (h+1)/2
	}
	return w, h
}

func (p picture) isYCbCr() bool { return p.rgba.pix == nil }

// resize is p at w × h; a YCbCr picture comes out 4:2:0.
func (p picture) resize(w, h int) picture {
	if !p.isYCbCr() {
		return picture{rgba: p.rgba.resize(w, h), w: w, h: h}
	}
	cw, ch := (w+1)/2, (h+1)/2
	return picture{y: p.y.resize(w, h), cb: p.cb.resize(cw, ch), cr: p.cr.resize(cw, ch), w: w, h: h}
}

// centreSquare is the largest square at the centre of p.
func (p picture) centreSquare() picture {
	s := min(p.w, p.h)
	x, y := (p.w-s)/2, (p.h-s)/2
	if !p.isYCbCr() {
		return picture{rgba: p.rgba.crop(x, y, s, s), w: s, h: s}
	}
	// Chroma at half resolution: even offsets keep the planes aligned.
	x, y = x&^1, y&^1
	cs := (s + 1) / 2
	return picture{y: p.y.crop(x, y, s, s), cb: p.cb.crop(x/2, y/2, min(cs, p.cb.w-x/2), min(cs, p.cb.h-y/2)),
		cr: p.cr.crop(x/2, y/2, min(cs, p.cr.w-x/2), min(cs, p.cr.h-y/2)), w: s, h: s}
}

// image is p as an image the encoders read without conversion.
func (p picture) image() image.Image {
	if !p.isYCbCr() {
		return &image.RGBA{Pix: p.rgba.pix, Stride: p.rgba.stride, Rect: image.Rect(0, 0, p.w, p.h)}
	}
	return &image.YCbCr{Y: p.y.pix, Cb: p.cb.pix, Cr: p.cr.pix, YStride: p.y.stride, CStride: p.cb.stride,
		SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, p.w, p.h)}
}

// opaque reports whether p has no transparent pixel.
func (p picture) opaque() bool {
	if p.isYCbCr() {
		return true
	}
	for y := 0; y < p.h; y++ {
		row := p.rgba.pix[y*p.rgba.stride:][:p.w*4]
		for i := 3; i < len(row); i += 4 {
			if row[i] != 0xff {
				return false
			}
		}
	}
	return true
}

// orient applies an EXIF orientation (2–8) to each plane; 1 and anything
// else leave p as it is.
func (p picture) orient(o int) picture {
	if o < 2 || o > 8 {
		return p
	}
	w, h := p.w, p.h
	if o >= 5 {
		w, h = h, w
	}
	if !p.isYCbCr() {
		return picture{rgba: p.rgba.orient(o), w: w, h: h}
	}
	return picture{y: p.y.orient(o), cb: p.cb.orient(o), cr: p.cr.orient(o), w: w, h: h}
}

// orient maps each sample of p to where orientation o displays it.
func (p plane) orient(o int) plane {
	w, h := p.w, p.h
	dw, dh := w, h
	if o >= 5 { // 5–8 swap the axes
		dw, dh = h, w
	}
	dst := plane{pix: make([]uint8, dw*dh*p.ch), w: dw, h: dh, stride: dw * p.ch, ch: p.ch}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // rotated 180°
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored vertically
				dx, dy = x, h-1-y
			case 5: // transposed
				dx, dy = y, x
			case 6: // rotated 90° clockwise to display
				dx, dy = h-1-y, x
			case 7: // transversed
				dx, dy = h-1-y, w-1-x
			case 8: // rotated 90° counter-clockwise to display
				dx, dy = y, w-1-x
			}
			copy(dst.pix[dy*dst.stride+dx*p.ch:][:p.ch], p.pix[y*p.stride+x*p.ch:][:p.ch])
		}
	}
	return dst
}
