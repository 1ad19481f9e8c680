package handler

import (
	"encoding/json"
	"testing"
)

// TestSetNicknameRule checks the rule through the API: a refused name gets
// 400 invalid_nickname with the sentence a mini program can show, and the
// names it used to refuse are stored as sent.
func TestSetNicknameRule(t *testing.T) {
	ta := newTestAPI(t, nil)
	token, _ := ta.login(t, "dara")
	body := func(name string) string {
		b, err := json.Marshal(map[string]string{"nickname": name})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, name := range []string{"\u3164", "\u2800 \u2800", "\u200d", "a\u2028b"} {
		a := ta.do(t, "PUT", "/v1/me", token, body(name))
		if a.status != 400 || a.code() != "invalid_nickname" ||
			a.errorBody().Error.Message != "nickname must be 1 to 32 visible characters, with no blank or invisible ones" {
			t.Errorf("PUT /v1/me %+q: %d %s; want 400 invalid_nickname with the rule", name, a.status, a.raw)
		}
	}
	for _, name := range []string{
		"\u0639\u0644\u06cc\u200c\u0631\u0636\u0627",
		"\u0dc1\u0dca\u200d\u0dbb\u0dd3",
		"\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",
	} {
		a := ta.do(t, "PATCH", "/v1/me", token, body(name))
		if a.status != 200 || decode[userResponse](t, a).User.Nickname != name {
			t.Errorf("PATCH /v1/me %+q: %d %s; want 200 with the name stored", name, a.status, a.raw)
		}
	}
}
