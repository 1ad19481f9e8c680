package s3_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A reading of AWS Signature Version 4 written for these tests from AWS's
// documentation, sharing no code with minio-go, which signs in production:
// "Authenticating Requests: Using Query Parameters (AWS Signature Version
// 4)" (sigv4-query-string-auth), "Signature Calculations for the
// Authorization Header" (sig-v4-header-based-auth) and "Calculating a
// Signature" for POST policies (sigv4-post-example). It is checked against
// AWS's worked examples below, then used to check what the client signs: a
// mistake in minio-go's signer, or in how the client calls it, cannot hide
// behind the same mistake here.

const (
	awsExampleKeyID  = "AKIAIOSFODNN7EXAMPLE"
	awsExampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	sigV4Algorithm   = "AWS4-HMAC-SHA256"
	amzDateLayout    = "20060102T150405Z"
)

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// signingKey is kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date),
// region), "s3"), "aws4_request").
func signingKey(secret, date, region string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, "s3")
	return hmacSHA256(k, "aws4_request")
}

// uriEncode is SigV4's UriEncode: every byte but A-Z a-z 0-9 - . _ ~ as %XX
// in upper-case hex, and '/' kept in a path.
func uriEncode(s string, path bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || path && c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// canonicalRequest is HTTPMethod, CanonicalURI (the path, encoded once for
// S3), CanonicalQueryString (names and values encoded, sorted, without
// X-Amz-Signature), CanonicalHeaders (lower-case names, trimmed values, in
// signed's order), SignedHeaders and the payload hash. A header's value is
// what the server receives: Host is r.Host, Content-Length r.ContentLength.
func canonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	q := r.URL.Query()
	var pairs []string
	for k, vs := range q {
		if k == "X-Amz-Signature" {
			continue
		}
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, false)+"="+uriEncode(v, false))
		}
	}
	slices.Sort(pairs)
	var headers strings.Builder
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
			if v == "" {
				v = r.URL.Host
			}
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(strings.Fields(strings.Join(r.Header.Values(h), ",")), " ")
		}
		headers.WriteString(h + ":" + v + "\n")
	}
	return r.Method + "\n" + uriEncode(r.URL.Path, true) + "\n" + strings.Join(pairs, "&") + "\n" +
		headers.String() + "\n" + strings.Join(signed, ";") + "\n" + payloadHash
}

// stringToSign is the algorithm, the request time, the scope and the
// canonical request's hash.
func stringToSign(amzDate, scope, canonical string) string {
	return sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + sha256Hex(canonical)
}

// credentialScope splits "<key id>/<date>/<region>/s3/aws4_request".
func credentialScope(credential string) (keyID, date, region string, err error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[3] != "s3" || parts[4] != "aws4_request" {
		return "", "", "", fmt.Errorf("credential %q is not <id>/<date>/<region>/s3/aws4_request", credential)
	}
	return parts[0], parts[1], parts[2], nil
}

// verifyPresigned checks r, a request made with a presigned URL, as S3
// checks one: every parameter present, the signature recomputed over the
// signed headers' values in r, and the window X-Amz-Date + X-Amz-Expires
// not passed at now. secrets maps key ids to secrets.
func verifyPresigned(r *http.Request, secrets map[string]string, now time.Time) error {
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != sigV4Algorithm {
		return errors.New("X-Amz-Algorithm is not AWS4-HMAC-SHA256")
	}
	keyID, date, region, err := credentialScope(q.Get("X-Amz-Credential"))
	if err != nil {
		return err
	}
	secret, ok := secrets[keyID]
	if !ok {
		return fmt.Errorf("unknown key id %s", keyID)
	}
	amzDate := q.Get("X-Amz-Date")
	start, err := time.Parse(amzDateLayout, amzDate)
	if err != nil || amzDate[:8] != date {
		return fmt.Errorf("X-Amz-Date %q does not match the credential's date %s", amzDate, date)
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || expires < 1 || expires > 604800 {
		return fmt.Errorf("X-Amz-Expires %q out of 1..604800", q.Get("X-Amz-Expires"))
	}
	if now.After(start.Add(time.Duration(expires) * time.Second)) {
		return errors.New("request has expired")
	}
	signed := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	if !slices.IsSorted(signed) || !slices.Contains(signed, "host") {
		return fmt.Errorf("X-Amz-SignedHeaders %q not sorted or without host", q.Get("X-Amz-SignedHeaders"))
	}
	canonical := canonicalRequest(r, signed, "UNSIGNED-PAYLOAD")
	sts := stringToSign(amzDate, date+"/"+region+"/s3/aws4_request", canonical)
	want := hex.EncodeToString(hmacSHA256(signingKey(secret, date, region), sts))
	if q.Get("X-Amz-Signature") != want {
		return errors.New("signature does not match")
	}
	return nil
}

// verifyHeaderSigned checks r, signed in its Authorization header, as S3
// checks one, and returns the key id that signed it. The payload hash is
// x-amz-content-sha256, which must be signed; body, if not nil, must hash
// to it unless it says UNSIGNED-PAYLOAD.
func verifyHeaderSigned(r *http.Request, body []byte, secrets map[string]string) (string, error) {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), sigV4Algorithm+" ")
	if !ok {
		return "", errors.New("no AWS4-HMAC-SHA256 Authorization header")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(auth, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	keyID, date, region, err := credentialScope(fields["Credential"])
	if err != nil {
		return "", err
	}
	secret, ok := secrets[keyID]
	if !ok {
		return keyID, fmt.Errorf("unknown key id %s", keyID)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if len(amzDate) != len(amzDateLayout) || amzDate[:8] != date {
		return keyID, fmt.Errorf("X-Amz-Date %q does not match the credential's date", amzDate)
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-amz-content-sha256", "x-amz-date"} {
		if !slices.Contains(signed, must) {
			return keyID, fmt.Errorf("SignedHeaders %q lacks %s", fields["SignedHeaders"], must)
		}
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if body != nil && payload != "UNSIGNED-PAYLOAD" {
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != payload {
			return keyID, errors.New("x-amz-content-sha256 does not match the body")
		}
	}
	canonical := canonicalRequest(r, signed, payload)
	sts := stringToSign(amzDate, date+"/"+region+"/s3/aws4_request", canonical)
	if want := hex.EncodeToString(hmacSHA256(signingKey(secret, date, region), sts)); fields["Signature"] != want {
		return keyID, errors.New("signature does not match")
	}
	return keyID, nil
}

// postSignature is a POST policy's x-amz-signature: the policy field as
// sent (base64) signed with the key of the credential's date and region.
func postSignature(secret, credential, policyB64 string) (string, error) {
	_, date, region, err := credentialScope(credential)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(hmacSHA256(signingKey(secret, date, region), policyB64)), nil
}

// TestVerifierMatchesAWSExamples: the verifier reproduces AWS's worked
// examples exactly.
func TestVerifierMatchesAWSExamples(t *testing.T) {
	secrets := map[string]string{awsExampleKeyID: awsExampleSecret}

	// sigv4-query-string-auth, "Example: presigned URL": GET test.txt in
	// examplebucket, us-east-1, 20130524T000000Z, valid 86400 s, host signed.
	// AWS gives the StringToSign's hash and the signature.
	const example = "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	req, err := http.NewRequest(http.MethodGet, example, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sha256Hex(canonicalRequest(req, []string{"host"}, "UNSIGNED-PAYLOAD")),
		"3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"; got != want {
		t.Errorf("hash of the example's canonical request = %s; want AWS's %s", got, want)
	}
	at := time.Date(2013, 5, 24, 12, 0, 0, 0, time.UTC)
	if err := verifyPresigned(req, secrets, at); err != nil {
		t.Errorf("AWS's example URL: %v", err)
	}
	if err := verifyPresigned(req, secrets, at.Add(24*time.Hour)); err == nil {
		t.Error("AWS's example URL verified a day after it expired")
	}
	tampered, _ := http.NewRequest(http.MethodGet, strings.Replace(example, "test.txt", "test2.txt", 1), nil)
	if err := verifyPresigned(tampered, secrets, at); err == nil {
		t.Error("the example's signature verified for another key")
	}

	// sigv4-post-example: the policy as sent (base64) and its signature.
	const policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
	decoded, err := base64.StdEncoding.DecodeString(policy)
	if err != nil || !strings.Contains(string(decoded), `{"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"}`) {
		t.Fatalf("AWS's example policy decodes to %q, %v", decoded, err)
	}
	got, err := postSignature(awsExampleSecret, "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request", policy)
	if want := "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"; err != nil || got != want {
		t.Errorf("POST example signature = %s, %v; want AWS's %s", got, err, want)
	}
}

// mustParse is url.Parse for test literals.
func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
