// Package cos is Tencent COS as the service's object storage: the client
// (built on cos-go-sdk-v5), the POST Object form signer the SDK lacks and
// the presigned PUT signer. The local object server that `serve --dev` and
// the tests run, with its own COS signature verifier, is package localcos.
package cos

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// The COS signature (v5, "sha1") is small enough that the protocol text is
// clearer than any wrapper: these helpers are the building blocks shared by
// the POST policy signer and the presigned PUT (presign.go). The SDK signs
// every request the service sends; the presigned PUT is checked byte for
// byte against the SDK's, and the local object server (package localcos)
// verifies with its own reading of the protocol, sharing none of this code,
// so that each checks the others.

// keyTime renders a COS q-key-time / q-sign-time value.
func keyTime(start, end time.Time) string {
	return fmt.Sprintf("%d;%d", start.Unix(), end.Unix())
}

// signKey is SignKey = hex(HMAC-SHA1(SecretKey, KeyTime)). It used to be
// remembered in package state between signatures of the same second;
// measured again (issue 17), the service's CPU per signature was the same
// within the noise without the memo (215 · 259 · 190 · 184 µs against
// 261 · 186 · 216 · 161 µs), so it went.
func signKey(secretKey, keyTime string) string {
	return hmacSHA1Hex(secretKey, keyTime)
}

func hmacSHA1Hex(key, msg string) string {
	m := hmac.New(sha1.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// cosEncode is the RFC 3986 encoding COS uses for signed keys and values:
// every byte but A-Z a-z 0-9 - _ . ~ is percent-encoded with upper-case hex,
// so space is %20 and !'()* are encoded too.
func cosEncode(s string) string { return percentEncode(s, "-_.~") }

// percentEncode encodes every byte of s but A-Z a-z 0-9 and those in keep as
// %XX with upper-case hex.
func percentEncode(s, keep string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
