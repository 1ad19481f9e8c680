package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fuzzTokens is a token service at a fixed time, so that the tokens it issues
// (and the seed corpus holding them) are the same on every run.
func fuzzTokens(tb testing.TB, now time.Time, ttl time.Duration, keys ...Key) *Tokens {
	tb.Helper()
	ring, err := NewKeyRing(keys...)
	if err != nil {
		tb.Fatal(err)
	}
	tk, err := NewTokens(ring, ttl, func() time.Time { return now })
	if err != nil {
		tb.Fatal(err)
	}
	return tk
}

func fuzzIssue(tb testing.TB, tk *Tokens, subject string) string {
	tb.Helper()
	s, _, err := tk.Issue(subject)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

type issuedToken struct {
	token     string
	subject   string
	signature []byte
}

// FuzzTokenVerify feeds arbitrary strings to Tokens.Verify and, as the
// Authorization header, to the Echo middleware. Refusals are always
// ErrUnauthorized; a token that verifies must carry, byte for byte, the
// header and claims of a token this service issued and still accepts, and
// the subject that was issued in it.
func FuzzTokenVerify(f *testing.F) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	k1 := Key{"k1", []byte("fuzz-key-one-0123456789abcdef-0123")}
	k2 := Key{"k2", []byte("fuzz-key-two-0123456789abcdef-0123")}
	tk := fuzzTokens(f, now, 2*time.Hour, k1, k2)

	// Tokens Verify must accept: signed by either key of the ring.
	issued := map[string]issuedToken{} // keyed by the signed part "header.claims"
	accept := func(tok, subject string) {
		i := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.Strict().DecodeString(tok[i+1:])
		if err != nil {
			f.Fatal(err)
		}
		issued[tok[:i]] = issuedToken{token: tok, subject: subject, signature: sig}
		f.Add(tok)
	}
	accept(fuzzIssue(f, tk, "user-1"), "user-1")
	accept(fuzzIssue(f, tk, "abcdefghijklmnopqrstuvwxyz"), "abcdefghijklmnopqrstuvwxyz")
	accept(fuzzIssue(f, fuzzTokens(f, now, time.Hour, k2, k1), "user-2"), "user-2")
	accept(fuzzIssue(f, fuzzTokens(f, now.Add(-time.Hour), 2*time.Hour, k1), "earlier"), "earlier")

	// Tokens Verify must refuse.
	valid := fuzzIssue(f, tk, "user-1")
	header, rest, _ := strings.Cut(valid, ".")
	claims, sig, _ := strings.Cut(rest, ".")
	good := jwt.MapClaims{"iss": tokenIssuer, "aud": tokenAudience, "sub": "user-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for key, val := range good {
			c[key] = val
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	for _, s := range []string{
		fuzzIssue(f, fuzzTokens(f, now.Add(-3*time.Hour), time.Hour, k1), "expired"),
		fuzzIssue(f, fuzzTokens(f, now.Add(time.Hour), 2*time.Hour, k1), "issued-in-the-future"),
		fuzzIssue(f, fuzzTokens(f, now, time.Hour, Key{"k1", []byte("another-key-0123456789abcdef-0123")}), "foreign"),
		fuzzIssue(f, fuzzTokens(f, now, time.Hour, Key{"k3", k1.Secret}), "unknown-kid"),
		forge(f, jwt.SigningMethodHS512, k1.Secret, "k1", good),
		forge(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", good),
		forge(f, jwt.SigningMethodHS256, k1.Secret, "", good),
		forge(f, jwt.SigningMethodHS256, k1.Secret, "k1", with("sub", "")),
		forge(f, jwt.SigningMethodHS256, k1.Secret, "k1", with("sub", nil)),
		forge(f, jwt.SigningMethodHS256, k1.Secret, "k1", with("aud", "someone-else")),
		forge(f, jwt.SigningMethodHS256, k1.Secret, "k1", with("iss", nil)),
		forge(f, jwt.SigningMethodHS256, k1.Secret, "k1", with("exp", nil)),
		forge(f, jwt.SigningMethodHS256, k1.Secret, "k1", with("exp", "tomorrow")),
		header + "." + claims + ".",
		header + "." + claims,
		header + "." + claims + "." + sig + "=",
		header + "." + claims + "." + sig + ".",
		header + "==." + claims + "." + sig,
		" " + valid,
		valid + "\x00",
		strings.ToUpper(valid),
		header + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + sig,
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + claims + ".",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":["k1"]}`)) + "." + claims + "." + sig,
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"k1","crit":["exp"]}`)) + "." + claims + "." + sig,
		base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("[", 5000))) + "." + claims + "." + sig,
		"", ".", "..", "...", "a.b.c", "Bearer " + valid, "' OR '1'='1", "\xff\xfe\xfd",
		strings.Repeat("a", maxTokenBytes+1),
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, token string) {
		sub, err := tk.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) || sub != "" {
				t.Fatalf("Verify(%q) = %q, %v; want \"\", ErrUnauthorized", token, sub, err)
			}
		} else {
			i := strings.LastIndexByte(token, '.')
			want, ok := issued[token[:max(i, 0)]]
			if i < 0 || !ok {
				t.Fatalf("Verify(%q) = %q: a token this service did not issue verifies", token, sub)
			}
			if sub != want.subject {
				t.Fatalf("Verify(%q) = %q; issued for %q", token, sub, want.subject)
			}
			// golang-jwt decodes segments without Strict, so the unused low
			// bits of the signature's last character are not checked: such a
			// variant carries the very same claims and signature, and is
			// accepted like the original.
			got, derr := base64.RawURLEncoding.DecodeString(token[i+1:])
			if derr != nil || string(got) != string(want.signature) {
				t.Fatalf("Verify(%q) = %q with a signature other than the one issued", token, sub)
			}
		}
	})
}
