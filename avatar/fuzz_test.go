package avatar

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"golang.org/x/text/unicode/norm"
)

// FuzzNickname checks normalizeNickname against the contract's rule, stated
// independently of the implementation (and more loosely where the
// implementation needs tables): the result is the input trimmed and in NFC,
// 1–32 grapheme clusters and at most 256 bytes; normalizing it again changes
// nothing. Every code point is a letter, digit, punctuation or symbol that
// is not a blank filler; a space, no-break space or ideographic space; a
// combining mark (at most five in a row) after one of those or a space, a
// variation selector only right after a base; a ZWJ after a virama, before
// one, or between emoji; a ZWNJ
// before a letter, after a virama or a letter; or a tag character inside
// 🏴…U+E007F. Nothing else: no control, other format character, other space,
// line or paragraph separator, private use, noncharacter or unassigned code
// point.
func FuzzNickname(f *testing.F) {
	for _, s := range []string{
		"Alice", "  小明  ", "\u3000小明\t\n", "e\u0301", "👨\u200d👩\u200d👧", "👍🏽\u200d", "a\u200db",
		"\u200d👩", "👩\u200d\u200d👩", "🏳\ufe0f\u200d🌈", "x\u202ey", "\u202eevil", "\ufeffbom", "x\u0000y",
		"x\u007fy", "\u0085x\u0085", "\u2028x\u2029", "", " ", "\xff", "\xc0\xaf", "\xed\xa0\x80", "\ufffd",
		strings.Repeat("😀", 32), strings.Repeat("😀", 33), strings.Repeat("名", 32) + " ",
		strings.Repeat("e\u0301", 32), strings.Repeat("\u0301", 40), "ﬀ", "\u2000x\u2001", "Å", "Å",
		"'; DROP TABLE users; --", "../../etc/passwd", "<script>alert(1)</script>",
		"🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "\u3164", "\U0001F3FB\u200d😀",
		"\u0639\u0644\u06cc\u200c\u0631\u0636\u0627", "\u0915\u094d\u200d\u0937", "\u0915\u094d\u200c\u0937",
		"\u0dc1\u0dca\u200d\u0dbb\u0dd3", "\u09b0\u200d\u09cd\u09af", "(\u0361\u00b0 \u035c\u0296 \u0361\u00b0)", "\u0d05\u0d30\u0d4d\u200d\u0d1c\u0d41\u0d28\u0d4d\u200d",
		"👨\u200d👩\u200d👧\u200d👦", "\u115f\u1160\uffa0", "\u2800 \u2800", "\u3164Alice\u3164", "\U0001D159",
		"a\u034fb", "\u0301abc", "a \u0301b", "q\u0300\u0301\u0302\u0303\u0304\u0306", "\u1019\u103b\u103e\u1031\u102c\u103a",
		"a\ufdd0", "a\uffff", "a\U0010ffff", "a\u0378", "a\ue000", "a\u2066b\u2069", "a\u00adb", "Auf\u200clage",
		"\U0001F3F4\U000E0048\U000E0049\U000E007F", "\U0001F3F4\U000E0067\U000E0062\U000E0065", "1\ufe0f\u20e3",
		"\u2764\ufe0f\ufe0f", "\u845b\U000E0100", "Jean\u00a0Luc", "a\u2003b", "a\u202fb",
		"😀\u200d😀\u200d😀\u200d😀\u200d😀", strings.Repeat("👨\u200d👩\u200d👧\u200d👦", 11),
	} {
		f.Add(s)
	}
	blank := map[rune]bool{
		'\u115f': true, '\u1160': true, '\u3164': true, '\uffa0': true, '\u2800': true, '\U0001D159': true,
		'\u034f': true, '\u17b4': true, '\u17b5': true,
	}
	visible := func(r rune) bool {
		return r >= 0 && !blank[r] && unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := normalizeNickname(in)
		if !ok {
			if got != "" {
				t.Fatalf("normalizeNickname(%q) = %q, false; want \"\" when refused", in, got)
			}
			return
		}
		if !utf8.ValidString(in) {
			t.Fatalf("normalizeNickname(%q) accepts invalid UTF-8", in)
		}
		if want := norm.NFC.String(strings.TrimSpace(in)); got != want {
			t.Fatalf("normalizeNickname(%q) = %q; want the trimmed NFC %q", in, got, want)
		}
		if !utf8.ValidString(got) || !norm.NFC.IsNormalString(got) || strings.TrimSpace(got) != got {
			t.Fatalf("normalizeNickname(%q) = %q: not valid, NFC and trimmed", in, got)
		}
		if n := uniseg.GraphemeClusterCount(got); n < 1 || n > 32 || len(got) > 256 {
			t.Fatalf("normalizeNickname(%q) = %q: %d characters, %d bytes", in, got, n, len(got))
		}
		runes := []rune(got)
		at := func(i int) rune {
			if i < 0 || i >= len(runes) {
				return -1
			}
			return runes[i]
		}
		virama := func(r rune) bool { return r >= 0 && norm.NFC.PropertiesString(string(r)).CCC() == 9 }
		marks, inTags := 0, false
		for i, r := range runes {
			prev, next := at(i-1), at(i+1)
			if unicode.Is(unicode.M, r) {
				marks++
			} else {
				marks = 0
			}
			var fine bool
			switch {
			case r >= 0xE0020 && r <= 0xE007F:
				fine = inTags || prev == 0x1F3F4
				inTags = fine && r != 0xE007F
			case inTags:
				fine = false
			case visible(r):
				fine = true
			case r == ' ' || r == '\u00a0' || r == '\u3000':
				fine = true
			case unicode.Is(unicode.Variation_Selector, r):
				fine = visible(prev)
			case unicode.Is(unicode.M, r):
				fine = !blank[r] && marks <= 5 && (visible(prev) || unicode.Is(unicode.M, prev) ||
					prev == ' ' || prev == '\u00a0' || prev == '\u3000' || prev == '\u200d' && virama(r))
			case r == '\u200d':
				fine = virama(prev) || virama(next) || emojiLike(prev) && emojiLike(next)
			case r == '\u200c':
				fine = unicode.IsLetter(next) && (virama(prev) || unicode.IsLetter(prev) || unicode.Is(unicode.M, prev))
			}
			if !fine {
				t.Fatalf("normalizeNickname(%q) = %q keeps %U at %d", in, got, r, i)
			}
		}
		if inTags {
			t.Fatalf("normalizeNickname(%q) = %q: a tag sequence without its end", in, got)
		}
		again, ok2 := normalizeNickname(got)
		if !ok2 || again != got {
			t.Fatalf("normalizeNickname not idempotent: %q → %q → %q, %v", in, got, again, ok2)
		}
	})
}

// emojiLike is deliberately looser than the handler's emojiPart/emojiBase:
// it only refuses what can never be part of an emoji ZWJ sequence.
func emojiLike(r rune) bool {
	if r == '\ufe0f' { // emoji presentation selector (Mn)
		return true
	}
	return r > 0x7f && r != '\u200d' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) &&
		!unicode.In(r, unicode.Cc, unicode.Cf, unicode.Mn, unicode.P)
}

// FuzzSniffImage holds sniffImage to the magic-byte rules, written out again
// here, and checks that its answer depends only on the sniffPrefix bytes
// confirm reads.
func FuzzSniffImage(f *testing.F) {
	png := append(append([]byte{}, pngSignature...), 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0)
	for _, b := range [][]byte{
		nil, {}, {0xFF}, {0xFF, 0xD8}, {0xFF, 0xD8, 0xFF}, {0xFF, 0xD8, 0xFF, 0xE0}, {0xFF, 0xD8, 0xFE, 0xE0},
		png, png[:15], png[:16], append(append([]byte{}, png[:12]...), "IHDX"...),
		[]byte("RIFF\x24\x00\x00\x00WEBPVP8 \x00\x00"), []byte("RIFF\x24\x00\x00\x00WEBPVP8L"),
		[]byte("RIFF\x24\x00\x00\x00WEBPVP8X"), []byte("RIFF\x24\x00\x00\x00WEBPVP8"),
		[]byte("RIFF\x24\x00\x00\x00WEBPVP8x"), []byte("RIFF\x24\x00\x00\x00WAVEfmt "),
		[]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00"), []byte("<svg xmlns='http://www.w3.org/2000/svg'>"),
		[]byte("<html><script>alert(1)</script>"), []byte("%PDF-1.7"), []byte("\x00\x00\x00\x18ftypheic"),
		bytes.Repeat([]byte{0xFF}, 64),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := sniffImage(b)
		want := ""
		switch {
		case len(b) >= 4 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
			want = "image/jpeg"
		case len(b) >= 16 && string(b[:8]) == "\x89PNG\r\n\x1a\n" && string(b[12:16]) == "IHDR":
			want = "image/png"
		case len(b) >= 16 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP" &&
			(string(b[12:16]) == "VP8 " || string(b[12:16]) == "VP8L" || string(b[12:16]) == "VP8X"):
			want = "image/webp"
		}
		if got != want {
			t.Fatalf("sniffImage(%q) = %q; want %q", b, got, want)
		}
		if _, ok := imageExt[got]; got != "" && !ok {
			t.Fatalf("sniffImage(%q) = %q: not an accepted type", b, got)
		}
		if len(b) > sniffPrefix {
			if p := sniffImage(b[:sniffPrefix]); p != got {
				t.Fatalf("sniffImage depends on bytes past the prefix: %q vs %q for %q", p, got, b)
			}
		}
		if got != "" {
			if more := sniffImage(append(append([]byte{}, b...), 0, 1, 2)); more != got {
				t.Fatalf("sniffImage(%q) = %q, but with bytes appended %q", b, got, more)
			}
		}
	})
}
