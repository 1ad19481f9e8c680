package avatar

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"strings"

	"image/draw"

	"golang.org/x/image/webp"
)

// ImageLimits bound what confirm decodes and what it writes.
type ImageLimits struct {
	// MaxSide and MaxPixels bound the stored image, read from its header
	// before anything is decoded: a 48 KB PNG can claim 20000 × 20000
	// pixels and take 1.6 GB to decode.
	MaxSide, MaxPixels int
	// MinSide is the shortest side accepted.
	MinSide int
	// AvatarSide is the avatar's longest side; smaller images keep theirs.
	AvatarSide int
	// ThumbSide is the side of the square thumbnail.
	ThumbSide int
}

// DefaultImageLimits suit avatars: a 12 MP phone photo passes, WeChat's own
// 46 px avatars too, and the avatar is as large as WeChat serves its own.
var DefaultImageLimits = ImageLimits{MaxSide: 4096, MaxPixels: 16_000_000, MinSide: 32, AvatarSide: 640, ThumbSide: 132}

func (l ImageLimits) validate() error {
	switch {
	case l.MinSide < 1 || l.MaxSide < l.MinSide || l.MaxPixels < l.MinSide*l.MinSide:
		return errors.New("avatar: image limits: want 1 ≤ MinSide ≤ MaxSide and MaxPixels ≥ MinSide²")
	case l.AvatarSide < 1 || l.ThumbSide < 1 || l.ThumbSide > l.AvatarSide:
		return errors.New("avatar: image limits: want 1 ≤ ThumbSide ≤ AvatarSide")
	}
	return nil
}

// The reasons a rejection names (RejectedError.Reason), stable for clients.
const (
	ReasonNotAnImage        = "not_an_image"       // does not decode completely as the declared type
	ReasonTooManyPixels     = "too_many_pixels"    // a side or the area over ImageLimits
	ReasonTooSmall          = "too_small"          // a side under ImageLimits.MinSide
	ReasonUnsupportedFormat = "unsupported_format" // an image no pure-Go decoder reads (HEIC, AVIF, …)
	ReasonTooLarge          = "too_large"          // more bytes than the upload allowed, or none
	ReasonWrongContentType  = "wrong_content_type" // stored with another Content-Type than declared
	ReasonStorageClass      = "storage_class"      // not in the STANDARD storage class
	ReasonUnreadable        = "unreadable"         // storage will not give its bytes (encrypted with the uploader's key)
)

// rendition is an image we wrote: its bytes and their type.
type rendition struct {
	data        []byte
	contentType string
}

// renditions are what confirm stores of an accepted image.
type renditions struct {
	avatar, thumb rendition
}

// render decodes data as contentType and writes the avatar and the
// thumbnail from its pixels alone: orientation applied, no metadata, no
// byte of the client's file. A refusal is a *RejectedError.
//
// Bytes after the end of a complete image (a ZIP appended to a PNG, the
// video of a "motion photo" JPEG) are ignored rather than refused: nothing
// but the decoded pixels reaches the keys we write, and phones append
// such data to ordinary photos.
func render(data []byte, contentType string, lim ImageLimits) (renditions, error) {
	img, err := decode(data, contentType, lim)
	if err != nil {
		return renditions{}, err
	}
	pic := toPicture(img)
	// Scaled first, then turned: turning the small image is cheaper.
	w, h := fitSize(pic.w, pic.h, lim.AvatarSide)
	avatar := pic.resize(w, h).orient(orientation(data, contentType))
	side := min(lim.ThumbSide, avatar.w, avatar.h)
	thumb := avatar.centreSquare().resize(side, side)
	opaque := avatar.opaque()
	a, err := encode(avatar.image(), opaque)
	if err != nil {
		return renditions{}, err
	}
	t, err := encode(thumb.image(), opaque)
	if err != nil {
		return renditions{}, err
	}
	return renditions{avatar: a, thumb: t}, nil
}

// fitSize is w × h scaled down so that its longest side is at most side;
// never up.
func fitSize(w, h, side int) (int, int) {
	switch {
	case w <= side && h <= side:
		return w, h
	case w >= h:
		return side, max(1, (h*side+w/2)/w)
	default:
		return max(1, (w*side+h/2)/h), side
	}
}

// drawSrc copies src into dst, converting its colours.
func drawSrc(dst *image.RGBA, src image.Image) {
	draw.Draw(dst, dst.Bounds(), src, src.Bounds().Min, draw.Src)
}

// decode checks the header's dimensions, then decodes the whole image.
func decode(data []byte, contentType string, lim ImageLimits) (image.Image, error) {
	kind := sniffImage(data)
	if kind != contentType {
		if other := sniffUnsupported(data); other != "" {
			return nil, &RejectedError{Reason: ReasonUnsupportedFormat,
				Message: fmt.Sprintf("the stored image is %s, which cannot be read; upload a JPEG, PNG or WebP", other)}
		}
		return nil, notAn(contentType)
	}
	var decodeConfig func([]byte) (image.Config, error)
	var decodeAll func([]byte) (image.Image, error)
	switch contentType {
	case "image/jpeg":
		decodeConfig = func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
		decodeAll = func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }
	case "image/png":
		decodeConfig = func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
		decodeAll = func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }
	case "image/webp":
		decodeConfig = func(b []byte) (image.Config, error) { return webp.DecodeConfig(bytes.NewReader(b)) }
		decodeAll = func(b []byte) (image.Image, error) { return webp.Decode(bytes.NewReader(b)) }
	default:
		return nil, notAn(contentType)
	}
	var w, h int
	if ihdr := pngIHDR(data); ihdr != nil {
		// Read here, not by png.DecodeConfig, which refuses as malformed a
		// header whose pixel count overflows an int: 2^31 × 2^31 is within
		// PNG's own limits, and too many pixels is the truth of it.
		w, h = int(binary.BigEndian.Uint32(ihdr)), int(binary.BigEndian.Uint32(ihdr[4:]))
	}
	if w > lim.MaxSide || h > lim.MaxSide || w > lim.MaxPixels/max(h, 1) {
		return nil, tooManyPixels(w, h, lim)
	}
	cfg, err := decodeConfig(data)
	if err != nil {
		return nil, notAn(contentType)
	}
	w, h = cfg.Width, cfg.Height
	switch {
	case w > lim.MaxSide || h > lim.MaxSide || w*h > lim.MaxPixels:
		return nil, tooManyPixels(w, h, lim)
	case w < lim.MinSide || h < lim.MinSide:
		return nil, &RejectedError{Reason: ReasonTooSmall,
			Message: fmt.Sprintf("the image is %d × %d pixels; at least %d on a side", w, h, lim.MinSide)}
	}
	img, err := decodeAll(data)
	if err != nil {
		return nil, notAn(contentType)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		return nil, notAn(contentType) // the header lied about the pixels that follow
	}
	return img, nil
}

// pngIHDR is the data of a PNG's first chunk when it is a well-formed IHDR
// (13 bytes, its CRC right), nil otherwise.
func pngIHDR(b []byte) []byte {
	if len(b) < 33 || !bytes.HasPrefix(b, pngSignature) || string(b[8:16]) != "\x00\x00\x00\x0dIHDR" ||
		crc32.ChecksumIEEE(b[12:29]) != binary.BigEndian.Uint32(b[29:]) {
		return nil
	}
	return b[16:29]
}

func tooManyPixels(w, h int, lim ImageLimits) *RejectedError {
	return &RejectedError{Reason: ReasonTooManyPixels,
		Message: fmt.Sprintf("the image is %d × %d pixels; at most %d on a side and %d in all", w, h, lim.MaxSide, lim.MaxPixels)}
}

func notAn(contentType string) *RejectedError {
	return &RejectedError{Reason: ReasonNotAnImage,
		Message: fmt.Sprintf("the stored bytes are not a complete %s image", strings.TrimPrefix(contentType, "image/"))}
}

// jpegQuality: at 640 px, 85 keeps a photo free of visible artefacts at
// about a tenth of its PNG size.
const jpegQuality = 85

// encode writes img as JPEG when it is opaque and PNG when it has any
// transparency. Neither encoder writes metadata: no EXIF, XMP, ICC profile,
// comment or text chunk can come out.
func encode(img image.Image, opaque bool) (rendition, error) {
	var buf bytes.Buffer
	if opaque {
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
			return rendition{}, err
		}
		return rendition{data: buf.Bytes(), contentType: "image/jpeg"}, nil
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return rendition{}, err
	}
	return rendition{data: buf.Bytes(), contentType: "image/png"}, nil
}
