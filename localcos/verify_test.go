package localcos

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"
)

// The key pair of Tencent's documented examples (testdata/cos-vectors.md).
const (
	docSecretID  = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
	docSecretKey = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
)

var docCredentials = Key{SecretID: docSecretID, SecretKey: docSecretKey}

func verifierAt(now time.Time, creds ...Key) signatureVerifier {
	return signatureVerifier{
		credentials: func() []Key { return creds },
		now:         func() time.Time { return now },
	}
}

// codeOf is the COS error code err carries: "" for nil.
func codeOf(err error) string {
	if err == nil {
		return ""
	}
	var ce *codedError
	if !errors.As(err, &ce) {
		return "non-COS error: " + err.Error()
	}
	return ce.code
}

const v1KeyTime = "1557989151;1557996351"

// v1Request is vector V1: PUT /exampleobject(腾讯云) with seven signed headers.
func v1Request() *http.Request {
	r := httptest.NewRequest(http.MethodPut,
		"http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91)",
		strings.NewReader("ObjectContent"))
	r.Header.Set("Date", "Thu, 16 May 2019 06:45:51 GMT")
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("Content-Length", "13")
	r.Header.Set("Content-MD5", "mQ/fVh815F3k6TAUm8m0eg==")
	r.Header.Set("x-cos-acl", "private")
	r.Header.Set("x-cos-grant-read", `uin="100000000011"`)
	r.Header.Set("Authorization", "q-sign-algorithm=sha1&q-ak="+docSecretID+
		"&q-sign-time="+v1KeyTime+"&q-key-time="+v1KeyTime+
		"&q-header-list=content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read"+
		"&q-url-param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172")
	return r
}

const v2KeyTime = "1557989753;1557996953"

// v2Request is vector V2: GET with two signed query parameters.
func v2Request() *http.Request {
	r := httptest.NewRequest(http.MethodGet,
		"http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91)"+
			"?response-content-type=application%2Foctet-stream&response-cache-control=max-age%3D600", nil)
	r.Header.Set("Date", "Thu, 16 May 2019 06:55:53 GMT")
	r.Header.Set("Authorization", "q-sign-algorithm=sha1&q-ak="+docSecretID+
		"&q-sign-time="+v2KeyTime+"&q-key-time="+v2KeyTime+
		"&q-header-list=date;host&q-url-param-list=response-cache-control;response-content-type"+
		"&q-signature=01681b8c9d798a678e43b685a9f1bba0f6c0e012")
	return r
}

func TestHTTPStringVectorV1(t *testing.T) {
	r := v1Request()
	fields, err := requestSignatureFields(r)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := httpString(r, fields)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hexSHA1(hs), "8b2751e77f43a0995d6e9eb9477f4b685cca4172"; got != want {
		t.Errorf("SHA1(HttpString) = %s; want %s\nHttpString:\n%s", got, want, hs)
	}
	if got, want := signingKey(docSecretKey, v1KeyTime), "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f"; got != want {
		t.Errorf("SignKey = %s; want %s", got, want)
	}
}

func TestVerifyRequestVectors(t *testing.T) {
	v1Time := time.Unix(1557989151+60, 0)
	v2Time := time.Unix(1557989753+60, 0)
	rotated := Key{SecretID: "AKIDnewer", SecretKey: "another-key"}
	tests := []struct {
		name    string
		request func() *http.Request
		mutate  func(*http.Request)
		creds   []Key
		now     time.Time
		want    string // COS error code; "" means it verifies
	}{
		{name: "V1", request: v1Request, now: v1Time},
		{name: "V2", request: v2Request, now: v2Time},
		{name: "V1 among rotated keys", request: v1Request, now: v1Time, creds: []Key{rotated, docCredentials}},
		{name: "V1 at the first second", request: v1Request, now: time.Unix(1557989151, 0)},
		{name: "V1 at the last second", request: v1Request, now: time.Unix(1557996351, 0)},
		{name: "unsigned header changed", request: v1Request, now: v1Time,
			mutate: func(r *http.Request) { r.Header.Set("User-Agent", "something else") }},
		{name: "unsigned parameter added", request: v2Request, now: v2Time,
			mutate: func(r *http.Request) { r.URL.RawQuery += "&extra=1" }},
		{name: "wrong SecretKey", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			creds: []Key{{SecretID: docSecretID, SecretKey: "not-the-key"}}},
		{name: "unknown SecretId", request: v1Request, now: v1Time, want: "InvalidAccessKeyId",
			creds: []Key{rotated}},
		{name: "tampered path", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { r.URL.Path = "/exampleobject(腾讯云)2" }},
		{name: "tampered method", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { r.Method = http.MethodPost }},
		{name: "tampered signed header", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }},
		{name: "tampered host", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { r.Host = "otherbucket-1250000000.cos.ap-beijing.myqcloud.com" }},
		{name: "signed header absent", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { r.Header.Del("x-cos-acl") }},
		{name: "tampered signed parameter", request: v2Request, now: v2Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "octet-stream", "html", 1)
			}},
		{name: "signed parameter absent", request: v2Request, now: v2Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) {
				r.URL.RawQuery = "response-content-type=application%2Foctet-stream"
			}},
		{name: "expired", request: v1Request, now: time.Unix(1557996351+1, 0), want: "AccessDenied"},
		{name: "not yet valid", request: v1Request, now: time.Unix(1557989151-1, 0), want: "AccessDenied"},
		{name: "no signature", request: v1Request, now: v1Time, want: "AccessDenied",
			mutate: func(r *http.Request) { r.Header.Del("Authorization") }},
		{name: "q-signature missing", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) {
				editAuthorization(r, "&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172", "")
			}},
		{name: "not sha1", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { editAuthorization(r, "q-sign-algorithm=sha1", "q-sign-algorithm=md5") }},
		{name: "garbled key time", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { editAuthorization(r, "q-key-time="+v1KeyTime, "q-key-time=soon") }},
		{name: "header list shortened", request: v1Request, now: v1Time, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { editAuthorization(r, ";x-cos-grant-read&", "&") }},
		{name: "token sent to a permanent key", request: v1Request, now: v1Time, want: "AccessDenied",
			mutate: func(r *http.Request) { r.Header.Set("x-cos-security-token", "sts-token") }},
		{name: "temporary key without its token", request: v1Request, now: v1Time, want: "AccessDenied",
			creds: []Key{{SecretID: docSecretID, SecretKey: docSecretKey, SessionToken: "sts-token"}}},
		{name: "temporary key with its token", request: v1Request, now: v1Time,
			creds:  []Key{{SecretID: docSecretID, SecretKey: docSecretKey, SessionToken: "sts-token"}},
			mutate: func(r *http.Request) { r.Header.Set("x-cos-security-token", "sts-token") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.request()
			if tt.mutate != nil {
				tt.mutate(r)
			}
			creds := tt.creds
			if creds == nil {
				creds = []Key{docCredentials}
			}
			_, err := verifierAt(tt.now, creds...).verifyRequest(r)
			if got := codeOf(err); got != tt.want {
				t.Errorf("verifyRequest: got %q (%v); want %q", got, err, tt.want)
			}
		})
	}
}

func editAuthorization(r *http.Request, old, new string) {
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
}

// TestVerifyPresignedURL checks URLs made by the SDK's own signer, with a
// signed Content-Type header and an STS token in the query.
func TestVerifyPresignedURL(t *testing.T) {
	base, _ := url.Parse("http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com")
	client := cos.NewClient(&cos.BaseURL{BucketURL: base}, nil)
	start := time.Unix(1700000000, 0)
	authTime := &cos.AuthTime{SignStartTime: start, SignEndTime: start.Add(10 * time.Minute),
		KeyStartTime: start, KeyEndTime: start.Add(10 * time.Minute)}
	cred := Key{SecretID: docSecretID, SecretKey: docSecretKey, SessionToken: "sts-token"}
	presign := func(t *testing.T, merged bool) string {
		t.Helper()
		header := http.Header{}
		header.Set("Content-Type", "image/png")
		query := url.Values{}
		query.Set("x-cos-security-token", cred.SessionToken)
		u, err := client.Object.GetPresignedURL(context.Background(), http.MethodPut, "avatars/u 1/(me)+腾讯.png",
			cred.SecretID, cred.SecretKey, time.Hour,
			&cos.PresignedURLOptions{Header: &header, Query: &query, AuthTime: authTime, SignMerged: merged})
		if err != nil {
			t.Fatal(err)
		}
		return u.String()
	}
	inWindow := start.Add(time.Minute)
	tests := []struct {
		name   string
		merged bool
		mutate func(*http.Request)
		creds  []Key
		now    time.Time
		want   string
	}{
		{name: "as signed"},
		{name: "merged sign parameter", merged: true},
		{name: "raw semicolons, as Tencent's JavaScript SDKs send them",
			mutate: func(r *http.Request) { r.URL.RawQuery = strings.ReplaceAll(r.URL.RawQuery, "%3B", ";") }},
		{name: "tampered Content-Type", want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }},
		{name: "Content-Type dropped", want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { r.Header.Del("Content-Type") }},
		{name: "tampered path", want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { r.URL.Path = "/avatars/u 2/(me)+腾讯.png" }},
		{name: "tampered path, merged", merged: true, want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { r.URL.Path = "/avatars/u 2/(me)+腾讯.png" }},
		{name: "token dropped", want: "SignatureDoesNotMatch",
			mutate: func(r *http.Request) { dropQuery(r, "x-cos-security-token") }},
		{name: "token of another session", want: "AccessDenied",
			creds: []Key{{SecretID: docSecretID, SecretKey: docSecretKey, SessionToken: "newer-token"}}},
		{name: "expired", now: start.Add(11 * time.Minute), want: "AccessDenied"},
		{name: "not yet valid", now: start.Add(-time.Second), want: "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, presign(t, tt.merged), strings.NewReader("png"))
			r.Header.Set("Content-Type", "image/png")
			if tt.mutate != nil {
				tt.mutate(r)
			}
			now, creds := tt.now, tt.creds
			if now.IsZero() {
				now = inWindow
			}
			if creds == nil {
				creds = []Key{cred}
			}
			if !hasSignature(r) {
				t.Fatalf("hasSignature = false; want true")
			}
			_, err := verifierAt(now, creds...).verifyRequest(r)
			if got := codeOf(err); got != tt.want {
				t.Errorf("verifyRequest: got %q (%v); want %q", got, err, tt.want)
			}
		})
	}
}

func dropQuery(r *http.Request, name string) {
	q := r.URL.Query()
	q.Del(name)
	r.URL.RawQuery = q.Encode()
}

// TestVerifyAuthorizationTransport sends real requests signed by the SDK's
// AuthorizationTransport to a server that only verifies them.
func TestVerifyAuthorizationTransport(t *testing.T) {
	cred := Key{SecretID: "AKIDtransport", SecretKey: "transport-key", SessionToken: "sts-token"}
	v := signatureVerifier{credentials: func() []Key { return []Key{cred} }, now: time.Now}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.verifyRequest(r); err != nil {
			http.Error(w, codeOf(err), http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	tests := []struct {
		name      string
		secretKey string
		token     string
		want      int
	}{
		{name: "valid", secretKey: cred.SecretKey, token: cred.SessionToken, want: http.StatusNoContent},
		{name: "wrong SecretKey", secretKey: "wrong", token: cred.SessionToken, want: http.StatusForbidden},
		{name: "wrong token", secretKey: cred.SecretKey, token: "stale", want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := &http.Client{Transport: &cos.AuthorizationTransport{
				SecretID: cred.SecretID, SecretKey: tt.secretKey, SessionToken: tt.token}}
			req, err := http.NewRequest(http.MethodPut,
				srv.URL+"/dir%2Fa%20b/(c)%E8%85%BE.txt?versionId=1&Response-Content-Type=text%2Fplain&flag",
				strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("x-cos-meta-owner", "u 1")
			req.Header.Add("x-cos-meta-tags", "b")
			req.Header.Add("x-cos-meta-tags", "a")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				body, _ := io.ReadAll(resp.Body)
				t.Errorf("status: got %d (%s); want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// TestVerifyPostFormVectorP1 holds the form of vector P1 to its policy.
func TestVerifyPostFormVectorP1(t *testing.T) {
	policy, err := os.ReadFile("testdata/p1-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(policy); got != 555 {
		t.Fatalf("testdata/p1-policy.json is %d bytes; want 555", got)
	}
	const bucket = "examplebucket-1250000000"
	form := func() map[string]string {
		return map[string]string{
			"key":                          "folder/subfolder/photo.jpg",
			"policy":                       base64.StdEncoding.EncodeToString(policy),
			"q-sign-algorithm":             "sha1",
			"q-ak":                         docSecretID,
			"q-key-time":                   "1567150692;1567157892",
			"q-signature":                  "7758dc9a832e9d301dca704cacbf9d9f8172fdef",
			"content-type":                 "image/jpeg",
			"success_action_redirect":      "https://my.website/uploaded",
			"x-cos-server-side-encryption": "AES256",
			"acl":                          "default",
		}
	}
	inWindow := time.Unix(1567150692+60, 0)
	tests := []struct {
		name   string
		mutate func(map[string]string)
		key    string
		bucket string
		now    time.Time
		want   string
	}{
		{name: "P1"},
		{name: "another key under the prefix", key: "folder/subfolder/other.png"},
		{name: "wrong signature", want: "SignatureDoesNotMatch",
			mutate: func(f map[string]string) { f["q-signature"] = "7758dc9a832e9d301dca704cacbf9d9f8172fdee" }},
		{name: "other key time", want: "SignatureDoesNotMatch",
			mutate: func(f map[string]string) { f["q-key-time"] = "1567150692;1567157893" }},
		{name: "not sha1", want: "SignatureDoesNotMatch",
			mutate: func(f map[string]string) { f["q-sign-algorithm"] = "sha256" }},
		{name: "unknown SecretId", want: "InvalidAccessKeyId",
			mutate: func(f map[string]string) { f["q-ak"] = "AKIDsomeoneelse" }},
		{name: "no policy", want: "AccessDenied",
			mutate: func(f map[string]string) { delete(f, "policy") }},
		{name: "expired", now: time.Unix(1567157892+1, 0), want: "AccessDenied"},
		{name: "wrong bucket", bucket: "otherbucket-1250000000", want: "AccessDenied"},
		{name: "key outside the prefix", key: "folder/other/photo.jpg", want: "AccessDenied"},
		{name: "Content-Type outside the prefix", want: "AccessDenied",
			mutate: func(f map[string]string) { f["content-type"] = "text/html" }},
		{name: "restricted field missing", want: "AccessDenied",
			mutate: func(f map[string]string) { delete(f, "acl") }},
		{name: "eq condition failed", want: "AccessDenied",
			mutate: func(f map[string]string) { f["x-cos-server-side-encryption"] = "SM4" }},
		{name: "exact condition failed", want: "AccessDenied",
			mutate: func(f map[string]string) { f["acl"] = "public-read" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := form()
			if tt.mutate != nil {
				tt.mutate(f)
			}
			key, b, now := tt.key, tt.bucket, tt.now
			if key == "" {
				key = f["key"]
			}
			if b == "" {
				b = bucket
			}
			if now.IsZero() {
				now = inWindow
			}
			size, err := verifierAt(now, docCredentials).verifyPostForm(f, key, b)
			if got := codeOf(err); got != tt.want {
				t.Fatalf("verifyPostForm: got %q (%v); want %q", got, err, tt.want)
			}
			if err == nil && size != (sizeRange{0, math.MaxInt64}) {
				t.Errorf("size range: got %+v; want unbounded", size)
			}
		})
	}
}

func TestParsePostPolicyRejectsMalformed(t *testing.T) {
	tests := []string{
		`not json`,
		`{"conditions": []}`,
		`{"expiration": "tomorrow", "conditions": []}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "key", "a"]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["in", "$key", "a"]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 10, 1]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 1]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$key"]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": ["a"]}]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": ["key"]}`,
	}
	for _, text := range tests {
		_, _, err := parsePostPolicy([]byte(text))
		if got, want := codeOf(err), "InvalidPolicyDocument"; got != want {
			t.Errorf("parsePostPolicy(%s): got %q; want %q", text, got, want)
		}
	}
}

func TestParsePostPolicyAcceptsCOSForms(t *testing.T) {
	text := `{"expiration": "2030-01-01T00:00:00.123Z", "conditions": [
		{"Bucket": "b", "success_action_status": 201},
		["EQ", "$Content-Type", "image/png"],
		["starts-with", "$key", ""],
		["content-length-range", "1", 5242880]]}`
	expiration, conditions, err := parsePostPolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2030, 1, 1, 0, 0, 0, 123e6, time.UTC); !expiration.Equal(want) {
		t.Errorf("expiration: got %v; want %v", expiration, want)
	}
	want := []postFormCondition{
		{op: "eq", field: "bucket", value: "b"},
		{op: "eq", field: "success_action_status", value: "201"},
		{op: "eq", field: "content-type", value: "image/png"},
		{op: "starts-with", field: "key", value: ""},
		{op: "content-length-range", min: 1, max: 5242880},
	}
	if len(conditions) != len(want) {
		t.Fatalf("got %d conditions %+v; want %d", len(conditions), conditions, len(want))
	}
	for i := range want {
		if conditions[i] != want[i] {
			t.Errorf("condition %d: got %+v; want %+v", i, conditions[i], want[i])
		}
	}
}
