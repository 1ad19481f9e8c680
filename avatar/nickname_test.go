package avatar

import (
	"strings"
	"testing"
)

// TestNicknameRule holds normalizeNickname to the examples of issue 13
// (item 6): names real people type that were refused, and names that render
// as nothing, or as noise, that were accepted. want is the stored name; ""
// means refused.
func TestNicknameRule(t *testing.T) {
	const (
		family  = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466" // 👨‍👩‍👧‍👦, 25 bytes
		england = "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"
		thumb   = "\U0001F44D\U0001F3FD" // 👍🏽, 8 bytes
	)
	tests := []struct {
		name, in, want string
	}{
		// Refused before, though people need them.
		{"Persian ZWNJ: Alireza", "\u0639\u0644\u06cc\u200c\u0631\u0636\u0627", "\u0639\u0644\u06cc\u200c\u0631\u0636\u0627"},
		{"Persian ZWNJ: mikhaham", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"},
		{"ZWNJ after a vowel mark on a joining letter", "\u0645\u06cc\u0650\u200c\u062e", "\u0645\u06cc\u0650\u200c\u062e"},
		{"Devanagari half form: ZWJ after virama", "\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"},
		{"Devanagari explicit virama: ZWNJ after virama", "\u0915\u094d\u200c\u0937", "\u0915\u094d\u200c\u0937"},
		{"Bengali Ryan: ZWJ between ra and virama", "\u09b0\u200d\u09cd\u09af\u09be\u09a8", "\u09b0\u200d\u09cd\u09af\u09be\u09a8"},
		{"Sinhala Sri: ZWJ after al-lakuna", "\u0dc1\u0dca\u200d\u0dbb\u0dd3", "\u0dc1\u0dca\u200d\u0dbb\u0dd3"},
		{"Malayalam old chillu, ending the name", "\u0d05\u0d30\u0d4d\u200d\u0d1c\u0d41\u0d28\u0d4d\u200d", "\u0d05\u0d30\u0d4d\u200d\u0d1c\u0d41\u0d28\u0d4d\u200d"},
		{"Malayalam atomic chillu", "\u0d05\u0d7c\u0d1c\u0d41\u0d7b", "\u0d05\u0d7c\u0d1c\u0d41\u0d7b"},
		{"England flag: tag sequence", england, england},
		{"Scotland flag", "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"},
		{"family emoji", family, family},
		{"name and family emoji", "\u5c0f\u660e" + family, "\u5c0f\u660e" + family},
		{"ten family emoji: 250 bytes", strings.Repeat(family, 10), strings.Repeat(family, 10)},
		{"kiss with two skin tones, the longest RGI sequence", "\U0001F9D1\U0001F3FB\u200d\u2764\ufe0f\u200d\U0001F48B\u200d\U0001F9D1\U0001F3FC", "\U0001F9D1\U0001F3FB\u200d\u2764\ufe0f\u200d\U0001F48B\u200d\U0001F9D1\U0001F3FC"},
		{"rainbow flag", "\U0001F3F3\ufe0f\u200d\U0001F308", "\U0001F3F3\ufe0f\u200d\U0001F308"},
		{"keycap: variation selector and enclosing mark", "1\ufe0f\u20e3", "1\ufe0f\u20e3"},
		{"ideographic variation sequence", "\u845b\U000E0100", "\u845b\U000E0100"},
		{"Mongolian free variation selector", "\u182d\u180b\u1823", "\u182d\u180b\u1823"},
		{"Thai: two marks on a consonant", "\u0e2a\u0e21\u0e28\u0e31\u0e01\u0e14\u0e34\u0e4c", "\u0e2a\u0e21\u0e28\u0e31\u0e01\u0e14\u0e34\u0e4c"},
		{"Tibetan stack: three marks", "\u0f66\u0f92\u0fb2\u0f7c\u0f63\u0f0b\u0f58", "\u0f66\u0f92\u0fb2\u0f7c\u0f63\u0f0b\u0f58"},
		{"Burmese: five marks on one consonant", "\u1019\u103b\u103e\u1031\u102c\u103a", "\u1019\u103b\u103e\u1031\u102c\u103a"},
		{"Vietnamese, decomposed: stored NFC", "Nguye\u0302\u0303n", "Nguy\u1ec5n"},
		{"space inside", "Mary Ann", "Mary Ann"},
		{"no-break space inside", "Jean\u00a0Luc", "Jean\u00a0Luc"},
		{"ideographic space inside, trimmed outside", "\u3000\u5c0f\u3000\u660e\t\n", "\u5c0f\u3000\u660e"},
		{"32 CJK characters", strings.Repeat("\u540d", 32), strings.Repeat("\u540d", 32)},
		{"32 skin-toned emoji: 256 bytes", strings.Repeat(thumb, 32), strings.Repeat(thumb, 32)},
		{"32 characters of two code points each", strings.Repeat("e\u0301", 32), strings.Repeat("\u00e9", 32)},

		// Accepted before, though they render as nothing.
		{"Hangul filler", "\u3164", ""},
		{"Hangul choseong filler", "\u115f", ""},
		{"Hangul jungseong filler", "\u1160", ""},
		{"halfwidth Hangul filler", "\uffa0", ""},
		{"Braille pattern blank", "\u2800", ""},
		{"musical null notehead", "\U0001D159", ""},
		{"blanks and spaces", "\u3164 \u2800\u3000\u3164", ""},
		{"fillers around a visible name", "\u3164Alice\u3164", ""},
		{"filler after a visible name", "Alice\u2800", ""},
		{"combining grapheme joiner", "a\u034fb", ""},
		{"Khmer inherent vowel", "\u1780\u17b4", ""},
		{"Mongolian vowel separator", "\u1828\u180e\u1820", ""},
		{"lone combining mark", "\u0301", ""},
		{"name beginning with a combining mark", "\u0301abc", ""},
		{"combining mark shown alone on a space", "a \u0301b", "a \u0301b"},
		{"Lenny face: double marks on a parenthesis and a space", "(\u0361\u00b0 \u035c\u0296 \u0361\u00b0)", "(\u0361\u00b0 \u035c\u0296 \u0361\u00b0)"},
		{"combining mark on a ZWJ", "\u0915\u094d\u200d\u0941", ""},
		{"combining mark on a ZWNJ", "\u0639\u200c\u064e", ""},
		{"five marks on one letter", "q\u0300\u0301\u0302\u0303\u0304", "q\u0300\u0301\u0302\u0303\u0304"},
		{"six marks on one letter", "q\u0300\u0301\u0302\u0303\u0304\u0306", ""},
		{"Zalgo", "Z\u0351\u0352\u0353\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309\u030a\u030b\u030c\u0316\u0317a", ""},
		{"line separator", "a\u2028b", ""},
		{"paragraph separator", "a\u2029b", ""},
		{"em space", "a\u2003b", ""},
		{"hair space", "a\u200ab", ""},
		{"medium mathematical space", "a\u205fb", ""},
		{"Ogham space mark", "a\u1680b", ""},
		{"narrow no-break space", "a\u202fb", ""},
		{"noncharacter U+FDD0", "a\ufdd0", ""},
		{"noncharacter U+FDEF", "a\ufdef", ""},
		{"noncharacter U+FFFE", "a\ufffe", ""},
		{"noncharacter U+FFFF", "a\uffff", ""},
		{"noncharacter U+1FFFE", "a\U0001FFFE", ""},
		{"noncharacter U+10FFFF", "a\U0010FFFF", ""},
		{"unassigned U+0378", "a\u0378", ""},
		{"unassigned U+3FFFD", "a\U0003FFFD", ""},
		{"private use U+E000", "a\ue000", ""},
		{"private use U+F0000", "\U000F0000", ""},
		{"invalid UTF-8 (a surrogate)", "a\xed\xa0\x80", ""},
		{"right-to-left override", "abc\u202egpj.exe", ""},
		{"bidi isolates", "a\u2066b\u2069", ""},
		{"left-to-right mark", "a\u200eb", ""},
		{"Arabic letter mark", "\u0639\u061c\u0631", ""},
		{"zero-width space", "\u200bab", ""},
		{"word joiner", "a\u2060b", ""},
		{"byte order mark", "\ufeffa", ""},
		{"soft hyphen", "a\u00adb", ""},
		{"NUL", "a\u0000b", ""},
		{"tab inside", "a\tb", ""},
		{"newline inside", "a\nb", ""},

		// Joiners, tags and selectors only where they do their job.
		{"ZWJ alone", "\u200d", ""},
		{"ZWJ leading", "\u200d\U0001F469", ""},
		{"ZWJ trailing after an emoji", "\U0001F44D\U0001F3FD\u200d", ""},
		{"ZWJ doubled between emoji", "\U0001F469\u200d\u200d\U0001F469", ""},
		{"ZWJ doubled after virama", "\u0915\u094d\u200d\u200d\u0937", ""},
		{"ZWJ between Latin letters", "a\u200db", ""},
		{"ZWJ between Arabic letters", "\u0639\u200d\u0631", ""},
		{"ZWJ before a virama after a space", "a \u200d\u09cd", ""},
		{"virama after a ZWJ after a virama", "\u0915\u094d\u200d\u094d", ""},
		{"five emoji in one ZWJ chain", "\U0001F600\u200d\U0001F600\u200d\U0001F600\u200d\U0001F600\u200d\U0001F600", ""},
		{"ZWNJ alone", "\u200c", ""},
		{"ZWNJ leading", "\u200c\u0639\u0644", ""},
		{"ZWNJ trailing", "\u0639\u0644\u06cc\u200c", ""},
		{"ZWNJ doubled", "\u0639\u0644\u06cc\u200c\u200c\u0631", ""},
		{"ZWNJ between Latin letters", "Auf\u200clage", ""},
		{"ZWNJ between Arabic and Latin", "\u0639\u200cA", ""},
		{"ZWNJ after virama, trailing", "\u0915\u094d\u200c", ""},
		{"ZWNJ before a mark", "\u0915\u094d\u200c\u0941", ""},
		{"tag alone", "\U000E0067", ""},
		{"cancel tag alone", "\U000E007F", ""},
		{"language tag", "\U000E0001\U000E0065\U000E006E", ""},
		{"tags after a letter", "a\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F", ""},
		{"flag tags without cancel", "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067", ""},
		{"flag with capital tags (hidden ASCII)", "\U0001F3F4\U000E0048\U000E0049\U000E0048\U000E007F", ""},
		{"flag with two tags", "\U0001F3F4\U000E0067\U000E0062\U000E007F", ""},
		{"flag with eight tags", "\U0001F3F4" + strings.Repeat("\U000E0061", 8) + "\U000E007F", ""},
		{"variation selector alone", "\ufe0f", ""},
		{"variation selector leading", "\ufe0fa", ""},
		{"variation selector after a space", "a \ufe0f", ""},
		{"variation selector doubled", "\u2764\ufe0f\ufe0f", ""},
		{"variation selector after a mark", "q\u0323\ufe00", ""},

		// Counting.
		{"empty", "", ""},
		{"white space only", " \t\u3000\u00a0 ", ""},
		{"33 CJK characters", strings.Repeat("\u540d", 33), ""},
		{"33 characters of two code points each", strings.Repeat("e\u0301", 33), ""},
		{"33 skin-toned emoji", strings.Repeat(thumb, 33), ""},
		{"eleven family emoji: 275 bytes", strings.Repeat(family, 11), ""},
	}
	for _, tt := range tests {
		got, ok := normalizeNickname(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: normalizeNickname(%+q) = %+q, %v; want %+q, %v", tt.name, tt.in, got, ok, tt.want, tt.want != "")
		}
	}
}

func TestNormalizeNickname(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"Alice", "Alice", true},
		{"\u3000小明\t\n", "小明", true},
		{"e\u0301", "é", true}, // NFC
		{"👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧", true},
		{"👍🏽\u200d", "", false},
		{"a\u200db", "", false},
		{"\u200d👩", "", false},
		{"x\u202ey", "", false}, // right-to-left override
		{"x\ufeffy", "", false},
		{"x\u0000y", "", false},
		{"x\u007fy", "", false},
		{"", "", false},
		{"\xff", "", false},
		{strings.Repeat("😀", 32), strings.Repeat("😀", 32), true},
		{strings.Repeat("😀", 33), "", false},
		{"'; DROP TABLE users; --", "'; DROP TABLE users; --", true},
	}
	for _, tt := range tests {
		got, ok := normalizeNickname(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeNickname(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
