package localcos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"math"
	"strings"
	"testing"
	"time"
)

// P1 (testdata/oss-v4-vectors.md): the POST V4 page's example policy,
// signed for this file with Python's hashlib.
const (
	ossP1Policy = `{
  "expiration": "2023-12-03T13:00:00.000Z",
  "conditions": [
    {"bucket": "examplebucket"},
    {"x-oss-signature-version": "OSS4-HMAC-SHA256"},
    {"x-oss-credential": "AKIDEXAMPLE/20231203/cn-hangzhou/oss/aliyun_v4_request"},
    {"x-oss-security-token": "CAIS******"},
    {"x-oss-date": "20231203T121212Z"},
    ["content-length-range", 1, 10],
    ["eq", "$success_action_status", "201"],
    ["starts-with", "$key", "user/eric/"],
    ["in", "$content-type", ["image/jpg", "image/png"]],
    ["not-in", "$cache-control", ["no-cache"]]
  ]
}`
	ossP1Signature  = "9231b2160dc1a1ccbade95a19ac9298e8ca8ae1db8247807634864273cd0dfe7"
	ossP1Credential = "AKIDEXAMPLE/20231203/cn-hangzhou/oss/aliyun_v4_request"
	ossP1DateTime   = "20231203T121212Z"
)

var (
	ossP1Key  = Key{SecretID: "AKIDEXAMPLE", SecretKey: "yourAccessKeySecret", SessionToken: "CAIS******"}
	ossP1Time = time.Date(2023, 12, 3, 12, 20, 0, 0, time.UTC)
)

func ossP1Fields() map[string]string {
	return map[string]string{
		"key":                     "user/eric/avatar.png",
		"content-type":            "image/png",
		"success_action_status":   "201",
		"policy":                  base64.StdEncoding.EncodeToString([]byte(ossP1Policy)),
		"x-oss-signature-version": "OSS4-HMAC-SHA256",
		"x-oss-credential":        ossP1Credential,
		"x-oss-date":              ossP1DateTime,
		"x-oss-security-token":    "CAIS******",
		"x-oss-signature":         ossP1Signature,
	}
}

// ossPostSignature signs a policy as the POST V4 page's Python sample does
// (hmac_sha256 over "aliyun_v4"+secret, date, region, "oss",
// "aliyun_v4_request", then over the base64 policy), written here apart
// from the verifier's code.
func ossPostSignature(secret, date, region, encodedPolicy string) string {
	h := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	k := h(h(h(h([]byte("aliyun_v4"+secret), date), region), "oss"), "aliyun_v4_request")
	return hex.EncodeToString(h(k, encodedPolicy))
}

func TestOSSPostSignatureHelperReproducesP1(t *testing.T) {
	if got := ossPostSignature("yourAccessKeySecret", "20231203", "cn-hangzhou",
		base64.StdEncoding.EncodeToString([]byte(ossP1Policy))); got != ossP1Signature {
		t.Fatalf("test helper signs P1 as %s; want %s", got, ossP1Signature)
	}
}

func TestOSSVerifyPostFormP1(t *testing.T) {
	v := ossVerifierAt(ossP1Time, "examplebucket", "cn-hangzhou", ossP1Key)
	policy, err := v.verifyPostForm(ossP1Fields())
	if err != nil {
		t.Fatalf("verifyPostForm: %v", err)
	}
	if lo, hi := policy.sizeRange(); lo != 1 || hi != 10 {
		t.Errorf("size range %d-%d; want 1-10", lo, hi)
	}
	if policy.accessKeyID != "AKIDEXAMPLE" || !policy.expiration.Equal(time.Date(2023, 12, 3, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("policy = %+v", policy)
	}
	if got := hex.EncodeToString(ossSigningKey("yourAccessKeySecret", "20231203", "cn-hangzhou")); got !=
		"084d33921e59a5b6e8777f63b55f4a1905d49ac7af6007b45f1bf67f69c54316" {
		t.Errorf("signing key %s", got)
	}
}

func TestOSSVerifyPostFormP1Refusals(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(map[string]string)
		now     time.Time
		keys    []Key
		bucket  string
		want    string
		status  int
		message string // a part of the refusal's message, when it matters
	}{
		{name: "verifies"},
		{name: "an unpinned stored field is OSS's to store",
			mutate: func(f map[string]string) { f["x-oss-object-acl"] = "public-read" }},
		{name: "cache-control allowed", mutate: func(f map[string]string) { f["cache-control"] = "max-age=60" }},
		{name: "field names are the server's lower-cased ones", mutate: func(f map[string]string) { f["content-type"] = "image/jpg" }},
		{name: "15 minutes before x-oss-date", now: time.Date(2023, 12, 3, 11, 57, 12, 0, time.UTC)},
		{name: "16 minutes before x-oss-date", now: time.Date(2023, 12, 3, 11, 56, 11, 0, time.UTC),
			want: "RequestTimeTooSkewed", status: 403},
		{name: "policy expired", now: time.Date(2023, 12, 3, 13, 0, 0, 0, time.UTC),
			want: "AccessDenied", status: 403, message: "Policy expired"},
		{name: "x-oss-date over 7 days old", now: time.Date(2023, 12, 10, 12, 12, 13, 0, time.UTC),
			want: "AccessDenied", status: 403, message: "Request has expired"},
		{name: "wrong secret", keys: []Key{{SecretID: "AKIDEXAMPLE", SecretKey: "x", SessionToken: "CAIS******"}},
			want: "SignatureDoesNotMatch", status: 403},
		{name: "unknown AccessKeyId", keys: []Key{{SecretID: "other", SecretKey: "x"}}, want: "InvalidAccessKeyId", status: 403},
		{name: "policy text changed", mutate: func(f map[string]string) {
			f["policy"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(ossP1Policy, "user/eric/", "", 1)))
		}, want: "SignatureDoesNotMatch", status: 403},
		{name: "wrong token", mutate: func(f map[string]string) { f["x-oss-security-token"] = "CAIS-other" },
			want: "InvalidSecurityToken", status: 403},
		{name: "token missing", mutate: func(f map[string]string) { delete(f, "x-oss-security-token") },
			want: "InvalidSecurityToken", status: 403},
		{name: "key outside the prefix", mutate: func(f map[string]string) { f["key"] = "user/other/a.png" },
			want: "AccessDenied", status: 403, message: `["starts-with", "$key"]`},
		{name: "key missing", mutate: func(f map[string]string) { delete(f, "key") },
			want: "AccessDenied", status: 403, message: "the form has no key field"},
		{name: "content type not in the list", mutate: func(f map[string]string) { f["content-type"] = "image/gif" },
			want: "AccessDenied", status: 403, message: `["in", "$content-type"]`},
		{name: "cache-control excluded", mutate: func(f map[string]string) { f["cache-control"] = "no-cache" },
			want: "AccessDenied", status: 403, message: `["not-in", "$cache-control"]`},
		{name: "other status", mutate: func(f map[string]string) { f["success_action_status"] = "200" },
			want: "AccessDenied", status: 403},
		{name: "other bucket", bucket: "otherbucket", want: "AccessDenied", status: 403, message: `"$bucket"`},
		{name: "x-oss-date other than the policy's", mutate: func(f map[string]string) { f["x-oss-date"] = "20231203T121213Z" },
			want: "AccessDenied", status: 403},
		{name: "SignDate another day", mutate: func(f map[string]string) {
			f["x-oss-credential"] = strings.Replace(ossP1Credential, "20231203", "20231202", 1)
		}, want: "InvalidArgument", status: 400},
		{name: "other region", mutate: func(f map[string]string) {
			f["x-oss-credential"] = strings.Replace(ossP1Credential, "cn-hangzhou", "cn-beijing", 1)
		}, want: "InvalidArgument", status: 400, message: "signing region"},
		{name: "signature missing", mutate: func(f map[string]string) { delete(f, "x-oss-signature") },
			want: "InvalidArgument", status: 400},
		{name: "version other", mutate: func(f map[string]string) { f["x-oss-signature-version"] = "OSS2" },
			want: "InvalidArgument", status: 400},
		{name: "V1 form", mutate: func(f map[string]string) {
			for _, k := range ossPostSignatureFields[1:] {
				delete(f, k)
			}
			f["ossaccesskeyid"] = "AKIDEXAMPLE"
			f["signature"] = "kZoYNv66bsmc10+dcGKw5x2PRrk="
		}, want: "InvalidArgument", status: 400},
		{name: "unsigned form", mutate: func(f map[string]string) {
			for _, k := range append(ossPostSignatureFields, "x-oss-security-token") {
				delete(f, k)
			}
		}, want: "AccessDenied", status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ossP1Fields()
			if tt.mutate != nil {
				tt.mutate(f)
			}
			now, keys, bucket := tt.now, tt.keys, tt.bucket
			if now.IsZero() {
				now = ossP1Time
			}
			if keys == nil {
				keys = []Key{ossP1Key}
			}
			if bucket == "" {
				bucket = "examplebucket"
			}
			_, err := ossVerifierAt(now, bucket, "cn-hangzhou", keys...).verifyPostForm(f)
			code, status := ossCodeOf(err)
			if code != tt.want || status != tt.status {
				t.Fatalf("verifyPostForm: got %q %d (%v); want %q %d", code, status, err, tt.want, tt.status)
			}
			if tt.message != "" && !strings.Contains(err.(*codedError).message, tt.message) {
				t.Errorf("message %q does not say %q", err.(*codedError).message, tt.message)
			}
		})
	}
}

// ossSignedForm is a form for the policy text, signed with the test helper by
// AccessKeyId "ak", secret "sk" on 2023-12-03 in cn-hangzhou.
func ossSignedForm(policy string, extra map[string]string) map[string]string {
	encoded := base64.StdEncoding.EncodeToString([]byte(policy))
	f := map[string]string{
		"policy":                  encoded,
		"x-oss-signature-version": "OSS4-HMAC-SHA256",
		"x-oss-credential":        "ak/20231203/cn-hangzhou/oss/aliyun_v4_request",
		"x-oss-date":              "20231203T121212Z",
		"x-oss-signature":         ossPostSignature("sk", "20231203", "cn-hangzhou", encoded),
	}
	maps.Copy(f, extra)
	return f
}

const ossV4Conditions = `{"x-oss-signature-version": "OSS4-HMAC-SHA256"},
 {"x-oss-credential": "ak/20231203/cn-hangzhou/oss/aliyun_v4_request"},
 {"x-oss-date": "20231203T121212Z"}`

func TestOSSPolicyDocuments(t *testing.T) {
	policy := func(conditions string) string {
		return `{"expiration": "2023-12-03T13:00:00Z", "conditions": [` + ossV4Conditions + conditions + `]}`
	}
	tests := []struct {
		name     string
		policy   string
		extra    map[string]string
		want     string
		min, max int64
	}{
		{name: "no range", policy: policy(""), min: 0, max: math.MaxInt64},
		{name: "ranges intersect", policy: policy(`, ["content-length-range", 1, 100], ["content-length-range", 10, 1000]`),
			min: 10, max: 100},
		{name: "$Field names are case-insensitive", policy: policy(`, ["eq", "$Content-Type", "image/png"]`),
			extra: map[string]string{"content-type": "image/png"}, max: math.MaxInt64},
		{name: "a number where a string is meant", policy: policy(`, {"success_action_status": 201}`),
			extra: map[string]string{"success_action_status": "201"}, max: math.MaxInt64},
		{name: `\$ is a literal dollar`, policy: policy(`, ["eq", "$key", "a\$b"]`),
			extra: map[string]string{"key": "a$b"}, max: math.MaxInt64},
		{name: "exact key", policy: policy(`, ["eq", "$key", "uploads/a"]`),
			extra: map[string]string{"key": "uploads/a/${filename}"}, want: "AccessDenied"},
		{name: "x-oss-date not named", want: "InvalidPolicyDocument",
			policy: `{"expiration": "2023-12-03T13:00:00Z", "conditions": [{"x-oss-signature-version": "OSS4-HMAC-SHA256"},
 {"x-oss-credential": "ak/20231203/cn-hangzhou/oss/aliyun_v4_request"}]}`},
		{name: "token not named", policy: policy(""), extra: map[string]string{"x-oss-security-token": "tok"},
			want: "InvalidPolicyDocument"},
		{name: "unknown condition", policy: policy(`, ["ends-with", "$key", "a"]`), want: "InvalidPolicyDocument"},
		{name: "in without a list", policy: policy(`, ["in", "$key", "a"]`), want: "InvalidPolicyDocument"},
		{name: "range reversed", policy: policy(`, ["content-length-range", 10, 1]`), want: "InvalidPolicyDocument"},
		{name: "no expiration", policy: `{"conditions": [` + ossV4Conditions + `]}`, want: "InvalidPolicyDocument"},
		{name: "no conditions", policy: `{"expiration": "2023-12-03T13:00:00Z"}`, want: "InvalidPolicyDocument"},
		{name: "not JSON", policy: "expiration: tomorrow", want: "InvalidPolicyDocument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := Key{SecretID: "ak", SecretKey: "sk", SessionToken: tt.extra["x-oss-security-token"]}
			v := ossVerifierAt(ossP1Time, "examplebucket", "cn-hangzhou", key)
			p, err := v.verifyPostForm(ossSignedForm(tt.policy, tt.extra))
			if code, _ := ossCodeOf(err); code != tt.want {
				t.Fatalf("verifyPostForm: got %q (%v); want %q", code, err, tt.want)
			}
			if err != nil {
				return
			}
			if lo, hi := p.sizeRange(); lo != tt.min || hi != tt.max {
				t.Errorf("size range %d-%d; want %d-%d", lo, hi, tt.min, tt.max)
			}
		})
	}
}

func TestOSSPolicyUnpinned(t *testing.T) {
	v := ossVerifierAt(ossP1Time, "examplebucket", "cn-hangzhou", Key{SecretID: "ak", SecretKey: "sk"})
	form := ossSignedForm(`{"expiration": "2023-12-03T13:00:00Z", "conditions": [`+ossV4Conditions+`,
 ["eq", "$key", "uploads/a"], ["eq", "$content-type", "image/png"], ["eq", "$x-oss-object-acl", "private"]]}`,
		map[string]string{
			"key": "uploads/a", "content-type": "image/png", "x-oss-object-acl": "private",
			"x-oss-storage-class": "Archive", "x-oss-meta-a": "b", "success_action_status": "200",
			"cache-control": "max-age=1", "submit": "Upload",
		})
	p, err := v.verifyPostForm(form)
	if err != nil {
		t.Fatalf("OSS stores fields no condition names; verifyPostForm refused: %v", err)
	}
	got := strings.Join(p.unpinned(form), ",")
	if want := "cache-control,success_action_status,x-oss-meta-a,x-oss-storage-class"; got != want {
		t.Errorf("unpinned = %s; want %s", got, want)
	}
}
