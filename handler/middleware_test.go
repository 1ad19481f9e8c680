package handler

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wxavatar/wxavatar/auth"
)

// newSessionTokens is the token service of the handler tests: one key,
// sessions of an hour.
func newSessionTokens(t testing.TB) *auth.Tokens {
	t.Helper()
	ring, err := auth.ParseKeyRing("k1:0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	tk, err := auth.NewTokens(ring, time.Hour, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestRequireSession: only "Bearer <valid token>" gets through, and the
// token's subject is the session's user. Moved from auth's TestMiddleware
// with the same cases when the middleware moved to handler.
func TestRequireSession(t *testing.T) {
	tk := newSessionTokens(t)
	s, _, _ := tk.Issue("user-7")
	e := echo.New()
	var seen string
	h := requireSession(tk)(func(c echo.Context) error { seen = sessionUserID(c); return c.NoContent(204) })
	for header, want := range map[string]error{
		"Bearer " + s: nil, "bearer " + s: nil, "bearer  " + s + " ": nil, "": auth.ErrUnauthorized,
		"Bearer": auth.ErrUnauthorized, "Basic " + s: auth.ErrUnauthorized, "Bearer " + s + "x": auth.ErrUnauthorized,
		s: auth.ErrUnauthorized,
	} {
		seen = ""
		req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		err := h(e.NewContext(req, httptest.NewRecorder()))
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("Authorization %.20q: err = %v; want %v", header, err, want)
		}
		if want == nil && seen != "user-7" {
			t.Errorf("sessionUserID = %q; want user-7", seen)
		}
	}
}

// FuzzRequireSession: whatever the Authorization header, the middleware
// answers ErrUnauthorized or lets through the subject of a token issued
// here. Moved from auth's FuzzVerify when the middleware moved to handler.
func FuzzRequireSession(f *testing.F) {
	tk := newSessionTokens(f)
	s, _, _ := tk.Issue("user-7")
	for _, h := range []string{"Bearer " + s, "bearer  " + s + " ", s, "Bearer", "Basic " + s, "Bearer " + s[:len(s)-1]} {
		f.Add(h)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
		req.Header.Set(echo.HeaderAuthorization, header)
		var seen string
		err := requireSession(tk)(func(c echo.Context) error { seen = sessionUserID(c); return nil })(e.NewContext(req, httptest.NewRecorder()))
		switch {
		case err != nil && !errors.Is(err, auth.ErrUnauthorized):
			t.Fatalf("header %q: %v; want ErrUnauthorized", header, err)
		case err == nil && seen != "user-7":
			t.Fatalf("header %q let %q through: not a subject a token was issued for", header, seen)
		}
	})
}
