package jsonx

import (
	"encoding/json"
	"testing"
)

// FuzzPlain: whenever Plain accepts a string, AppendString writes exactly
// what encoding/json does.
func FuzzPlain(f *testing.F) {
	for _, s := range []string{"", "avatars/u/x.png", "a\"b", `a\b`, "<", ">", "&", "\x7f", "\x00", "é", "\u2028", "~ !#$%'()*+,-./:;=?@[]^_`{|}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := string(AppendString(nil, s))
		if Plain(s) && got != string(want) {
			t.Fatalf("AppendString(%q) = %s; encoding/json writes %s", s, got, want)
		}
		if !Plain(s) && got == string(want) && s != "" {
			// Not wrong, but Plain should only refuse what needs escaping.
			for i := 0; i < len(s); i++ {
				if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
					continue
				}
				return
			}
			t.Fatalf("Plain(%q) = false for a string encoding/json writes as is", s)
		}
	})
}

func TestPlain(t *testing.T) {
	for s, want := range map[string]bool{
		"":                      true,
		"avatars/u/x.png":       true,
		"1795600800;1795601400": true,
		"a\"b":                  false,
		`a\b`:                   false,
		"a<b":                   false,
		"a>b":                   false,
		"a&b":                   false,
		"tab\t":                 false,
		"\x7f":                  false,
		"é":                     false,
	} {
		if got := Plain(s); got != want {
			t.Errorf("Plain(%q) = %v; want %v", s, got, want)
		}
	}
	if Plain("ok", "no\"") || !Plain("ok", "fine") {
		t.Error("Plain of several strings is not the and of each")
	}
}
