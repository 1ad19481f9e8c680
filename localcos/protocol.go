package localcos

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"strings"
)

// This file is the server's own reading of the COS request signature (v5,
// "sha1"), from Tencent's protocol text ("请求签名"):
//
//	KeyTime      = "<start>;<end>" in Unix seconds
//	SignKey      = hex(HMAC-SHA1(SecretKey, KeyTime))
//	HttpString   = lower(method) \n path \n params \n headers \n
//	StringToSign = "sha1" \n KeyTime \n hex(SHA1(HttpString)) \n
//	Signature    = hex(HMAC-SHA1(SignKey, StringToSign))
//
// and for a POST Object form, StringToSign = hex(SHA1(policy text)).
//
// The production signer (package storage) has helpers of its own for the
// same steps; none of them is used here, so that a mistake in the signer
// cannot hide in the verifier: each is checked against the other and
// against Tencent's worked examples (testdata/cos-vectors.md).

// Key is one accepted COS key pair, with the STS token that must accompany
// it when the pair is temporary (SessionToken empty for a permanent key).
type Key struct {
	SecretID     string
	SecretKey    string
	SessionToken string
}

// signingKey is SignKey: hex(HMAC-SHA1(SecretKey, KeyTime)). The hex string,
// not the raw MAC, is the key of the second HMAC.
func signingKey(secretKey, keyTime string) string {
	return hexHMACSHA1([]byte(secretKey), keyTime)
}

// hexHMACSHA1 is the lower-case hex HMAC-SHA1 of msg under key.
func hexHMACSHA1(key []byte, msg string) string {
	mac := hmac.New(sha1.New, key)
	mac.Write([]byte(msg))
	return hex.EncodeToString(mac.Sum(nil))
}

// hexSHA1 is the lower-case hex SHA-1 of s.
func hexSHA1(s string) string {
	h := sha1.New()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// uriEncode is the encoding COS applies to every signed header and
// parameter name and value: RFC 3986's, where only the unreserved
// characters A-Z a-z 0-9 - . _ ~ stay as they are and every other byte of
// the UTF-8 text becomes %XX with upper-case hex. So a space is %20 (never
// '+'), and ! ' ( ) * are encoded although JavaScript's encodeURIComponent
// leaves them.
func uriEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

// isUnreserved reports whether c is one of RFC 3986's unreserved characters.
func isUnreserved(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '.' || c == '_' || c == '~'
}
