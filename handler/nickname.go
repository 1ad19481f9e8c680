package handler

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	maxNicknameRunes = 32
	zwj              = '\u200d'
)

// normalizeNickname applies the contract's nickname rule: trim surrounding
// white space, then 1–32 characters with no control (Cc) or format (Cf)
// characters, except a ZWJ joining two emoji. The result is NFC so that the
// same name typed on two keyboards is stored the same way.
func normalizeNickname(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	n := utf8.RuneCountInString(s)
	if n < 1 || n > maxNicknameRunes {
		return "", false
	}
	runes := []rune(s)
	for i, r := range runes {
		if r == zwj {
			if i == 0 || i == len(runes)-1 || !emojiPart(runes[i-1]) || !emojiBase(runes[i+1]) {
				return "", false
			}
			continue
		}
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			return "", false
		}
	}
	return s, true
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
