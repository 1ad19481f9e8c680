package handler

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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
