package avatar

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"golang.org/x/text/unicode/norm"
)

// The nickname rule's limits. Go's unicode tables (unicode.Version is 15.0.0
// in Go 1.26), x/text's norm and uniseg v0.4.7 all follow Unicode 15.0.0, so
// they agree on what is assigned and how it clusters; a code point added
// later (U+1FAE9, a Unicode 16 emoji) is refused as unassigned until they move
// on together.
const (
	// maxNicknameChars counts what a reader sees as one character: UAX #29
	// extended grapheme clusters, so "👨‍👩‍👧‍👦" or "é" typed as e + U+0301 is one.
	maxNicknameChars = 32
	// maxNicknameBytes is 32 characters of 8 bytes of UTF-8: 32 of any single
	// code point (CJK is 3), of a letter with a mark, of emoji with a skin tone
	// or of flags; ten family emoji (25 bytes) or nine tag flags (28). Only
	// clusters no name needs 32 of run past it.
	maxNicknameBytes = 256
	// maxMarksPerBase caps combining marks after one base character: the
	// Burmese "မျှော်" puts five on one consonant, Tibetan stacks and pointed
	// Hebrew three or four; "Zalgo" text piles dozens that spill over the lines
	// above and below.
	maxMarksPerBase = 5
	// maxJoinersPerChar: Unicode's longest recommended emoji ZWJ sequences (a
	// family of four, a kiss with two skin tones) join four emoji with three
	// ZWJs. A longer chain is still one cluster but shows as many emoji.
	maxJoinersPerChar = 3

	zwnj      = '\u200c'
	zwj       = '\u200d'
	blackFlag = '\U0001F3F4' // the only base of Unicode's recommended emoji tag sequences
	cancelTag = '\U000E007F'
)

// joiningScripts are the cursive scripts whose letters join (Joining_Type
// D, L or R in ArabicShaping.txt), where a ZWNJ between two letters breaks
// the join: the Persian "علی‌رضا". Go has no Joining_Type table; the script
// stands in for it.
var joiningScripts = []*unicode.RangeTable{
	unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mongolian, unicode.Mandaic, unicode.Manichaean,
	unicode.Psalter_Pahlavi, unicode.Adlam, unicode.Hanifi_Rohingya, unicode.Sogdian, unicode.Old_Uyghur,
	unicode.Phags_Pa, unicode.Chorasmian,
}

// normalizeNickname applies the contract's nickname rule. It trims
// surrounding white space and puts the name in NFC, so that the same name
// typed on two keyboards is stored the same way; then the name must be 1–32
// characters (grapheme clusters) and at most maxNicknameBytes, and every code
// point must be visible or have a job where it stands (nicknameRunes).
func normalizeNickname(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	if s == "" || len(s) > maxNicknameBytes || !nicknameChars(s) || !nicknameRunes([]rune(s)) {
		return "", false
	}
	return s, true
}

// nicknameChars reports whether s has at most maxNicknameChars grapheme
// clusters, none with more than maxJoinersPerChar ZWJs.
func nicknameChars(s string) bool {
	n, state := 0, -1
	for s != "" {
		var c string
		c, s, _, state = uniseg.FirstGraphemeClusterInString(s, state)
		if n++; n > maxNicknameChars || strings.Count(c, string(zwj)) > maxJoinersPerChar {
			return false
		}
	}
	return true
}

// nicknameRunes reports whether every code point of the trimmed name is one
// a person types and a reader sees, or an invisible one where it does its
// job:
//   - letters, digits, punctuation and symbols, except those that render as
//     nothing (blankBase);
//   - a space, no-break space or ideographic space between them;
//   - up to maxMarksPerBase combining marks after one of those or a space
//     (the space shows a mark alone); a variation selector only right after
//     a base;
//   - a ZWJ after a virama (an Indic half form or conjunct, the old Malayalam
//     chillu, which may end the name), between a letter and a virama (the
//     Bengali "র‍্য" of Ryan) or between two emoji;
//   - a ZWNJ before a letter, after a virama or between letters of a cursive
//     script;
//   - tag characters only as 🏴's subdivision flag: 3–7 tag letters or digits
//     (a CLDR subdivision id like "gbeng") ended by CANCEL TAG.
//
// Everything else is refused: controls, other format characters (bidi
// controls, ZWSP, word joiner, BOM, soft hyphen), line and paragraph
// separators, other spaces, private use, noncharacters and unassigned code
// points (Cn: in none of Go's category tables).
func nicknameRunes(rs []rune) bool {
	marks := 0 // combining marks since the last base
	for i := 0; i < len(rs); i++ {
		r, prev, next := rs[i], runeAt(rs, i-1), runeAt(rs, i+1)
		if !unicode.Is(unicode.M, r) {
			marks = 0
		}
		switch {
		case r == blackFlag && isTag(next):
			end := i + 1
			for end < len(rs) && isTagAlnum(rs[end]) {
				end++
			}
			if n := end - i - 1; n < 3 || n > 7 || runeAt(rs, end) != cancelTag {
				return false
			}
			i = end
		case isBase(r):
			if blankBase(r) {
				return false
			}
		case isSpace(r):
			// Only between other characters: trimming took the ends.
		case unicode.Is(unicode.M, r):
			marks++
			if marks > maxMarksPerBase || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
				return false
			}
			if unicode.Is(unicode.Variation_Selector, r) {
				if !isBase(prev) {
					return false
				}
			} else if !isBase(prev) && !unicode.Is(unicode.M, prev) && !isSpace(prev) && !(prev == zwj && isVirama(r) && unicode.IsLetter(runeAt(rs, i-2))) {
				return false
			}
		case r == zwj:
			if !isVirama(prev) && !(unicode.IsLetter(prev) && isVirama(next)) && !(emojiPart(prev) && emojiBase(next)) {
				return false
			}
		case r == zwnj:
			if !unicode.IsLetter(next) || !isVirama(prev) && !sameJoiningScript(baseBefore(rs, i), next) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// runeAt returns rs[i], or -1 past either end.
func runeAt(rs []rune, i int) rune {
	if i < 0 || i >= len(rs) {
		return -1
	}
	return rs[i]
}

// isBase reports whether r is a character that combining marks may follow.
// Blank ones never get here: nicknameRunes refuses them first.
func isBase(r rune) bool {
	return unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S)
}

// isSpace reports whether r is one of the spaces a name may have inside:
// those keyboards type (the ideographic one in full-width input). The
// typographic spaces (U+2000–U+200A and the like) only make gaps of odd
// widths.
func isSpace(r rune) bool { return r == ' ' || r == '\u00a0' || r == '\u3000' }

// blankBase reports whether r is a letter or symbol that renders as nothing:
// the Hangul fillers and the other default-ignorable letters, the blank
// Braille pattern and the musical null notehead, the favourites for blank
// user names.
func blankBase(r rune) bool {
	return unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || r == '\u2800' || r == '\U0001D159'
}

// isVirama reports whether r is a virama (canonical combining class 9): the
// sign that kills a consonant's vowel, after which ZWJ and ZWNJ choose the
// conjunct's shape.
func isVirama(r rune) bool {
	return r >= 0 && norm.NFC.PropertiesString(string(r)).CCC() == 9
}

func isTag(r rune) bool { return r >= '\U000E0020' && r <= cancelTag }

// isTagAlnum reports whether r is a tag digit or small tag letter, the only
// ones a subdivision id uses.
func isTagAlnum(r rune) bool {
	return r >= '\U000E0030' && r <= '\U000E0039' || r >= '\U000E0061' && r <= '\U000E007A'
}

// baseBefore returns the code point before rs[i] that its marks belong to.
func baseBefore(rs []rune, i int) rune {
	for i--; i >= 0 && unicode.Is(unicode.M, rs[i]); i-- {
	}
	return runeAt(rs, i)
}

// sameJoiningScript reports whether a and b are letters of one cursive
// script.
func sameJoiningScript(a, b rune) bool {
	if !unicode.IsLetter(a) || !unicode.IsLetter(b) {
		return false
	}
	for _, t := range joiningScripts {
		if unicode.Is(t, a) && unicode.Is(t, b) {
			return true
		}
	}
	return false
}

// emojiBase reports whether r can start or continue an emoji ZWJ sequence.
// Go's unicode tables lack Extended_Pictographic; symbols (So) and the
// pictograph blocks cover every RGI ZWJ sequence.
func emojiBase(r rune) bool {
	return unicode.Is(unicode.So, r) ||
		(r >= 0x1F000 && r <= 0x1FAFF) ||
		(r >= 0x2600 && r <= 0x27BF)
}

// emojiPart is what may stand right before a ZWJ: an emoji, a skin-tone
// modifier or the emoji presentation selector.
func emojiPart(r rune) bool {
	return emojiBase(r) || (r >= 0x1F3FB && r <= 0x1F3FF) || r == '\ufe0f'
}
