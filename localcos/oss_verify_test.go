package localcos

import (
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The vectors are in testdata/oss-v4-vectors.md, with their sources.

func ossVerifierAt(now time.Time, bucket, region string, keys ...Key) ossVerifier {
	return ossVerifier{
		credentials: func() []Key { return keys },
		now:         func() time.Time { return now },
		bucket:      bucket,
		region:      region,
	}
}

// ossCodeOf is the OSS error code and status err carries: "" for nil.
func ossCodeOf(err error) (string, int) {
	if err == nil {
		return "", 0
	}
	var ce *codedError
	if !errors.As(err, &ce) {
		return "not a coded error: " + err.Error(), 0
	}
	return ce.code, ce.status
}

// D1: the documents' PutObject example.
const (
	ossD1AccessKeyID = "LTAI****************"
	ossD1Secret      = "yourAccessKeySecret"
	ossD1DateTime    = "20250411T064124Z"
	// ossD1Signature is the signature the chain gives from ossD1Secret;
	// ossD1DocSignature is the one the page prints, made with its printed
	// SigningKey, which ossD1Secret does not derive.
	ossD1Signature    = "d3694c2dfc5371ee6acd35e88c4871ac95a7ba01d3a2f476768fe61218590097"
	ossD1DocSignature = "053edbf550ebd239b32a9cdfd93b0b2b3f2d223083aa61f75e9ac16856d61f23"
	ossD1DocKey       = "3543b7686e65eda71e5e5ca19d548d78423c37e8ddba4dc9d83f90228b457c76"
	ossD1Canonical    = "PUT\n/examplebucket/exampleobject\n\n" +
		"content-disposition:attachment\ncontent-length:3\ncontent-md5:ICy5YqxZB1uWSwcVLSNLcA==\n" +
		"content-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20250411T064124Z\n\n" +
		"content-disposition;content-length\nUNSIGNED-PAYLOAD"
	ossD1StringToSign = "OSS4-HMAC-SHA256\n20250411T064124Z\n20250411/cn-hangzhou/oss/aliyun_v4_request\n" +
		"c46d96390bdbc2d739ac9363293ae9d710b14e48081fcb22cd8ad54b63136eca"
)

var (
	ossD1Key  = Key{SecretID: ossD1AccessKeyID, SecretKey: ossD1Secret}
	ossD1Time = time.Date(2025, 4, 11, 6, 41, 24, 0, time.UTC)
)

func ossD1Request(signature string) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "http://examplebucket.oss-cn-hangzhou.aliyuncs.com/exampleobject",
		strings.NewReader("abc"))
	r.Header.Set("Content-Disposition", "attachment")
	r.Header.Set("Content-Length", "3")
	r.Header.Set("Content-MD5", "ICy5YqxZB1uWSwcVLSNLcA==")
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
	r.Header.Set("x-oss-date", ossD1DateTime)
	r.Header.Set("Authorization", "OSS4-HMAC-SHA256 Credential="+ossD1AccessKeyID+
		"/20250411/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=content-disposition;content-length,Signature="+signature)
	return r
}

func TestOSSDocExampleD1Steps(t *testing.T) {
	v := ossVerifierAt(ossD1Time, "examplebucket", "cn-hangzhou", ossD1Key)
	r := ossD1Request(ossD1Signature)
	bucket, object, err := v.resource(r)
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := ossQueryPairs(r.URL.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	additional := []string{"content-disposition", "content-length"}
	block, _, missing := ossCanonicalHeaders(r, additional)
	if missing != "" {
		t.Fatalf("missing header %q", missing)
	}
	canonical := ossCanonicalRequest(r.Method, ossCanonicalURI(bucket, object), ossCanonicalQuery(pairs),
		block, additional, ossUnsignedBody)
	if canonical != ossD1Canonical {
		t.Errorf("canonical request:\n%s\nwant:\n%s", canonical, ossD1Canonical)
	}
	sts := ossStringToSign(ossD1DateTime, ossScope("20250411", "cn-hangzhou"), canonical)
	if sts != ossD1StringToSign {
		t.Errorf("string to sign:\n%s\nwant:\n%s", sts, ossD1StringToSign)
	}
	docKey, _ := hex.DecodeString(ossD1DocKey)
	if got := hex.EncodeToString(ossHMAC(docKey, sts)); got != ossD1DocSignature {
		t.Errorf("HMAC(documented key, string to sign) = %s; want the documented %s", got, ossD1DocSignature)
	}
	if got, want := hex.EncodeToString(ossSigningKey(ossD1Secret, "20250411", "cn-hangzhou")),
		"8a01ff4efcc65ca2cbc75375045c61ab5f3fa8b9a2d84f0add27ef16a25feb3c"; got != want {
		t.Errorf("signing key = %s; want %s", got, want)
	}
	if got := ossSignature(ossD1Secret, "20250411", "cn-hangzhou", sts); got != ossD1Signature {
		t.Errorf("signature = %s; want %s", got, ossD1Signature)
	}
}

func TestOSSVerifyHeaderD1(t *testing.T) {
	rotated := Key{SecretID: "LTAInewer", SecretKey: "another-secret"}
	withToken := Key{SecretID: ossD1AccessKeyID, SecretKey: ossD1Secret, SessionToken: "sts-token"}
	tests := []struct {
		name   string
		mutate func(*http.Request)
		keys   []Key
		now    time.Time
		region string
		want   string
		status int
	}{
		{name: "verifies"},
		{name: "among rotated keys", keys: []Key{rotated, ossD1Key}},
		{name: "15 minutes late", now: ossD1Time.Add(15 * time.Minute)},
		{name: "15 minutes early", now: ossD1Time.Add(-15 * time.Minute)},
		{name: "upper-case signature hex", mutate: func(r *http.Request) {
			editOSSAuthorization(r, ossD1Signature, strings.ToUpper(ossD1Signature))
		}},
		{name: "pairs separated by comma and space", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.ReplaceAll(r.Header.Get("Authorization"), ",", ", "))
		}},
		{name: "unsigned header changed", mutate: func(r *http.Request) { r.Header.Set("User-Agent", "other") }},
		{name: "the documented signature, from a key the documented secret does not derive",
			mutate: func(r *http.Request) { editOSSAuthorization(r, ossD1Signature, ossD1DocSignature) },
			want:   "SignatureDoesNotMatch", status: 403},
		{name: "wrong secret", keys: []Key{{SecretID: ossD1AccessKeyID, SecretKey: "not-the-secret"}},
			want: "SignatureDoesNotMatch", status: 403},
		{name: "unknown AccessKeyId", keys: []Key{rotated}, want: "InvalidAccessKeyId", status: 403},
		{name: "16 minutes late", now: ossD1Time.Add(16 * time.Minute), want: "RequestTimeTooSkewed", status: 403},
		{name: "16 minutes early", now: ossD1Time.Add(-16 * time.Minute), want: "RequestTimeTooSkewed", status: 403},
		{name: "other region", region: "cn-beijing", want: "InvalidArgument", status: 400},
		{name: "tampered default-signed header", mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "tampered additional header", mutate: func(r *http.Request) { r.Header.Set("Content-Length", "4") },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "x-oss header added", mutate: func(r *http.Request) { r.Header.Set("x-oss-object-acl", "public-read") },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "x-oss-meta header added", mutate: func(r *http.Request) { r.Header.Set("x-oss-meta-a", "b") },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "query parameter added", mutate: func(r *http.Request) { r.URL.RawQuery = "acl" },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "tampered object", mutate: func(r *http.Request) { r.URL.Path = "/exampleobject2" },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "tampered method", mutate: func(r *http.Request) { r.Method = http.MethodPost },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "additional header absent", mutate: func(r *http.Request) { r.Header.Del("Content-Disposition") },
			want: "InvalidArgument", status: 400},
		{name: "AdditionalHeaders empty", mutate: func(r *http.Request) {
			editOSSAuthorization(r, "content-disposition;content-length", "")
		}, want: "InvalidArgument", status: 400},
		{name: "AdditionalHeaders with an empty name", mutate: func(r *http.Request) {
			editOSSAuthorization(r, "content-disposition;content-length", "content-disposition;content-length;")
		}, want: "InvalidArgument", status: 400},
		{name: "AdditionalHeaders unsorted", mutate: func(r *http.Request) {
			editOSSAuthorization(r, "content-disposition;content-length", "content-length;content-disposition")
		}, want: "InvalidArgument", status: 400},
		{name: "credential not ending in aliyun_v4_request", mutate: func(r *http.Request) {
			editOSSAuthorization(r, "/aliyun_v4_request", "/abc")
		}, want: "InvalidArgument", status: 400},
		{name: "SignDate with dashes", mutate: func(r *http.Request) { editOSSAuthorization(r, "/20250411/", "/2025-04-11/") },
			want: "InvalidArgument", status: 400},
		{name: "SignDate another day", mutate: func(r *http.Request) { editOSSAuthorization(r, "/20250411/", "/20250410/") },
			want: "InvalidArgument", status: 400},
		{name: "x-oss-date missing", mutate: func(r *http.Request) { r.Header.Del("x-oss-date") },
			want: "InvalidArgument", status: 400},
		{name: "x-oss-date garbled", mutate: func(r *http.Request) { r.Header.Set("x-oss-date", "2025-04-11T06:41:24Z") },
			want: "InvalidArgument", status: 400},
		{name: "x-oss-content-sha256 missing", mutate: func(r *http.Request) { r.Header.Del("x-oss-content-sha256") },
			want: "InvalidArgument", status: 400},
		{name: "x-oss-content-sha256 garbled", mutate: func(r *http.Request) { r.Header.Set("x-oss-content-sha256", "STREAMING") },
			want: "InvalidArgument", status: 400},
		{name: "Signature missing", mutate: func(r *http.Request) { editOSSAuthorization(r, ",Signature="+ossD1Signature, "") },
			want: "InvalidArgument", status: 400},
		{name: "unknown field", mutate: func(r *http.Request) { editOSSAuthorization(r, ",Signature", ",SignedHeaders=host,Signature") },
			want: "InvalidArgument", status: 400},
		{name: "V1 Authorization", mutate: func(r *http.Request) { r.Header.Set("Authorization", "OSS "+ossD1AccessKeyID+":c2lnbmF0dXJl") },
			want: "InvalidArgument", status: 400},
		{name: "no signature at all", mutate: func(r *http.Request) { r.Header.Del("Authorization") },
			want: "AccessDenied", status: 403},
		{name: "token sent to a permanent key", mutate: func(r *http.Request) { r.Header.Set("x-oss-security-token", "sts-token") },
			want: "SignatureDoesNotMatch", status: 403}, // an added x-oss-* header is signed by default
		{name: "temporary key without its token", keys: []Key{withToken}, want: "InvalidSecurityToken", status: 403},
		{name: "other bucket, path style", mutate: func(r *http.Request) {
			r.Host = "127.0.0.1:9000"
			r.URL.Path = "/otherbucket/exampleobject"
		}, want: "NoSuchBucket", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ossD1Request(ossD1Signature)
			if tt.mutate != nil {
				tt.mutate(r)
			}
			keys, now, region := tt.keys, tt.now, tt.region
			if keys == nil {
				keys = []Key{ossD1Key}
			}
			if now.IsZero() {
				now = ossD1Time.Add(time.Minute)
			}
			if region == "" {
				region = "cn-hangzhou"
			}
			auth, err := ossVerifierAt(now, "examplebucket", region, keys...).verifyRequest(r)
			code, status := ossCodeOf(err)
			if code != tt.want || status != tt.status {
				t.Fatalf("verifyRequest: got %q %d (%v); want %q %d", code, status, err, tt.want, tt.status)
			}
			if err != nil {
				return
			}
			if auth.accessKeyID != ossD1AccessKeyID || auth.bucket != "examplebucket" || auth.object != "exampleobject" ||
				auth.presigned || auth.payloadHash != "" || !auth.signedAt.Equal(ossD1Time) {
				t.Errorf("auth = %+v", auth)
			}
			if got, want := strings.Join(auth.signedHeaders, ";"),
				"content-disposition;content-length;content-md5;content-type;x-oss-content-sha256;x-oss-date"; got != want {
				t.Errorf("signed headers %s; want %s", got, want)
			}
		})
	}
}

func editOSSAuthorization(r *http.Request, old, new string) {
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
}

// A hex x-oss-content-sha256 is signed as the payload line and returned as
// the claim the server checks the body against.
func TestOSSVerifyHeaderPayloadHash(t *testing.T) {
	const bodyHash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // SHA-256("abc")
	r := ossD1Request("")
	r.Header.Set("x-oss-content-sha256", bodyHash)
	canonical := strings.Replace(strings.Replace(ossD1Canonical, "UNSIGNED-PAYLOAD", bodyHash, 1),
		"\nUNSIGNED-PAYLOAD", "\n"+bodyHash, 1)
	sig := ossSignature(ossD1Secret, "20250411", "cn-hangzhou",
		ossStringToSign(ossD1DateTime, ossScope("20250411", "cn-hangzhou"), canonical))
	editOSSAuthorization(r, "Signature=", "Signature="+sig)
	auth, err := ossVerifierAt(ossD1Time, "examplebucket", "cn-hangzhou", ossD1Key).verifyRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if auth.payloadHash != bodyHash {
		t.Errorf("payloadHash = %q; want %q", auth.payloadHash, bodyHash)
	}
}

// S1–S3, Q1–Q3: Aliyun's Go SDK test values.
const (
	ossVectorHost   = "http://bucket.oss-cn-hangzhou.aliyuncs.com"
	ossVectorObject = "/1234+-/123/1.txt"
)

func ossVectorQuery() url.Values {
	return url.Values{
		"param1": {"value1"}, "+param1": {"value3"}, "|param1": {"value4"},
		"+param2": {""}, "|param2": {""}, "param2": {""},
	}
}

func ossVectorRequest(query url.Values, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPut, ossVectorHost+ossVectorObject+"?"+query.Encode(), nil)
	r.Header.Add("x-oss-head1", "value")
	r.Header.Add("abc", "value")
	r.Header.Add("ZAbc", "value")
	r.Header.Add("XYZ", "value")
	r.Header.Add("content-type", contentType)
	return r
}

func TestOSSVerifySDKHeaderVectors(t *testing.T) {
	tests := []struct {
		name       string
		unix       int64
		token      string
		additional string
		signature  string
	}{
		{name: "S1", unix: 1702743657, signature: "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"},
		{name: "S2 token", unix: 1702784856, token: "token",
			signature: "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"},
		{name: "S3 additional headers", unix: 1702747512, additional: "abc;zabc",
			signature: "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Unix(tt.unix, 0).UTC()
			r := ossVectorRequest(ossVectorQuery(), "text/plain")
			r.Header.Set("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
			r.Header.Set("x-oss-date", at.Format(ossDateTimeFormat))
			if tt.token != "" {
				r.Header.Set("x-oss-security-token", tt.token)
			}
			auth := "OSS4-HMAC-SHA256 Credential=ak/" + at.Format(ossDateFormat) + "/cn-hangzhou/oss/aliyun_v4_request"
			if tt.additional != "" {
				auth += ",AdditionalHeaders=" + tt.additional
			}
			r.Header.Set("Authorization", auth+",Signature="+tt.signature)
			key := Key{SecretID: "ak", SecretKey: "sk", SessionToken: tt.token}
			got, err := ossVerifierAt(at.Add(time.Second), "bucket", "cn-hangzhou", key).verifyRequest(r)
			if err != nil {
				t.Fatalf("verifyRequest: %v", err)
			}
			if got.object != "1234+-/123/1.txt" {
				t.Errorf("object %q", got.object)
			}
			if tt.additional != "" && (!got.signs("abc") || !got.signs("zabc") || got.signs("xyz")) {
				t.Errorf("signed headers %v", got.signedHeaders)
			}
			// The same request with one query value changed must not verify.
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "value4", "value5", 1)
			_, err = ossVerifierAt(at.Add(time.Second), "bucket", "cn-hangzhou", key).verifyRequest(r)
			if code, _ := ossCodeOf(err); code != "SignatureDoesNotMatch" {
				t.Errorf("tampered query: got %q (%v)", code, err)
			}
		})
	}
}

// ossVectorPresigned is a Q vector's URL as the SDK makes it.
func ossVectorPresigned(unix int64, token, additional, signature string) *http.Request {
	at := time.Unix(unix, 0).UTC()
	q := ossVectorQuery()
	q.Set("x-oss-signature-version", "OSS4-HMAC-SHA256")
	q.Set("x-oss-date", at.Format(ossDateTimeFormat))
	q.Set("x-oss-expires", "599")
	q.Set("x-oss-credential", "ak/"+at.Format(ossDateFormat)+"/cn-hangzhou/oss/aliyun_v4_request")
	if token != "" {
		q.Set("x-oss-security-token", token)
	}
	if additional != "" {
		q.Set("x-oss-additional-headers", additional)
	}
	q.Set("x-oss-signature", signature)
	return ossVectorRequest(q, "application/octet-stream")
}

const (
	ossQ1Unix      = 1702781677
	ossQ1Signature = "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe"
)

func TestOSSVerifySDKQueryVectors(t *testing.T) {
	tests := []struct {
		name       string
		unix       int64
		token      string
		additional string
		signature  string
	}{
		{name: "Q1", unix: ossQ1Unix, signature: ossQ1Signature},
		{name: "Q2 token", unix: 1702785388, token: "token",
			signature: "3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5"},
		{name: "Q3 additional headers", unix: 1702783809, additional: "abc;zabc",
			signature: "6bd984bfe531afb6db1f7550983a741b103a8c58e5e14f83ea474c2322dfa2b7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ossVectorPresigned(tt.unix, tt.token, tt.additional, tt.signature)
			key := Key{SecretID: "ak", SecretKey: "sk", SessionToken: tt.token}
			at := time.Unix(tt.unix, 0)
			got, err := ossVerifierAt(at.Add(time.Minute), "bucket", "cn-hangzhou", key).verifyRequest(r)
			if err != nil {
				t.Fatalf("verifyRequest: %v", err)
			}
			if !got.presigned || !got.expires.Equal(at.Add(599*time.Second)) || got.payloadHash != "" {
				t.Errorf("auth = %+v", got)
			}
			for _, p := range got.signedParams {
				if p == "x-oss-signature" {
					t.Errorf("x-oss-signature among the signed parameters")
				}
			}
		})
	}
}

func TestOSSVerifyPresignedRefusals(t *testing.T) {
	at := time.Unix(ossQ1Unix, 0)
	key := Key{SecretID: "ak", SecretKey: "sk"}
	tests := []struct {
		name   string
		mutate func(*http.Request)
		now    time.Time
		keys   []Key
		want   string
		status int
	}{
		{name: "at the last second", now: at.Add(599 * time.Second)},
		{name: "15 minutes before x-oss-date", now: at.Add(-15 * time.Minute)},
		{name: "expired", now: at.Add(600 * time.Second), want: "AccessDenied", status: 403},
		{name: "16 minutes before x-oss-date", now: at.Add(-16 * time.Minute), want: "RequestTimeTooSkewed", status: 403},
		{name: "wrong secret", keys: []Key{{SecretID: "ak", SecretKey: "other"}}, want: "SignatureDoesNotMatch", status: 403},
		{name: "unknown key", keys: []Key{{SecretID: "other", SecretKey: "sk"}}, want: "InvalidAccessKeyId", status: 403},
		{name: "longer expiry", mutate: func(r *http.Request) { setOSSQuery(r, "x-oss-expires", "3600") },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "parameter added", mutate: func(r *http.Request) { r.URL.RawQuery += "&response-content-type=text%2Fhtml" },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "default-signed header added", mutate: func(r *http.Request) { r.Header.Set("x-oss-object-acl", "public-read") },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "content type changed", mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") },
			want: "SignatureDoesNotMatch", status: 403},
		{name: "expires zero", mutate: func(r *http.Request) { setOSSQuery(r, "x-oss-expires", "0") },
			want: "InvalidArgument", status: 400},
		{name: "expires over 7 days", mutate: func(r *http.Request) { setOSSQuery(r, "x-oss-expires", "604801") },
			want: "InvalidArgument", status: 400},
		{name: "expires missing", mutate: func(r *http.Request) { delOSSQuery(r, "x-oss-expires") },
			want: "InvalidArgument", status: 400},
		{name: "version other", mutate: func(r *http.Request) { setOSSQuery(r, "x-oss-signature-version", "OSS2") },
			want: "InvalidArgument", status: 400},
		{name: "signature missing", mutate: func(r *http.Request) { delOSSQuery(r, "x-oss-signature") },
			want: "InvalidArgument", status: 400},
		{name: "credential with oss- region", mutate: func(r *http.Request) {
			setOSSQuery(r, "x-oss-credential", "ak/20231217/oss-cn-hangzhou/oss/aliyun_v4_request")
		}, want: "InvalidArgument", status: 400},
		{name: "additional headers empty", mutate: func(r *http.Request) { setOSSQuery(r, "x-oss-additional-headers", "") },
			want: "InvalidArgument", status: 400},
		{name: "token in URL and header", mutate: func(r *http.Request) {
			setOSSQuery(r, "x-oss-security-token", "token")
			r.Header.Set("x-oss-security-token", "token")
		}, want: "InvalidArgument", status: 400},
		{name: "token over 12 hours", mutate: func(r *http.Request) {
			setOSSQuery(r, "x-oss-security-token", "token")
			setOSSQuery(r, "x-oss-expires", "43201")
		}, want: "InvalidArgument", status: 400},
		{name: "token added to a permanent key's URL", mutate: func(r *http.Request) { setOSSQuery(r, "x-oss-security-token", "token") },
			want: "SignatureDoesNotMatch", status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ossVectorPresigned(ossQ1Unix, "", "", ossQ1Signature)
			if tt.mutate != nil {
				tt.mutate(r)
			}
			now, keys := tt.now, tt.keys
			if now.IsZero() {
				now = at.Add(time.Minute)
			}
			if keys == nil {
				keys = []Key{key}
			}
			_, err := ossVerifierAt(now, "bucket", "cn-hangzhou", keys...).verifyRequest(r)
			if code, status := ossCodeOf(err); code != tt.want || status != tt.status {
				t.Fatalf("verifyRequest: got %q %d (%v); want %q %d", code, status, err, tt.want, tt.status)
			}
		})
	}
}

func setOSSQuery(r *http.Request, k, v string) {
	q := r.URL.Query()
	q.Set(k, v)
	r.URL.RawQuery = q.Encode()
}

func delOSSQuery(r *http.Request, k string) {
	q := r.URL.Query()
	q.Del(k)
	r.URL.RawQuery = q.Encode()
}

func TestOSSCanonicalQuery(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", ""},
		{"acl", "acl"},
		{"acl=", "acl"},
		{"prefix=somePrefix&marker=someMarker&max-keys=20", "marker=someMarker&max-keys=20&prefix=somePrefix"},
		// '+' is a space, which is %20; !'()* are encoded, unlike encodeURIComponent.
		{"a=b+c&z=%2F&y=(!)*", "a=b%20c&y=%28%21%29%2A&z=%2F"},
		// Sorted by encoded key, so "%2B" and "%7C" before letters.
		{"param1=value1&%2Bparam1=value3&%7Cparam1=value4&%2Bparam2=&%7Cparam2=&param2=",
			"%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2"},
		// Raw ';', as a JavaScript client may leave it.
		{"x-oss-additional-headers=abc;zabc", "x-oss-additional-headers=abc%3Bzabc"},
	}
	for _, tt := range tests {
		pairs, err := ossQueryPairs(tt.raw)
		if err != nil {
			t.Fatalf("%q: %v", tt.raw, err)
		}
		if got := ossCanonicalQuery(pairs); got != tt.want {
			t.Errorf("canonical query of %q = %q; want %q", tt.raw, got, tt.want)
		}
	}
	if _, err := ossQueryPairs("a=%zz"); err == nil {
		t.Error("invalid percent-encoding accepted")
	}
}

func TestOSSCanonicalURI(t *testing.T) {
	tests := []struct{ bucket, object, want string }{
		{"", "", "/"},
		{"examplebucket", "", "/examplebucket/"},
		{"examplebucket", "a b/c+d/头像.jpg", "/examplebucket/a%20b/c%2Bd/%E5%A4%B4%E5%83%8F.jpg"},
	}
	for _, tt := range tests {
		if got := ossCanonicalURI(tt.bucket, tt.object); got != tt.want {
			t.Errorf("ossCanonicalURI(%q, %q) = %q; want %q", tt.bucket, tt.object, got, tt.want)
		}
	}
}

func TestOSSResource(t *testing.T) {
	v := ossVerifier{bucket: "examplebucket", region: "cn-hangzhou"}
	tests := []struct {
		url                  string
		bucket, object, code string
	}{
		{"http://examplebucket.oss-cn-hangzhou.aliyuncs.com/a/b.jpg", "examplebucket", "a/b.jpg", ""},
		{"http://examplebucket.oss-cn-hangzhou.aliyuncs.com/", "examplebucket", "", ""},
		{"http://127.0.0.1:9000/examplebucket/a/b.jpg", "examplebucket", "a/b.jpg", ""},
		{"http://127.0.0.1:9000/examplebucket/", "examplebucket", "", ""},
		{"http://127.0.0.1:9000/examplebucket", "examplebucket", "", ""},
		{"http://127.0.0.1:9000/", "", "", ""},
		{"http://127.0.0.1:9000/otherbucket/a", "", "", "NoSuchBucket"},
	}
	for _, tt := range tests {
		bucket, object, err := v.resource(httptest.NewRequest(http.MethodGet, tt.url, nil))
		if code, _ := ossCodeOf(err); code != tt.code || bucket != tt.bucket || object != tt.object {
			t.Errorf("%s: got %q %q %q; want %q %q %q", tt.url, bucket, object, code, tt.bucket, tt.object, tt.code)
		}
	}
}

func TestCheckOSSStoredHeadersSigned(t *testing.T) {
	put := func(headers ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPut, "http://127.0.0.1/b/k", nil)
		for i := 0; i < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		return r
	}
	presigned := func(signed ...string) ossAuth { return ossAuth{presigned: true, signedHeaders: signed} }
	tests := []struct {
		name string
		r    *http.Request
		auth ossAuth
		want string // "" or the refusal's message tail
	}{
		{name: "length and type signed", r: put("Content-Length", "5", "Content-Type", "image/png"),
			auth: presigned("content-length", "content-type")},
		{name: "length unsigned", r: put("Content-Length", "5", "Content-Type", "image/png"),
			auth: presigned("content-type"), want: "content-length."},
		{name: "chunked, length unsigned", r: put(), auth: presigned(), want: "content-length."},
		{name: "cache control unsigned", r: put("Content-Length", "5", "Cache-Control", "max-age=31536000"),
			auth: presigned("content-length"), want: "cache-control."},
		{name: "acl and meta unsigned", r: put("Content-Length", "5", "x-oss-object-acl", "public-read", "x-oss-meta-a", "b"),
			auth: presigned("content-length"), want: "x-oss-meta-a, x-oss-object-acl."},
		{name: "unstored header unsigned", r: put("Content-Length", "5", "User-Agent", "x"), auth: presigned("content-length")},
		{name: "presigned GET", r: httptest.NewRequest(http.MethodGet, "http://127.0.0.1/b/k", nil), auth: presigned()},
		{name: "header-signed PUT", r: put("Content-Length", "5", "Cache-Control", "no-cache"), auth: ossAuth{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOSSStoredHeadersSigned(tt.r, tt.auth)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *codedError
			if !errors.As(err, &ce) || ce.code != "AccessDenied" || ce.status != 403 || !strings.HasSuffix(ce.message, tt.want) {
				t.Fatalf("got %v; want 403 AccessDenied ending %q", err, tt.want)
			}
		})
	}
}

func TestHasOSSSignature(t *testing.T) {
	tests := []struct {
		url, authorization string
		want               bool
	}{
		{url: "http://127.0.0.1/b/k"},
		{url: "http://127.0.0.1/b/k?response-content-type=text%2Fplain"},
		{url: "http://127.0.0.1/b/k", authorization: "OSS4-HMAC-SHA256 Credential=x", want: true},
		{url: "http://127.0.0.1/b/k?x-oss-signature=abc", want: true},
		{url: "http://127.0.0.1/b/k?x-oss-credential=ak%2F20231203", want: true},
		{url: "http://127.0.0.1/b/k?x-oss-signature-version=OSS4-HMAC-SHA256", want: true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, tt.url, nil)
		if tt.authorization != "" {
			r.Header.Set("Authorization", tt.authorization)
		}
		if got := hasOSSSignature(r); got != tt.want {
			t.Errorf("hasOSSSignature(%s, %q) = %v; want %v", tt.url, tt.authorization, got, tt.want)
		}
	}
}
