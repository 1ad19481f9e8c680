package localcos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// This file is the server's own reading of Aliyun OSS's V4 signature
// (OSS4-HMAC-SHA256), written from Aliyun's documentation and never from an
// SDK's signer, so that Aliyun's Go SDK (alibabacloud-oss-go-sdk-v2, used by
// the tests only) and the service's own POST policy signer are each checked
// against an independent reading:
//
//   - "Include a V4 signature in the Authorization header",
//     https://help.aliyun.com/en/oss/developer-reference/recommend-to-use-signature-version-4
//   - "V4 signatures in presigned URLs",
//     https://help.aliyun.com/en/oss/developer-reference/add-signatures-to-urls
//   - "PostObject" and its V4 signature,
//     https://help.aliyun.com/en/oss/developer-reference/postobject
//
// In the documents' words:
//
//	CanonicalRequest = HTTPVerb \n CanonicalURI \n CanonicalQueryString \n
//	                   CanonicalHeaders \n AdditionalHeaders \n HashedPayload
//	StringToSign     = "OSS4-HMAC-SHA256" \n TimeStamp \n Scope \n
//	                   HEX(SHA256(CanonicalRequest))
//	Scope            = <yyyymmdd>/<region>/oss/aliyun_v4_request
//	SigningKey       = HMAC-SHA256 chain from "aliyun_v4"+secret over the date,
//	                   the region, "oss" and "aliyun_v4_request"
//	Signature        = HEX(HMAC-SHA256(SigningKey, StringToSign))
//
// and for a PostObject form, StringToSign is the policy field as sent (the
// base64 text). The worked examples these functions are tested with are in
// testdata/oss-v4-vectors.md.

const (
	ossAlgorithm      = "OSS4-HMAC-SHA256"
	ossService        = "oss"
	ossRequestType    = "aliyun_v4_request"
	ossUnsignedBody   = "UNSIGNED-PAYLOAD"
	ossDateTimeFormat = "20060102T150405Z" // ISO 8601 basic, always UTC
	ossDateFormat     = "20060102"
)

// ossSigningKey derives the key of one day, region and service. The keys of
// the chain are the raw MACs, never their hex ("The key is a byte array, not
// a hex string").
func ossSigningKey(secret, date, region string) []byte {
	k := ossHMAC([]byte("aliyun_v4"+secret), date)
	k = ossHMAC(k, region)
	k = ossHMAC(k, ossService)
	return ossHMAC(k, ossRequestType)
}

func ossHMAC(key []byte, msg string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// ossSignature is the lower-case hex signature of stringToSign.
func ossSignature(secret, date, region, stringToSign string) string {
	return hex.EncodeToString(ossHMAC(ossSigningKey(secret, date, region), stringToSign))
}

// ossSignatureMatches compares in constant time so that a signature cannot
// be found byte by byte. The documents define the signature as 64
// lower-case hex digits; upper-case ones are accepted as the same number.
func ossSignatureMatches(want, got string) bool {
	return hmac.Equal([]byte(want), []byte(strings.ToLower(got)))
}

func ossHexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ossScope is <date>/<region>/oss/aliyun_v4_request.
func ossScope(date, region string) string {
	return date + "/" + region + "/" + ossService + "/" + ossRequestType
}

// ossStringToSign is the V4 StringToSign of a canonical request.
func ossStringToSign(dateTime, scope, canonicalRequest string) string {
	return ossAlgorithm + "\n" + dateTime + "\n" + scope + "\n" + ossHexSHA256(canonicalRequest)
}

// ossURIEncode is the documents' URI-encode(): every byte but the
// unreserved A-Z a-z 0-9 - _ . ~ becomes %XX in upper-case hex, so a space
// is %20 and never '+'. keepSlash leaves '/' alone, as in the canonical URI
// ("Do not encode forward slashes (/) in the URI path").
func ossURIEncode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			const digits = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(digits[c>>4])
			b.WriteByte(digits[c&15])
		}
	}
	return b.String()
}

// ossCanonicalURI is the canonical URI of a resource: "/" for the service,
// "/<bucket>/" for a bucket, "/<bucket>/<object>" for an object. The bucket
// is part of it whether the request addressed the bucket by its host name
// (virtual-hosted style) or by the first path segment (path style).
func ossCanonicalURI(bucket, object string) string {
	if bucket == "" {
		return "/"
	}
	return ossURIEncode("/"+bucket+"/"+object, true)
}

// ossQueryPair is one query parameter, decoded.
type ossQueryPair struct{ key, value string }

// ossCanonicalQuery renders the pairs as the documents say: key and value
// URI-encoded separately, sorted by encoded key (then by encoded value, so
// that a repeated key has one order), joined by '&', and a key without a
// value written alone, without '='.
func ossCanonicalQuery(pairs []ossQueryPair) string {
	encoded := make([]ossQueryPair, len(pairs))
	for i, p := range pairs {
		encoded[i] = ossQueryPair{ossURIEncode(p.key, false), ossURIEncode(p.value, false)}
	}
	slices.SortFunc(encoded, func(a, b ossQueryPair) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range encoded {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		if p.value != "" {
			b.WriteString("=" + p.value)
		}
	}
	return b.String()
}

// ossDefaultSigned reports whether a header (lower-cased name) is signed
// whenever a request carries it, named or not in AdditionalHeaders: the
// documents' "Included when present: Content-Type, Content-MD5, and all
// x-oss-* headers".
func ossDefaultSigned(name string) bool {
	return name == "content-type" || name == "content-md5" || strings.HasPrefix(name, "x-oss-")
}

// ossCanonicalHeaders returns the canonical headers block (one
// "name:value\n" line per header, sorted by name) and the value of each
// line by name: every default-signed header the request carries and every
// header of additional. A header sent several times is one line, its values
// trimmed and joined by ','. The server moves Host out of the header map, so
// a signed "host" is read from r.Host. missing names a header of additional
// the request lacks, which leaves the signature unusable.
func ossCanonicalHeaders(r *http.Request, additional []string) (block string, values map[string]string, missing string) {
	raw := make(map[string][]string, len(r.Header)+1)
	for name, vs := range r.Header {
		lower := strings.ToLower(name)
		if ossDefaultSigned(lower) {
			raw[lower] = append(raw[lower], vs...)
		}
	}
	for _, name := range additional {
		if _, done := raw[name]; done {
			continue
		}
		var vs []string
		if name == "host" {
			if r.Host != "" {
				vs = []string{r.Host}
			}
		} else {
			vs = r.Header.Values(name)
		}
		if len(vs) == 0 {
			return "", nil, name
		}
		raw[name] = vs
	}
	values = make(map[string]string, len(raw))
	for name, vs := range raw {
		trimmed := make([]string, len(vs))
		for i, v := range vs {
			trimmed[i] = strings.TrimSpace(v)
		}
		values[name] = strings.Join(trimmed, ",")
	}
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(values)) {
		b.WriteString(name + ":" + values[name] + "\n")
	}
	return b.String(), values, ""
}

// ossCanonicalRequest joins the six parts. canonicalHeaders already ends
// each line with "\n", so a blank line separates it from the additional
// headers list, as in the documents' worked example.
func ossCanonicalRequest(method, uri, query, canonicalHeaders string, additional []string, payload string) string {
	return method + "\n" + uri + "\n" + query + "\n" + canonicalHeaders + "\n" +
		strings.Join(additional, ";") + "\n" + payload
}

// ossParseDateTime reads an x-oss-date value (ISO 8601 basic, UTC).
func ossParseDateTime(s string) (time.Time, bool) {
	t, err := time.Parse(ossDateTimeFormat, s)
	return t, err == nil
}
