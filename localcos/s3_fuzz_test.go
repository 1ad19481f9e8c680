package localcos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// Hostile input for the SigV4 verifier. The references are AWS's own worked
// examples (testdata/s3-vectors.md), fixed in time, so the seeds mean the
// same on every run.

// FuzzSigV4Request sends AWS's GET Object request (H1's headers) with an
// arbitrary query, Authorization header (when not empty) and path (when not
// empty). Only a replay of AWS's presigned URL (Q1) or of its Authorization
// header (H1) can verify, and only while what they signed is unchanged.
func FuzzSigV4Request(f *testing.F) {
	v := s3VerifierAt(may24.Add(time.Minute), "us-east-1", "s3", awsDocKey)
	q1 := q1Request()
	if _, err := v.verifyRequest(q1); err != nil {
		f.Fatalf("Q1 does not verify: %v", err)
	}
	q1Query := q1.URL.RawQuery
	q1Canonical := canonicalQuery(requestQuery(q1), true)
	h1Auth := h1Request().Header.Get("Authorization")
	for _, s := range [][3]string{
		{q1Query, "", ""},
		{"", h1Auth, ""},
		{q1Query, h1Auth, ""},
		{q1Query + "&x=1", "", ""},
		{strings.Replace(q1Query, "X-Amz-Expires=86400", "X-Amz-Expires=86400&X-Amz-Expires=1", 1), "", ""},
		{strings.Replace(q1Query, "%2F", "/", -1), "", ""},
		{strings.Replace(q1Query, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=HOST", 1), "", ""},
		{q1Query, "", "/test.txt/"},
		{q1Query, "", "/Test.txt"},
		{"", strings.Replace(h1Auth, ",", ", ", -1), ""},
		{"", strings.Replace(h1Auth, "SignedHeaders=host;range;", "SignedHeaders=host;", 1), ""},
		{"", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request", ""},
		{"", "AWS4-HMAC-SHA256 ,,,===", ""},
		{"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%2F%2F%2F%2F&X-Amz-Date=x&X-Amz-Expires=-1&X-Amz-SignedHeaders=&X-Amz-Signature=", "", ""},
		{"X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F99999999%2Fus-east-1%2Fs3%2Faws4_request", "", ""},
		{";;;&&%00=%00&\x00=\xff", "\xff\xfe", "\x00"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, rawQuery, authorization, path string) {
		r := h1Request()
		r.Header.Del("Authorization")
		r.URL.RawQuery = rawQuery
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if path != "" {
			r.URL.Path, r.URL.RawPath = path, ""
		}
		signed := v.signed(r)
		_, err := v.verifyRequest(r)
		checkCoded(t, "verifyRequest", err)
		if !signed && codeOf(err) != "AccessDenied" {
			t.Fatalf("unsigned request: got %q (%v); want AccessDenied", codeOf(err), err)
		}
		if err != nil {
			return
		}
		if r.URL.Path != "/test.txt" {
			t.Fatalf("verifies for path %q; signed /test.txt", r.URL.Path)
		}
		switch canonical := canonicalQuery(requestQuery(r), true); {
		case authorization == "" && canonical != q1Canonical:
			t.Fatalf("a presigned request verifies with query %q; signed %q", canonical, q1Canonical)
		case authorization != "" && canonical != "":
			t.Fatalf("H1 verifies with query %q; it signed none", canonical)
		}
	})
}

// FuzzS3PostPolicy drives verifyPostForm two ways with every input:
//
//  1. policy is arbitrary text, correctly signed (by the test's own HMAC),
//     so parsing and every condition check are reached; the form is AWS's
//     (P1) with one arbitrary field added.
//  2. AWS's form with one field set to value (or dropped): a field P1 pins
//     with eq, or signs, may not verify with another value.
func FuzzS3PostPolicy(f *testing.F) {
	dec29 := time.Date(2015, 12, 29, 0, 0, 0, 0, time.UTC)
	v := s3VerifierAt(dec29, "us-east-1", "s3", awsDocKey)
	const key, bucket = "user/user1/MyPhoto.jpg", "sigv4examplebucket"
	p1 := p1Form()
	policy, err := base64.StdEncoding.DecodeString(p1["policy"])
	if err != nil {
		f.Fatal(err)
	}
	pinned := map[string]bool{
		"acl": true, "success_action_redirect": true, "x-amz-meta-uuid": true, "x-amz-server-side-encryption": true,
		"x-amz-credential": true, "x-amz-algorithm": true, "x-amz-date": true, "policy": true, "x-amz-signature": true,
	}
	for _, s := range [][4]string{
		{string(policy), "x-ignore-a", "acl", "public-read"},
		{`{"expiration":"2016-01-01T00:00:00Z","conditions":[["content-length-range",0,-1]]}`, "", "x-amz-date", "20151229T000001Z"},
		{`{"expiration":"2016-01-01T00:00:00Z","conditions":[["starts-with","$key",""],{"bucket":"sigv4examplebucket"}]}`, "key", "content-type", "text/html"},
		{`{"expiration":"2016-01-01T00:00:00Z","conditions":[["eq","$x-amz-meta-uuid",1]]}`, "x-amz-meta-uuid", "x-amz-meta-tag", "anything"},
		{`{"expiration":"2015-12-28T00:00:00Z","conditions":[]}`, "", "x-amz-signature", ""},
		{`{"expiration":"2016-01-01T00:00:00Z","conditions":[["content-length-range",1,2],["content-length-range",5,10]]}`, "", "key", "k"},
		{`{"conditions":[[]]}`, "\x00", "policy", "\xff"},
		{"not json", "POLICY", "x-amz-credential", "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request/"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, policyText, extraField, field, value string) {
		// 1. An arbitrary policy, signed.
		form := p1Form()
		encoded := base64.StdEncoding.EncodeToString([]byte(policyText))
		form["policy"] = encoded
		form["x-amz-signature"] = testPostSignature(awsDocKey.SecretKey, "20151229", encoded)
		if extraField != "" {
			form[strings.ToLower(extraField)] = value
		}
		size, err := v.verifyPostForm(form, key, bucket)
		checkCoded(t, "verifyPostForm (signed policy)", err)
		if err == nil && size.min > size.max {
			t.Fatalf("verified with an empty size range %+v", size)
		}

		// 2. AWS's form, one field changed.
		form = p1Form()
		if value == "\x00" {
			delete(form, field)
		} else {
			form[field] = value
		}
		_, err = v.verifyPostForm(form, key, bucket)
		checkCoded(t, "verifyPostForm (P1 changed)", err)
		if err == nil && pinned[field] && value != p1[field] {
			t.Fatalf("P1 verifies with %s=%q; it pinned %q", field, value, p1[field])
		}
	})
}

// testPostSignature is the test's own reading of a POST policy signature:
// hex HMAC-SHA256 of the base64 policy under the SigV4 signing key.
func testPostSignature(secret, date, encoded string) string {
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), date)
	for _, part := range []string{"us-east-1", "s3", "aws4_request"} {
		k = mac(k, part)
	}
	return hex.EncodeToString(mac(k, encoded))
}
