package cos

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/storage"
)

// The key pair of Tencent's documented examples (testdata/cos-vectors.md).
const (
	docSecretID  = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
	docSecretKey = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
)

// Vector P1 of testdata/cos-vectors.md, from Tencent's POST Object documentation.
const p1Policy = `{
    "expiration": "2019-08-30T09:38:12.414Z",
    "conditions": [
        { "acl": "default" },
        { "bucket": "examplebucket-1250000000" },
        [ "starts-with", "$key", "folder/subfolder/" ],
        [ "starts-with", "$Content-Type", "image/" ],
        [ "starts-with", "$success_action_redirect", "https://my.website/" ],
        [ "eq", "$x-cos-server-side-encryption", "AES256" ],
        { "q-sign-algorithm": "sha1" },
        { "q-ak": "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q" },
        { "q-sign-time": "1567150692;1567157892" }
    ]
}`

func TestPolicySignatureVectorP1(t *testing.T) {
	if got := len(p1Policy); got != 555 {
		t.Fatalf("policy length %d; want 555 (vector text altered)", got)
	}
	const kt = "1567150692;1567157892"
	if got, want := signKey(docSecretKey, kt), "39acc8c9f34ba5b19bce4e965b370cd3f62d2fba"; got != want {
		t.Errorf("SignKey = %s; want %s", got, want)
	}
	if got, want := sha1Hex(p1Policy), "d5d903b8360468bc81c1311f134989bc8c8b5b89"; got != want {
		t.Errorf("StringToSign = %s; want %s", got, want)
	}
	if got, want := policySignature(docSecretKey, kt, p1Policy), "7758dc9a832e9d301dca704cacbf9d9f8172fdef"; got != want {
		t.Errorf("q-signature = %s; want %s", got, want)
	}
}

func TestSignPostFormPinsEveryField(t *testing.T) {
	start := time.Unix(1567150692, 0)
	spec := storage.UploadSpec{Key: "avatars/u1/up1.png", ContentType: "image/png", MaxBytes: 5242880,
		NotBefore: start, Expires: start.Add(10 * time.Minute)}
	for _, token := range []string{"", "sts-token"} {
		cred := storage.Credentials{SecretID: docSecretID, SecretKey: docSecretKey, SessionToken: token}
		form, err := signPostForm(cred, "examplebucket-1250000000", spec)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(form["policy"])
		if err != nil {
			t.Fatalf("policy is not base64: %v", err)
		}
		var policy struct {
			Expiration string `json:"expiration"`
			Conditions []any  `json:"conditions"`
		}
		if err := json.Unmarshal(raw, &policy); err != nil {
			t.Fatalf("policy is not JSON: %v", err)
		}
		if got, want := policy.Expiration, "2019-08-30T07:48:12.000Z"; got != want {
			t.Errorf("expiration = %s; want %s", got, want)
		}
		if got, want := form["q-signature"], policySignature(docSecretKey, form["q-key-time"], string(raw)); got != want {
			t.Errorf("q-signature = %s; want %s", got, want)
		}
		if got, want := form["q-key-time"], "1567150692;1567151292"; got != want {
			t.Errorf("q-key-time = %s; want %s", got, want)
		}
		want := map[string]bool{
			`{"bucket":"examplebucket-1250000000"}`:   true,
			`["eq","$key","avatars/u1/up1.png"]`:      true,
			`["eq","$Content-Type","image/png"]`:      true,
			`["content-length-range",1,5242880]`:      true,
			`{"success_action_status":"204"}`:         true,
			`{"acl":"private"}`:                       true,
			`{"x-cos-storage-class":"STANDARD"}`:      true,
			`{"q-sign-algorithm":"sha1"}`:             true,
			`{"q-ak":"` + docSecretID + `"}`:          true,
			`{"q-sign-time":"1567150692;1567151292"}`: true,
		}
		if token != "" {
			want[`{"x-cos-security-token":"sts-token"}`] = true
			if got := form["x-cos-security-token"]; got != token {
				t.Errorf("form x-cos-security-token = %q; want %q", got, token)
			}
		} else if _, ok := form["x-cos-security-token"]; ok {
			t.Errorf("form carries x-cos-security-token without temporary credentials")
		}
		// The form sends what the policy pins, under the names COS reads in
		// a form (acl, not the header's x-cos-acl).
		for field, value := range map[string]string{"acl": "private", "x-cos-storage-class": "STANDARD", "success_action_status": "204"} {
			if got := form[field]; got != value {
				t.Errorf("form %s = %q; want %q", field, got, value)
			}
		}
		if got := len(policy.Conditions); got != len(want) {
			t.Errorf("policy has %d conditions; want %d", got, len(want))
		}
		for _, c := range policy.Conditions {
			b, _ := json.Marshal(c)
			if !want[string(b)] {
				t.Errorf("unexpected condition %s", b)
			}
		}
	}
}

func TestSignPostFormRejectsBadSpec(t *testing.T) {
	now := time.Now()
	good := storage.UploadSpec{Key: "k", ContentType: "image/png", MaxBytes: 1, NotBefore: now, Expires: now.Add(time.Minute)}
	bad := []func(*storage.UploadSpec){
		func(s *storage.UploadSpec) { s.Key = "" },
		func(s *storage.UploadSpec) { s.ContentType = "" },
		func(s *storage.UploadSpec) { s.MaxBytes = 0 },
		func(s *storage.UploadSpec) { s.Expires = s.NotBefore },
	}
	for i, mutate := range bad {
		spec := good
		mutate(&spec)
		if _, err := signPostForm(storage.Credentials{SecretID: "id", SecretKey: "key"}, "b", spec); err == nil {
			t.Errorf("case %d: signPostForm accepted a bad spec", i)
		}
	}
}

// TestPolicyJSON: the policy written without reflection is byte for byte
// encoding/json's rendering of the same document, strings that need
// escaping included.
func TestPolicyJSON(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	kt := keyTime(now, now.Add(10*time.Minute))
	for _, c := range []struct {
		cred   storage.Credentials
		bucket string
		key    string
	}{
		{storage.Credentials{SecretID: "AKIDexample", SecretKey: "s"}, "wxavatar-1250000000", "avatars/u1/3ocd4fqc2abc.png"},
		{storage.Credentials{SecretID: "AKIDexample", SecretKey: "s", SessionToken: "tok/+=en"}, "b-1", "avatars/u1/x.webp"},
		{storage.Credentials{SecretID: "AKID", SecretKey: "s"}, "b-1", "odd \"key\" <&> \\ é \x01"},
		{storage.Credentials{SecretID: "AKID", SecretKey: "s", SessionToken: "tok\u2028"}, "b-1", "k"},
	} {
		spec := storage.UploadSpec{Key: c.key, ContentType: "image/png", MaxBytes: 5 << 20, NotBefore: now, Expires: now.Add(10 * time.Minute)}
		got := policyJSON(c.cred, c.bucket, spec, kt)
		conditions := []any{
			map[string]string{"bucket": c.bucket},
			[]string{"eq", "$key", spec.Key},
			[]string{"eq", "$Content-Type", spec.ContentType},
			[]any{"content-length-range", 1, spec.MaxBytes},
			map[string]string{"success_action_status": postSuccessStatus},
			map[string]string{"acl": "private"},
			map[string]string{"x-cos-storage-class": "STANDARD"},
			map[string]string{"q-sign-algorithm": "sha1"},
			map[string]string{"q-ak": c.cred.SecretID},
			map[string]string{"q-sign-time": kt},
		}
		if c.cred.SessionToken != "" {
			conditions = append(conditions, map[string]string{"x-cos-security-token": c.cred.SessionToken})
		}
		want, err := json.Marshal(struct {
			Expiration string `json:"expiration"`
			Conditions []any  `json:"conditions"`
		}{spec.Expires.UTC().Format(policyTimeLayout), conditions})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("policy for key %q:\n got %s\nwant %s", c.key, got, want)
		}
	}
}
