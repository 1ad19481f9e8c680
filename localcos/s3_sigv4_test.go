package localcos

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// The SigV4 verifier against AWS's published values (testdata/s3-vectors.md).

var awsDocKey = Key{SecretID: "AKIAIOSFODNN7EXAMPLE", SecretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}

func s3VerifierAt(now time.Time, region, service string, creds ...Key) sigV4Verifier {
	return sigV4Verifier{
		credentials: func() []Key { return creds },
		now:         func() time.Time { return now },
		region:      region, service: service,
	}
}

var (
	may24     = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	emptyHash = hex.EncodeToString(emptySHA256[:])
)

// h1Request is H1, AWS's GET Object example.
func h1Request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt", nil)
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("x-amz-content-sha256", emptyHash)
	r.Header.Set("x-amz-date", "20130524T000000Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"+
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	return r
}

// h2Request is H2, AWS's PUT Object example.
func h2Request(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "http://examplebucket.s3.amazonaws.com/test%24file.text", strings.NewReader(body))
	r.Header.Set("Date", "Fri, 24 May 2013 00:00:00 GMT")
	r.Header.Set("x-amz-date", "20130524T000000Z")
	r.Header.Set("x-amz-storage-class", "REDUCED_REDUNDANCY")
	r.Header.Set("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"+
		"Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
	return r
}

func TestSigV4CanonicalRequestVectors(t *testing.T) {
	for _, tt := range []struct {
		name          string
		r             *http.Request
		signedHeaders string
		payload       string
		presigned     bool
		wantHash      string
	}{
		{"H1 GET Object", h1Request(), "host;range;x-amz-content-sha256;x-amz-date", emptyHash, false,
			"7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"},
		{"H2 PUT Object", h2Request("Welcome to Amazon S3."), "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", false,
			"9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"},
		{"Q1 presigned GET", q1Request(), "host", unsignedPayload, true,
			"3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"},
	} {
		canonical, err := canonicalRequest(tt.r, requestQuery(tt.r), strings.Split(tt.signedHeaders, ";"), tt.payload, tt.presigned)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := hexSHA256(canonical); got != tt.wantHash {
			t.Errorf("%s: hex(SHA256(CanonicalRequest)) = %s; want %s\n%s", tt.name, got, tt.wantHash, canonical)
		}
	}
}

func TestSigV4HeaderVectors(t *testing.T) {
	v := s3VerifierAt(may24, "us-east-1", "s3", awsDocKey)
	if _, err := v.verifyRequest(h1Request()); err != nil {
		t.Errorf("H1 GET Object: %v; want it verified", err)
	}
	h3 := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J", nil)
	h3.Header.Set("x-amz-content-sha256", emptyHash)
	h3.Header.Set("x-amz-date", "20130524T000000Z")
	h3.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
	if _, err := v.verifyRequest(h3); err != nil {
		t.Errorf("H3 GET Bucket: %v; want it verified", err)
	}

	// H2 verifies; the body's hash is left for the writer to check, and is
	// the hash of AWS's body.
	vr, err := v.verifyRequest(h2Request("Welcome to Amazon S3."))
	if err != nil {
		t.Fatalf("H2 PUT Object: %v; want it verified", err)
	}
	if sum := sha256.Sum256([]byte("Welcome to Amazon S3.")); !bytes.Equal(vr.sha256, sum[:]) {
		t.Errorf("H2: body hash to check %x; want %x", vr.sha256, sum)
	}
	if !vr.covers("x-amz-storage-class") || vr.covers("content-type") {
		t.Errorf("H2: covers x-amz-storage-class %v, content-type %v; want true, false",
			vr.covers("x-amz-storage-class"), vr.covers("content-type"))
	}

	tamper := func(edit func(r *http.Request)) *http.Request {
		r := h1Request()
		edit(r)
		return r
	}
	for _, tt := range []struct {
		name     string
		r        *http.Request
		v        sigV4Verifier
		wantCode string
	}{
		{"another Range", tamper(func(r *http.Request) { r.Header.Set("Range", "bytes=0-99") }), v, "SignatureDoesNotMatch"},
		{"a signed header dropped", tamper(func(r *http.Request) { r.Header.Del("Range") }), v, "SignatureDoesNotMatch"},
		{"another path", tamper(func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/test.txu", "" }), v, "SignatureDoesNotMatch"},
		{"another host", tamper(func(r *http.Request) { r.Host = "otherbucket.s3.amazonaws.com" }), v, "SignatureDoesNotMatch"},
		{"a query added", tamper(func(r *http.Request) { r.URL.RawQuery = "acl" }), v, "SignatureDoesNotMatch"},
		{"signature flipped", tamper(func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+"2")
		}), v, "SignatureDoesNotMatch"},
		{"wrong secret", h1Request(), s3VerifierAt(may24, "us-east-1", "s3",
			Key{SecretID: awsDocKey.SecretID, SecretKey: "wrong"}), "SignatureDoesNotMatch"},
		{"unknown key", h1Request(), s3VerifierAt(may24, "us-east-1", "s3", Key{SecretID: "AKIDother", SecretKey: "x"}), "InvalidAccessKeyId"},
		{"other region", h1Request(), s3VerifierAt(may24, "eu-west-1", "s3", awsDocKey), "AuthorizationHeaderMalformed"},
		{"16 minutes late", h1Request(), s3VerifierAt(may24.Add(16*time.Minute), "us-east-1", "s3", awsDocKey), "RequestTimeTooSkewed"},
		{"16 minutes early", h1Request(), s3VerifierAt(may24.Add(-16*time.Minute), "us-east-1", "s3", awsDocKey), "RequestTimeTooSkewed"},
		{"14 minutes late", h1Request(), s3VerifierAt(may24.Add(14*time.Minute), "us-east-1", "s3", awsDocKey), ""},
		{"no x-amz-date", tamper(func(r *http.Request) { r.Header.Del("x-amz-date") }), v, "AccessDenied"},
		{"no x-amz-content-sha256", tamper(func(r *http.Request) { r.Header.Del("x-amz-content-sha256") }), v, "InvalidRequest"},
		{"host unsigned", tamper(func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=", 1))
		}), v, "AuthorizationHeaderMalformed"},
		{"SigV2", tamper(func(r *http.Request) {
			r.Header.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
		}),
			v, "InvalidRequest"},
		{"a token for a permanent key", tamper(func(r *http.Request) { r.Header.Set("x-amz-security-token", "tok") }), v, "InvalidToken"},
		{"GET with a body its hash does not cover", func() *http.Request {
			r := h1Request()
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("x")), 1
			return r
		}(), v, "XAmzContentSHA256Mismatch"},
	} {
		_, err := tt.v.verifyRequest(tt.r)
		if got := codeOf(err); got != tt.wantCode {
			t.Errorf("%s: got %q (%v); want %q", tt.name, got, err, tt.wantCode)
		}
	}
}

// q1Request is Q1, AWS's presigned GET.
func q1Request() *http.Request {
	return httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt"+
		"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"+
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"+
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404", nil)
}

func TestSigV4PresignedVector(t *testing.T) {
	q1WithQuery := func(from, to string) *http.Request {
		r := q1Request()
		r.URL.RawQuery = strings.Replace(r.URL.RawQuery, from, to, 1)
		return r
	}
	for _, tt := range []struct {
		name     string
		r        *http.Request
		now      time.Time
		wantCode string
	}{
		{"at its date", q1Request(), may24, ""},
		{"on its last second", q1Request(), may24.Add(86400 * time.Second), ""},
		{"a second after", q1Request(), may24.Add(86401 * time.Second), "AccessDenied"},
		{"16 minutes before its date", q1Request(), may24.Add(-16 * time.Minute), "AccessDenied"},
		{"expiry lengthened", q1WithQuery("X-Amz-Expires=86400", "X-Amz-Expires=86401"), may24, "SignatureDoesNotMatch"},
		{"expiry past a week", q1WithQuery("X-Amz-Expires=86400", "X-Amz-Expires=604801"), may24, "AuthorizationQueryParametersError"},
		{"expiry zero", q1WithQuery("X-Amz-Expires=86400", "X-Amz-Expires=0"), may24, "AuthorizationQueryParametersError"},
		{"no signature", q1WithQuery("&X-Amz-Signature=", "&X-Amz-Other="), may24, "AuthorizationQueryParametersError"},
		{"signature twice", q1WithQuery("&X-Amz-Signature=", "&X-Amz-Signature=0&X-Amz-Signature="), may24, "AuthorizationQueryParametersError"},
		{"a parameter added", q1WithQuery("X-Amz-Algorithm", "response-content-type=text%2Fhtml&X-Amz-Algorithm"), may24, "SignatureDoesNotMatch"},
		{"a token added", q1WithQuery("X-Amz-Algorithm", "X-Amz-Security-Token=tok&X-Amz-Algorithm"), may24, "SignatureDoesNotMatch"},
		{"another algorithm", q1WithQuery("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), may24, "AuthorizationQueryParametersError"},
	} {
		r := tt.r
		_, err := s3VerifierAt(tt.now, "us-east-1", "s3", awsDocKey).verifyRequest(r)
		if got := codeOf(err); got != tt.wantCode {
			t.Errorf("%s: got %q (%v); want %q", tt.name, got, err, tt.wantCode)
		}
	}
	// A presigned request cannot also carry an Authorization header.
	r := q1Request()
	r.Header.Set("Authorization", h1Request().Header.Get("Authorization"))
	if _, err := s3VerifierAt(may24, "us-east-1", "s3", awsDocKey).verifyRequest(r); codeOf(err) != "InvalidArgument" {
		t.Errorf("presigned with an Authorization header: %v; want InvalidArgument", err)
	}
}

// p1Form is P1, AWS's POST policy example, keyed as postObject keys fields.
func p1Form() map[string]string {
	return map[string]string{
		"key":                          "user/user1/${filename}",
		"acl":                          "public-read",
		"success_action_redirect":      "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
		"content-type":                 "image/jpeg",
		"x-amz-meta-uuid":              "14365123651274",
		"x-amz-server-side-encryption": "AES256",
		"x-amz-credential":             "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
		"x-amz-algorithm":              "AWS4-HMAC-SHA256",
		"x-amz-date":                   "20151229T000000Z",
		"x-amz-meta-tag":               "",
		"policy":                       "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9",
		"x-amz-signature":              "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e",
	}
}

func TestSigV4PostPolicyVector(t *testing.T) {
	dec29 := time.Date(2015, 12, 29, 0, 0, 0, 0, time.UTC)
	const key, bucket = "user/user1/MyPhoto.jpg", "sigv4examplebucket"
	v := s3VerifierAt(dec29, "us-east-1", "s3", awsDocKey)
	if _, err := v.verifyPostForm(p1Form(), key, bucket); err != nil {
		t.Fatalf("P1: %v; want it verified", err)
	}
	with := func(name, value string) map[string]string {
		f := p1Form()
		if value == "\x00" {
			delete(f, name)
		} else {
			f[name] = value
		}
		return f
	}
	for _, tt := range []struct {
		name     string
		form     map[string]string
		key      string
		bucket   string
		v        sigV4Verifier
		wantCode string
	}{
		{"another key prefix", p1Form(), "user/user2/MyPhoto.jpg", bucket, v, "AccessDenied"},
		{"another bucket", p1Form(), key, "otherbucket", v, "AccessDenied"},
		{"a type outside image/", with("content-type", "text/html"), key, bucket, v, "AccessDenied"},
		{"another acl", with("acl", "private"), key, bucket, v, "AccessDenied"},
		{"an extra field", with("x-amz-meta-extra", "1"), key, bucket, v, "AccessDenied"},
		{"an x-ignore- field", with("x-ignore-note", "1"), key, bucket, v, ""},
		{"a restricted field missing", with("x-amz-meta-uuid", "\x00"), key, bucket, v, "AccessDenied"},
		{"signature flipped", with("x-amz-signature", "9afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"), key, bucket, v, "SignatureDoesNotMatch"},
		{"policy edited", with("policy", "f"+p1Form()["policy"][1:]), key, bucket, v, "SignatureDoesNotMatch"},
		{"no signature", with("x-amz-signature", "\x00"), key, bucket, v, "InvalidArgument"},
		{"no policy", with("policy", "\x00"), key, bucket, v, "AccessDenied"},
		{"x-amz-date of another day", with("x-amz-date", "20151230T000000Z"), key, bucket, v, "InvalidArgument"},
		{"expired", p1Form(), key, bucket, s3VerifierAt(time.Date(2015, 12, 30, 12, 0, 0, 0, time.UTC), "us-east-1", "s3", awsDocKey), "AccessDenied"},
		{"unknown key", p1Form(), key, bucket, s3VerifierAt(dec29, "us-east-1", "s3", Key{SecretID: "AKIDother", SecretKey: "x"}), "InvalidAccessKeyId"},
		{"other region", p1Form(), key, bucket, s3VerifierAt(dec29, "eu-west-1", "s3", awsDocKey), "InvalidArgument"},
	} {
		_, err := tt.v.verifyPostForm(tt.form, tt.key, tt.bucket)
		if got := codeOf(err); got != tt.wantCode {
			t.Errorf("%s: got %q (%v); want %q", tt.name, got, err, tt.wantCode)
		}
	}
}

// c1Body is C1's aws-chunked body, with the final chunk's signature given.
func c1Body(final string) []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n")
	b.Write(bytes.Repeat([]byte("a"), 65536))
	b.WriteString("\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n")
	b.Write(bytes.Repeat([]byte("a"), 1024))
	b.WriteString("\r\n0;chunk-signature=" + final + "\r\n\r\n")
	return b.Bytes()
}

const c1Final = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"

// c1Request is C1, AWS's chunked upload, sent to host (s3.amazonaws.com in
// AWS's example).
func c1Request(target string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPut, target, bytes.NewReader(body))
	r.Host = "s3.amazonaws.com"
	r.Header.Set("x-amz-date", "20130524T000000Z")
	r.Header.Set("x-amz-storage-class", "REDUCED_REDUNDANCY")
	r.Header.Set("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("x-amz-decoded-content-length", "66560")
	r.Header.Set("Content-Length", "66824")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
		"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
	return r
}

func TestSigV4ChunkedVector(t *testing.T) {
	v := s3VerifierAt(may24, "us-east-1", "s3", awsDocKey)
	if n := len(c1Body(c1Final)); n != 66824 {
		t.Fatalf("C1 body: %d bytes; want AWS's Content-Length 66824", n)
	}
	decode := func(body []byte) ([]byte, error) {
		vr, err := v.verifyRequest(c1Request("http://s3.amazonaws.com/examplebucket/chunkObject.txt", body))
		if err != nil {
			return nil, err
		}
		if vr.decodedLength != 66560 || vr.contentCoding != "aws-chunked" {
			t.Errorf("C1: decoded length %d, coding %q; want 66560, aws-chunked", vr.decodedLength, vr.contentCoding)
		}
		return io.ReadAll(vr.body)
	}
	got, err := decode(c1Body(c1Final))
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
		t.Fatalf("C1: %d bytes, %v; want 66560 bytes of 'a'", len(got), err)
	}
	flipped := c1Body(c1Final)
	flipped[200] = 'b'
	truncated := c1Body(c1Final)[:60000]
	short := bytes.Replace(c1Body(c1Final), []byte("400;chunk"), []byte("3ff;chunk"), 1)
	for _, tt := range []struct {
		name     string
		body     []byte
		wantCode string
	}{
		{"a data byte changed", flipped, "SignatureDoesNotMatch"},
		{"final signature changed", c1Body(strings.Repeat("0", 64)), "SignatureDoesNotMatch"},
		{"header line garbled", bytes.Replace(c1Body(c1Final), []byte(";chunk-signature="), []byte(";chunk-signatur="), 1), "InvalidRequest"},
		{"a chunk size changed", short, "SignatureDoesNotMatch"},
		{"a chunk larger than announced", bytes.Replace(c1Body(c1Final), []byte("400;chunk"), []byte("401;chunk"), 1), "InvalidRequest"},
	} {
		_, err := decode(tt.body)
		if got := codeOf(err); got != tt.wantCode {
			t.Errorf("%s: got %q (%v); want %q", tt.name, got, err, tt.wantCode)
		}
	}
	if _, err := decode(truncated); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body cut short: %v; want io.ErrUnexpectedEOF", err)
	}
}

// TestSigV4TestSuite runs the AWS SigV4 test suite's cases whose canonical
// form S3 shares (testdata/s3-vectors.md).
func TestSigV4TestSuite(t *testing.T) {
	suiteKey := Key{SecretID: "AKIDEXAMPLE", SecretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	suiteToken := "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
	now := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, method, target string
		headers              [][2]string
		signedHeaders        string
		signature            string
		token                bool
	}{
		{"get-vanilla", "GET", "/", nil, "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", false},
		{"post-vanilla", "POST", "/", nil, "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", false},
		{"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", nil, "host;x-amz-date",
			"b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", false},
		{"get-vanilla-query-unreserved", "GET",
			"/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
			nil, "host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197", false},
		{"get-vanilla-utf8-query", "GET", "/?%E1%88%B4=bar", nil, "host;x-amz-date",
			"2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04", false},
		{"get-header-key-duplicate", "GET", "/", [][2]string{{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
			"host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea", false},
		{"get-header-value-order", "GET", "/", [][2]string{{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}},
			"host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01", false},
		{"get-header-value-trim", "GET", "/", [][2]string{{"My-Header1", " value1"}, {"My-Header2", `"a   b   c"`}},
			"host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736", false},
		{"get-vanilla-with-session-token", "GET", "/", [][2]string{{"X-Amz-Security-Token", suiteToken}},
			"host;x-amz-date;x-amz-security-token", "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8", true},
	} {
		r := httptest.NewRequest(tt.method, "http://example.amazonaws.com"+tt.target, nil)
		r.Header.Set("X-Amz-Date", "20150830T123600Z")
		for _, h := range tt.headers {
			r.Header.Add(h[0], h[1])
		}
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "+
			"SignedHeaders="+tt.signedHeaders+", Signature="+tt.signature)
		key := suiteKey
		if tt.token {
			key.SessionToken = suiteToken
		}
		if _, err := s3VerifierAt(now, "us-east-1", "service", key).verifyRequest(r); err != nil {
			t.Errorf("%s: %v; want it verified", tt.name, err)
		}
		// Verifying reads the headers; it leaves them as sent.
		for _, h := range tt.headers {
			if !slices.Contains(r.Header.Values(h[0]), h[1]) {
				t.Errorf("%s: after verifying, %s is %q; want %q still among them", tt.name, h[0], r.Header.Values(h[0]), h[1])
			}
		}
		// One byte more in any signed value breaks it.
		r.Header.Set("X-Amz-Date", "20150830T123601Z")
		if _, err := s3VerifierAt(now, "us-east-1", "service", key).verifyRequest(r); codeOf(err) != "SignatureDoesNotMatch" {
			t.Errorf("%s with another x-amz-date: %v; want SignatureDoesNotMatch", tt.name, err)
		}
	}
}
