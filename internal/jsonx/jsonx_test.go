package jsonx

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString: AppendString writes every string exactly as
// encoding/json does.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "avatars/u/x.png", "a\"b", `a\b`, "<>&", "\x7f", "\x00\x01\x1f", "\b\f\n\r\t",
		"é", "\u2028\u2029", "\xff", "a\xe2\x80", "😀", "~ !#$%'()*+,-./:;=?@[]^_`{|}",
		"https://b.cos.ap-shanghai.myqcloud.com/k.png?q-ak=x&q-sign-time=1;2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("AppendString(%q) = %s; encoding/json writes %s", s, got[1:], want)
		}
	})
}

func TestAppendStringMap(t *testing.T) {
	for _, m := range []map[string]string{
		nil,
		{},
		{"Content-Type": "image/png"},
		{"key": "k", "policy": "p", "q-ak": "AKID", "Content-Type": "image/png", "success_action_status": "204", "x-cos-security-token": "<&>"},
		{"b": "1", "a": "2", "B": "3", "é": "4", "a\"": "5"},
	} {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendStringMap(nil, m); string(got) != string(want) {
			t.Errorf("AppendStringMap(%v) = %s; encoding/json writes %s", m, got, want)
		}
	}
}
