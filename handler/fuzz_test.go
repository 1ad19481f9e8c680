package handler

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzNickname checks normalizeNickname against the contract's rule, stated
// independently of the implementation: the result is the input trimmed and
// in NFC, valid UTF-8, 1–32 runes, with no control or format character but a
// ZWJ standing between two emoji-like symbols; normalizing it again changes
// nothing.
func FuzzNickname(f *testing.F) {
	for _, s := range []string{
		"Alice", "  小明  ", "\u3000小明\t\n", "e\u0301", "👨\u200d👩\u200d👧", "👍🏽\u200d", "a\u200db",
		"\u200d👩", "👩\u200d\u200d👩", "🏳\ufe0f\u200d🌈", "x\u202ey", "\u202eevil", "\ufeffbom", "x\u0000y",
		"x\u007fy", "\u0085x\u0085", "\u2028x\u2029", "", " ", "\xff", "\xc0\xaf", "\xed\xa0\x80", "\ufffd",
		strings.Repeat("😀", 32), strings.Repeat("😀", 33), strings.Repeat("名", 32) + " ",
		strings.Repeat("e\u0301", 32), strings.Repeat("\u0301", 40), "ﬀ", "\u2000x\u2001", "Å", "Å",
		"'; DROP TABLE users; --", "../../etc/passwd", "<script>alert(1)</script>",
		"🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "\u3164", "\U0001F3FB\u200d😀",
	} {
		f.Add(s)
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
		if n := utf8.RuneCountInString(got); n < 1 || n > maxNicknameRunes {
			t.Fatalf("normalizeNickname(%q) = %q: %d runes", in, got, n)
		}
		runes := []rune(got)
		for i, r := range runes {
			if !unicode.In(r, unicode.Cc, unicode.Cf) {
				continue
			}
			if r != '\u200d' || i == 0 || i == len(runes)-1 || !emojiLike(runes[i-1]) || !emojiLike(runes[i+1]) {
				t.Fatalf("normalizeNickname(%q) = %q keeps %U at %d", in, got, r, i)
			}
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

// serveRaw sends body as is and returns status, headers and body; it never
// fails the test itself. An X-Test-Remote header sets the peer address.
func serveRaw(e http.Handler, method, path, token string, body []byte, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if ra := req.Header.Get("X-Test-Remote"); ra != "" {
		req.RemoteAddr = ra
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// checkEnvelope fails unless a non-2xx answer is exactly the contract's error
// envelope, with the request id of the X-Request-Id header.
func checkEnvelope(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: %d %s; want no 5xx", what, rec.Code, rec.Body)
	}
	if rec.Code < 400 {
		return
	}
	var env struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Error == nil || env.Error.Code == "" || env.Error.Message == "" ||
		env.RequestID == "" || env.RequestID != rec.Header().Get("X-Request-Id") {
		t.Fatalf("%s: %d body %q is not the error envelope (%v)", what, rec.Code, rec.Body, err)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: error answered as %q", what, ct)
	}
}

// FuzzDecodeJSON sends arbitrary bodies through the real router to every
// route that reads one: the answer is never a 5xx, and every error is the
// contract's envelope.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"code":"dev-fuzz"}`, `{"code":"dev-fuzz","code":"x y"}`, `{"nickname":"小明"}`, `{"nickname":"\ud800"}`,
		`{"content_type":"image/png","size":10}`, `{"content_type":"image/png","size":1e3}`,
		`{"content_type":"image/png","size":99999999999999999999}`, `{"size":-1,"content_type":"image/jpeg"}`,
		`{"code":{"$ne":null}}`, `{"CODE":"dev-a"}`, `{"code":"dev-a"} x`, `{"code":"dev-a"}` + "\n",
		"\ufeff{}", "{\"code\":\"\xff\"}", `null`, `[]`, `""`, `1`, ``, ` `, `{`, `{"a":` + strings.Repeat("[", 12000),
		`{"nickname":` + strings.Repeat(`{"a":`, 2000) + `1` + strings.Repeat("}", 2000) + `}`,
	} {
		for route := range uint8(4) {
			f.Add([]byte(s), route)
		}
	}
	ta := newTestAPI(f, nil)
	rec := serveRaw(ta.e, http.MethodPost, "/v1/session", "", []byte(`{"code":"dev-fuzzer"}`))
	var login struct{ Token string }
	if err := json.Unmarshal(rec.Body.Bytes(), &login); rec.Code != 200 || err != nil {
		f.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	routes := [...][2]string{
		{http.MethodPost, "/v1/session"},
		{http.MethodPatch, "/v1/me"},
		{http.MethodPut, "/v1/me"},
		{http.MethodPost, "/v1/avatar/uploads"},
	}
	f.Fuzz(func(t *testing.T, body []byte, route uint8) {
		r := routes[int(route)%len(routes)]
		token := login.Token
		if r[1] == "/v1/session" {
			token = ""
		}
		rec := serveRaw(ta.e, r[0], r[1], token, body)
		checkEnvelope(t, r[0]+" "+r[1], rec)
		if rec.Code >= 200 && rec.Code < 300 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: %d with a body that is not JSON: %q", r[0], r[1], rec.Code, rec.Body)
		}
	})
}
