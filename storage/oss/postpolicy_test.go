package oss

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/storage"
)

// p2Policy is the policy of Aliyun's "POST V4签名" page
// (testdata/oss-vectors.md, P2).
const p2Policy = `{
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

// TestPolicyShapeP2: the form signer writes P2's policy, field for field,
// for P2's inputs: the expiration's layout, the credential and date as P2
// has them, and the V4 conditions in P2's exact-match form.
func TestPolicyShapeP2(t *testing.T) {
	var p2 struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal([]byte(p2Policy), &p2); err != nil {
		t.Fatal(err)
	}
	signedAt := time.Date(2023, 12, 3, 12, 12, 12, 0, time.UTC)
	spec := storage.UploadSpec{Key: "user/eric/a.png", ContentType: "image/png", MaxBytes: 10,
		NotBefore: signedAt, Expires: time.Date(2023, 12, 3, 13, 0, 0, 0, time.UTC)}
	cred := storage.Credentials{SecretID: "AKIDEXAMPLE", SecretKey: "s", SessionToken: "CAIS******"}
	form, err := signPostForm(cred, "examplebucket", "cn-hangzhou", spec)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(form["policy"])
	var got struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Expiration != p2.Expiration {
		t.Errorf("expiration %s; want %s", got.Expiration, p2.Expiration)
	}
	compact := func(c json.RawMessage) string {
		var v any
		json.Unmarshal(c, &v)
		b, _ := json.Marshal(v)
		return string(b)
	}
	ours := map[string]bool{}
	for _, c := range got.Conditions {
		ours[compact(c)] = true
	}
	for _, c := range p2.Conditions[:5] { // bucket and the V4 conditions
		if !ours[compact(c)] {
			t.Errorf("the policy lacks P2's condition %s", compact(c))
		}
	}
	for _, f := range []string{fieldSignatureVersion, fieldCredential, fieldDate, fieldSecurityToken} {
		var want map[string]string
		for _, c := range p2.Conditions[1:5] {
			if json.Unmarshal(c, &want); want[f] != "" {
				break
			}
		}
		if form[f] != want[f] {
			t.Errorf("form %s = %q; want %q, as in the policy", f, form[f], want[f])
		}
	}
}

func TestSignPostFormPinsEveryField(t *testing.T) {
	start := time.Date(2026, 11, 25, 23, 59, 30, 0, time.FixedZone("CST", 8*3600))
	spec := storage.UploadSpec{Key: "uploads/u1/up1.png", ContentType: "image/png", MaxBytes: 5242880,
		NotBefore: start, Expires: start.Add(10*time.Minute + 250*time.Millisecond)}
	for _, token := range []string{"", "sts-token"} {
		cred := storage.Credentials{SecretID: "LTAIexample", SecretKey: "secret", SessionToken: token}
		form, err := signPostForm(cred, "wxavatar", "cn-shanghai", spec)
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
		// The form's window: from NotBefore (UTC, so 25 November in Beijing
		// is the 25th's 15:59 in the scope) to Expires.
		if got, want := policy.Expiration, "2026-11-25T16:09:30.250Z"; got != want {
			t.Errorf("expiration = %s; want %s", got, want)
		}
		wantForm := map[string]string{
			"key":                     spec.Key,
			"policy":                  form["policy"],
			"x-oss-signature-version": "OSS4-HMAC-SHA256",
			"x-oss-credential":        "LTAIexample/20261125/cn-shanghai/oss/aliyun_v4_request",
			"x-oss-date":              "20261125T155930Z",
			"x-oss-signature":         signature(signingKey("secret", start, "cn-shanghai"), form["policy"]),
			"Content-Type":            "image/png",
			"x-oss-content-type":      "image/png",
			"success_action_status":   "204",
			"x-oss-object-acl":        "private",
			"x-oss-storage-class":     "Standard",
		}
		wantConditions := map[string]bool{
			`{"bucket":"wxavatar"}`:                                                         true,
			`["eq","$key","uploads/u1/up1.png"]`:                                            true,
			`["eq","$Content-Type","image/png"]`:                                            true,
			`["eq","$x-oss-content-type","image/png"]`:                                      true,
			`["content-length-range",1,5242880]`:                                            true,
			`["eq","$success_action_status","204"]`:                                         true,
			`["eq","$x-oss-object-acl","private"]`:                                          true,
			`["eq","$x-oss-storage-class","Standard"]`:                                      true,
			`{"x-oss-signature-version":"OSS4-HMAC-SHA256"}`:                                true,
			`{"x-oss-credential":"LTAIexample/20261125/cn-shanghai/oss/aliyun_v4_request"}`: true,
			`{"x-oss-date":"20261125T155930Z"}`:                                             true,
		}
		if token != "" {
			wantForm["x-oss-security-token"] = token
			wantConditions[`{"x-oss-security-token":"sts-token"}`] = true
		}
		if !maps.Equal(form, wantForm) {
			t.Errorf("form:\n got %v\nwant %v", form, wantForm)
		}
		if got := len(policy.Conditions); got != len(wantConditions) {
			t.Errorf("policy has %d conditions; want %d", got, len(wantConditions))
		}
		for _, c := range policy.Conditions {
			b, _ := json.Marshal(c)
			if !wantConditions[string(b)] {
				t.Errorf("unexpected condition %s", b)
			}
		}
		// Every field the client sends but the policy and the signature
		// over it is pinned by a condition.
		for field := range form {
			if field == "policy" || field == fieldSignature {
				continue
			}
			if !slices.ContainsFunc(policy.Conditions, func(c any) bool { return names(c, field) }) {
				t.Errorf("form field %s is named by no condition", field)
			}
		}
	}
}

// names reports whether condition c pins field.
func names(c any, field string) bool {
	switch c := c.(type) {
	case map[string]any:
		_, ok := c[field]
		return ok
	case []any:
		return len(c) == 3 && c[0] == "eq" && c[1] == "$"+field
	}
	return false
}

func TestSignPostFormRejectsBadSpec(t *testing.T) {
	now := time.Now()
	good := storage.UploadSpec{Key: "k", ContentType: "image/png", MaxBytes: 1, NotBefore: now, Expires: now.Add(time.Minute)}
	for i, mutate := range []func(*storage.UploadSpec){
		func(s *storage.UploadSpec) { s.Key = "" },
		func(s *storage.UploadSpec) { s.ContentType = "" },
		func(s *storage.UploadSpec) { s.MaxBytes = 0 },
		func(s *storage.UploadSpec) { s.Expires = s.NotBefore },
		func(s *storage.UploadSpec) { s.Size = 2 },
	} {
		spec := good
		mutate(&spec)
		if _, err := signPostForm(storage.Credentials{SecretID: "id", SecretKey: "key"}, "b", "cn-hangzhou", spec); err == nil {
			t.Errorf("case %d: signPostForm accepted a bad spec", i)
		}
	}
}

// TestPolicyJSON: the policy written without reflection is byte for byte
// encoding/json's rendering of the same document, strings that need
// escaping included.
func TestPolicyJSON(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		cred   storage.Credentials
		bucket string
		key    string
		ct     string
	}{
		{storage.Credentials{SecretID: "LTAIexample", SecretKey: "s"}, "wxavatar", "uploads/u1/3ocd4fqc2abc.png", "image/png"},
		{storage.Credentials{SecretID: "STS.example", SecretKey: "s", SessionToken: "tok/+=en"}, "b-1", "uploads/u1/x.webp", "image/webp"},
		{storage.Credentials{SecretID: "LTAI", SecretKey: "s"}, "b-1", "odd \"key\" <&> \\ é \x01", "image/jpeg; x=\"y\""},
		{storage.Credentials{SecretID: "LTAI", SecretKey: "s", SessionToken: "tok\u2028"}, "b-1", "k", "image/png"},
	} {
		spec := storage.UploadSpec{Key: c.key, ContentType: c.ct, MaxBytes: 5 << 20, NotBefore: now, Expires: now.Add(10 * time.Minute)}
		cs, date := credential(c.cred.SecretID, now, "cn-hangzhou"), now.Format(dateTimeLayout)
		got := policyJSON(c.cred, c.bucket, spec, cs, date)
		conditions := []any{
			map[string]string{"bucket": c.bucket},
			[]string{"eq", "$key", spec.Key},
			[]string{"eq", "$Content-Type", spec.ContentType},
			[]string{"eq", "$x-oss-content-type", spec.ContentType},
			[]any{"content-length-range", 1, spec.MaxBytes},
			[]string{"eq", "$success_action_status", "204"},
			[]string{"eq", "$x-oss-object-acl", "private"},
			[]string{"eq", "$x-oss-storage-class", "Standard"},
			map[string]string{"x-oss-signature-version": "OSS4-HMAC-SHA256"},
			map[string]string{"x-oss-credential": cs},
			map[string]string{"x-oss-date": date},
		}
		if c.cred.SessionToken != "" {
			conditions = append(conditions, map[string]string{"x-oss-security-token": c.cred.SessionToken})
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
