package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	secretA = []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	secretB = []byte("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
)

func newTestTokens(t *testing.T, now func() time.Time, keys ...Key) *Tokens {
	t.Helper()
	ring, err := NewKeyRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := NewTokens(ring, 2*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// forge signs arbitrary claims and header fields, as an attacker who knows
// (or guesses) a key would.
func forge(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tk := newTestTokens(t, fixedClock(now), Key{"k1", secretA})
	s, exp, err := tk.Issue("user-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(2 * time.Hour); !exp.Equal(want) {
		t.Errorf("expires = %v; want %v", exp, want)
	}
	sub, err := tk.Verify(s)
	if err != nil || sub != "user-1" {
		t.Fatalf("Verify = %q, %v; want user-1, nil", sub, err)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(s, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["kid"] != "k1" || tok.Header["alg"] != "HS256" {
		t.Errorf("header = %v; want kid k1, alg HS256", tok.Header)
	}
}

func TestTokenRejections(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tk := newTestTokens(t, fixedClock(now), Key{"k1", secretA})
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": tokenIssuer, "aud": tokenAudience, "sub": "u", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	valid := forge(t, jwt.SigningMethodHS256, secretA, "k1", good())
	if _, err := tk.Verify(valid); err != nil {
		t.Fatalf("forged-but-valid token refused: %v", err)
	}
	// At the limits: a lifetime of exactly the TTL plus leeway, an issue
	// time as far ahead as the leeway allows (another instance's clock).
	for name, claims := range map[string]jwt.MapClaims{
		"lifetime TTL+leeway": with("exp", now.Add(2*time.Hour+clockLeeway).Unix()),
		"iat at the leeway":   with("iat", now.Add(clockLeeway).Unix()),
	} {
		if _, err := tk.Verify(forge(t, jwt.SigningMethodHS256, secretA, "k1", claims)); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
	parts := strings.Split(valid, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"k1"}`))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"wxavatar","aud":"wxavatar-miniprogram","sub":"admin","iat":1,"exp":9999999999}`)) + "." + parts[2]
	tests := map[string]string{
		"alg none":           noneHeader + "." + parts[1] + ".",
		"alg none signed":    forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", good()),
		"HS512":              forge(t, jwt.SigningMethodHS512, secretA, "k1", good()),
		"wrong key":          forge(t, jwt.SigningMethodHS256, secretB, "k1", good()),
		"unknown kid":        forge(t, jwt.SigningMethodHS256, secretA, "k9", good()),
		"no kid":             forge(t, jwt.SigningMethodHS256, secretA, "", good()),
		"wrong audience":     forge(t, jwt.SigningMethodHS256, secretA, "k1", with("aud", "someone-else")),
		"no audience":        forge(t, jwt.SigningMethodHS256, secretA, "k1", with("aud", nil)),
		"wrong issuer":       forge(t, jwt.SigningMethodHS256, secretA, "k1", with("iss", "evil")),
		"no subject":         forge(t, jwt.SigningMethodHS256, secretA, "k1", with("sub", nil)),
		"expired":            forge(t, jwt.SigningMethodHS256, secretA, "k1", with("exp", now.Add(-time.Minute).Unix())),
		"no expiry":          forge(t, jwt.SigningMethodHS256, secretA, "k1", with("exp", nil)),
		"issued in future":   forge(t, jwt.SigningMethodHS256, secretA, "k1", with("iat", now.Add(time.Hour).Unix())),
		"issued past leeway": forge(t, jwt.SigningMethodHS256, secretA, "k1", with("iat", now.Add(clockLeeway+time.Second).Unix())),
		"no issued at":       forge(t, jwt.SigningMethodHS256, secretA, "k1", with("iat", nil)),
		// The service's tokens live SESSION_TTL (2h here), leeway allowed.
		"lives past the TTL": forge(t, jwt.SigningMethodHS256, secretA, "k1", with("exp", now.Add(2*time.Hour+clockLeeway+time.Second).Unix())),
		"lives for years":    forge(t, jwt.SigningMethodHS256, secretA, "k1", with("exp", now.AddDate(10, 0, 0).Unix())),
		"tampered payload":   tampered,
		"garbage":            "not.a.jwt",
		"empty":              "",
		"oversized":          strings.Repeat("a", maxTokenBytes+1),
		"truncated":          valid[:len(valid)-3],
		"signature removed":  parts[0] + "." + parts[1] + ".",
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			if sub, err := tk.Verify(tok); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("Verify = %q, %v; want ErrUnauthorized", sub, err)
			}
		})
	}
}

func TestTokenExpiryFollowsClock(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	clock := now
	tk := newTestTokens(t, func() time.Time { return clock }, Key{"k1", secretA})
	s, _, err := tk.Issue("u")
	if err != nil {
		t.Fatal(err)
	}
	clock = now.Add(2*time.Hour + clockLeeway + time.Second)
	if _, err := tk.Verify(s); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("expired token: err = %v; want ErrUnauthorized", err)
	}
}

func TestKeyRotation(t *testing.T) {
	now := time.Now()
	tk := newTestTokens(t, fixedClock(now), Key{"old", secretA})
	before, _, _ := tk.Issue("u")
	// New key first: it signs; the old one still verifies.
	ring, _ := NewKeyRing(Key{"new", secretB}, Key{"old", secretA})
	tk.SetKeyRing(ring)
	after, _, _ := tk.Issue("u")
	for name, s := range map[string]string{"before": before, "after": after} {
		if _, err := tk.Verify(s); err != nil {
			t.Errorf("%s rotation: %v", name, err)
		}
	}
	tok, _, _ := jwt.NewParser().ParseUnverified(after, jwt.MapClaims{})
	if tok.Header["kid"] != "new" {
		t.Errorf("kid after rotation = %v; want new", tok.Header["kid"])
	}
	// Old key retired: its tokens stop verifying.
	ring, _ = NewKeyRing(Key{"new", secretB})
	tk.SetKeyRing(ring)
	if _, err := tk.Verify(before); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("token of retired key: err = %v; want ErrUnauthorized", err)
	}
}

func TestParseKeyRing(t *testing.T) {
	a, b := string(secretA), string(secretB)
	good := map[string][]string{
		"k1:" + a:                {"k1"},
		" k2:" + b + ", k1:" + a: {"k2", "k1"},
		"k:" + a + ":with:colon": {"k"},
	}
	for in, want := range good {
		r, err := ParseKeyRing(in)
		if err != nil {
			t.Errorf("ParseKeyRing(%q): %v", in, err)
			continue
		}
		if got := strings.Join(r.KIDs(), ","); got != strings.Join(want, ",") {
			t.Errorf("kids = %s; want %v", got, want)
		}
	}
	for _, in := range []string{"", "k1", ":" + a, "k1:short", "k1:" + a + ",k1:" + b, "k1:" + a + ","} {
		if _, err := ParseKeyRing(in); err == nil {
			t.Errorf("ParseKeyRing(%q) accepted bad input", in)
		}
	}
}

// TestVerifiedTokenCache: a token verified once is accepted again without
// parsing, but only while every check it passed still holds: its times, and
// the key ring it was verified under.
func TestVerifiedTokenCache(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := now
	tk := newTestTokens(t, func() time.Time { return clock }, Key{"k1", secretA})
	s, exp, err := tk.Issue("u1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if sub, err := tk.Verify(s); err != nil || sub != "u1" {
			t.Fatalf("verify %d = %q, %v; want u1", i, sub, err)
		}
	}
	if n := len(tk.keys.Load().verified); n != 1 {
		t.Fatalf("%d tokens remembered; want 1", n)
	}
	// With a parser that refuses every token, the remembered one still
	// passes: it is not parsed again.
	parser, refuseAll := tk.parser, jwt.NewParser(jwt.WithValidMethods([]string{"none-such"}))
	tk.parser = refuseAll
	if sub, err := tk.Verify(s); err != nil || sub != "u1" {
		t.Fatalf("remembered token, parser refusing all = %q, %v; want u1 from the cache", sub, err)
	}
	tk.parser = parser
	// One character off the remembered token is another token: refused.
	other := "A"
	if strings.HasSuffix(s, other) {
		other = "B"
	}
	if _, err := tk.Verify(s[:len(s)-1] + other); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("altered token: err = %v; want ErrUnauthorized", err)
	}
	// Up to the parser's own bound, from the cache (the parser refuses
	// all), and not past it: exp + leeway.
	clock = exp.Add(clockLeeway - time.Nanosecond)
	tk.parser = refuseAll
	if _, err := tk.Verify(s); err != nil {
		t.Errorf("just before exp+leeway, from the cache: %v", err)
	}
	tk.parser = parser
	clock = exp.Add(clockLeeway)
	if _, err := tk.Verify(s); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("at exp+leeway: err = %v; want ErrUnauthorized", err)
	}
	if _, err := tk.parser.ParseWithClaims(s, &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) { return secretA, nil }); err == nil {
		t.Errorf("the parser itself accepts the token at exp+leeway; the cache's bound is off")
	}
	// Before iat - leeway (a clock stepped back) the remembered token does
	// not pass either.
	clock = now.Add(-clockLeeway - time.Second)
	if _, err := tk.Verify(s); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("before iat-leeway: err = %v; want ErrUnauthorized", err)
	}
	// Retiring the key forgets what it verified.
	clock = now
	if _, err := tk.Verify(s); err != nil {
		t.Fatal(err)
	}
	ring, _ := NewKeyRing(Key{"k2", secretB})
	tk.SetKeyRing(ring)
	if _, err := tk.Verify(s); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("token of a retired key, verified before: err = %v; want ErrUnauthorized", err)
	}
}

// TestVerifiedTokenCacheBounded: the cache never holds more than
// maxVerifiedTokens tokens, and tokens still verify once it was cleared.
func TestVerifiedTokenCacheBounded(t *testing.T) {
	tk := newTestTokens(t, fixedClock(time.Now()), Key{"k1", secretA})
	first, _, _ := tk.Issue("u0")
	for i := range maxVerifiedTokens + 10 {
		s, _, err := tk.Issue(fmt.Sprintf("u%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tk.Verify(s); err != nil {
			t.Fatal(err)
		}
		if n := len(tk.keys.Load().verified); n > maxVerifiedTokens {
			t.Fatalf("%d tokens remembered; want at most %d", n, maxVerifiedTokens)
		}
		// Once full, the cache starts over rather than stop remembering.
		if _, ok := tk.keys.Load().lookup(s); !ok {
			t.Fatalf("token %d verified but not remembered", i)
		}
	}
	if sub, err := tk.Verify(first); err != nil || sub != "u0" {
		t.Errorf("verify after the cache was cleared = %q, %v; want u0", sub, err)
	}
}
