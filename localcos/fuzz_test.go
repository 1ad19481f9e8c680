package localcos

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"
)

// Hostile input for the signature verifiers. The seed form and URL are
// shaped as the production signer shapes its own (package storage,
// Client.SignUpload), at fixed times, so the seeds are the same on every run
// and the corpus files under testdata/fuzz stay meaningful. They are made
// here, the form by the test's own HMAC (signedPolicyText) and the URL by
// cos-go-sdk-v5, whose presigned URL storage's presignPut writes byte for
// byte; storage's own tests send what its signer makes to this server.

var (
	fuzzStart   = time.Unix(1700000000, 0)
	fuzzExpires = fuzzStart.Add(10 * time.Minute)
	fuzzNow     = fuzzStart.Add(time.Minute) // inside every window below
	fuzzCred    = Key{SecretID: "AKIDfuzz", SecretKey: "fuzz-secret-key", SessionToken: "sts-token"}
)

const (
	fuzzBucketHost  = testBucketName + ".cos.ap-guangzhou.myqcloud.com"
	fuzzKey         = "avatars/u1/up1.png"
	fuzzContentType = "image/png"
	fuzzMaxBytes    = 1024
)

// fuzzForm is an upload form for fuzzKey as the production signer writes
// one: each field it sends (keyed by lower-cased name, as postObject keys
// them) pinned by a condition of the policy, in the signer's order.
func fuzzForm() map[string]string {
	keyTime := fmt.Sprintf("%d;%d", fuzzStart.Unix(), fuzzExpires.Unix())
	policy := `{"expiration":"` + fuzzExpires.UTC().Format("2006-01-02T15:04:05.000Z") + `","conditions":[` +
		`{"bucket":"` + testBucketName + `"},["eq","$key","` + fuzzKey + `"],["eq","$Content-Type","` + fuzzContentType + `"],` +
		`["content-length-range",1,` + strconv.Itoa(fuzzMaxBytes) + `],{"success_action_status":"204"},` +
		`{"acl":"private"},{"x-cos-storage-class":"STANDARD"},{"q-sign-algorithm":"sha1"},` +
		`{"q-ak":"` + fuzzCred.SecretID + `"},{"q-sign-time":"` + keyTime + `"},` +
		`{"x-cos-security-token":"` + fuzzCred.SessionToken + `"}]}`
	form := map[string]string{
		"key": fuzzKey, "content-type": fuzzContentType, "success_action_status": "204",
		"acl": "private", "x-cos-storage-class": "STANDARD",
	}
	for _, f := range signedPolicyText(fuzzCred, keyTime, policy) {
		form[f.name] = f.value
	}
	return form
}

// fuzzPresignedURL is the SDK's presigned PUT of fuzzKey, signing what the
// production signer signs: Content-Length (3), Content-Type, Host, x-cos-acl,
// x-cos-storage-class and the STS token. merged asks for the SDK's other
// form, the whole Authorization in one "sign" parameter.
func fuzzPresignedURL(tb testing.TB, merged bool) *url.URL {
	tb.Helper()
	base, _ := url.Parse("https://" + fuzzBucketHost)
	header := http.Header{}
	header.Set("Content-Type", fuzzContentType)
	header.Set("Content-Length", "3")
	header.Set("x-cos-acl", "private")
	header.Set("x-cos-storage-class", "STANDARD")
	query := url.Values{}
	query.Set(securityTokenField, fuzzCred.SessionToken)
	u, err := cos.NewClient(&cos.BaseURL{BucketURL: base}, nil).Object.GetPresignedURL(context.Background(),
		http.MethodPut, fuzzKey, fuzzCred.SecretID, fuzzCred.SecretKey, time.Hour,
		&cos.PresignedURLOptions{Header: &header, Query: &query, SignMerged: merged, AuthTime: &cos.AuthTime{
			SignStartTime: fuzzStart, SignEndTime: fuzzExpires, KeyStartTime: fuzzStart, KeyEndTime: fuzzExpires}})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// checkCoded fails unless err is nil or one of the verifier's COS refusals
// with a 4xx status: anything else would reach the client as a 500.
func checkCoded(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	ce, ok := asCodedError(err)
	if !ok {
		t.Fatalf("%s: error %v (%T) is not a COS refusal", what, err, err)
	}
	if ce.status < 400 || ce.status > 499 || ce.code == "" || ce.message == "" {
		t.Fatalf("%s: refusal %d %q %q; want a 4xx with a code and a message", what, ce.status, ce.code, ce.message)
	}
}

// FuzzPostPolicy drives verifyPostForm two ways with every input:
//
//  1. policy is arbitrary text, correctly signed (by the test's own HMAC),
//     so parsing and every condition check are reached; the form is the
//     signed form plus one arbitrary field.
//  2. the signed form with one field set to value (or dropped): it may
//     only verify if every signed or pinned part is unchanged.
//
// filename stands in for the file part's name, substituted for ${filename}
// in the key as postObject does.
func FuzzPostPolicy(f *testing.F) {
	valid := fuzzForm()
	validPolicy, err := base64.StdEncoding.DecodeString(valid["policy"])
	if err != nil {
		f.Fatal(err)
	}
	keyTime := valid["q-key-time"]
	v := verifierAt(fuzzNow, fuzzCred)

	// The form verifies as is: otherwise mode 2 tests nothing.
	if _, err := v.verifyPostForm(valid, valid["key"], testBucketName); err != nil {
		f.Fatalf("the signed form does not verify: %v", err)
	}

	p := string(validPolicy)
	for _, s := range []struct {
		policy, name, value, filename string
		drop                          bool
	}{
		{p, "", "", "", false},
		{p, "key", "avatars/u1/up2.png", "", false},
		{p, "key", "${filename}", "avatars/u1/up1.png", false},
		{p, "key", "${filename}", "../../etc/passwd", false},
		{p, "Content-Type", "text/html", "", false},
		{p, "content-type", "image/png ", "", false},
		{p, "success_action_status", "201", "", false},
		{p, "success_action_redirect", "https://evil.example/", "", false},
		{p, "x-cos-acl", "public-read", "", false},
		{p, "acl", "public-read", "", false},
		{p, "x-cos-storage-class", "ARCHIVE", "", false},
		{p, "x-cos-meta-foo", "bar", "", false},
		{p, "q-signature", strings.ToUpper(valid["q-signature"]), "", false},
		{p, "q-signature", valid["q-signature"][:39] + "0", "", false},
		{p, "q-key-time", "1700000000;1700009999", "", false},
		{p, "q-sign-time", "1;9999999999", "", false},
		{p, "q-ak", "AKIDother", "", false},
		{p, "q-sign-algorithm", "SHA1", "", false},
		{p, "x-cos-security-token", "", "", false},
		{p, "x-cos-security-token", "", "", true},
		{p, "policy", valid["policy"] + "\n", "", false},
		{p, "policy", strings.TrimRight(valid["policy"], "="), "", false},
		{p, "policy", base64.StdEncoding.EncodeToString([]byte(strings.Replace(p, "image/png", "image/gif", 1))), "", false},
		{p, "bucket", "otherbucket-1250000000", "", false},
		{`{"expiration":"2099-01-01T00:00:00Z","conditions":[]}`, "", "", "", false},
		{`{"expiration":"2099-01-01T00:00:00Z","conditions":[["starts-with","$key",""],["content-length-range",10,1]]}`, "", "", "", false},
		{`{"expiration":"2099-01-01T00:00:00Z","conditions":[["content-length-range","9223372036854775807","9223372036854775808"]]}`, "", "", "", false},
		{`{"expiration":"2099-01-01T00:00:00Z","conditions":[["content-length-range",1e3,2e3]]}`, "", "", "", false},
		{`{"expiration":"2099-01-01T00:00:00Z","conditions":[{"key":null},{"":""},["eq","$",""]]}`, "", "", "", false},
		{`{"expiration":"2099-01-01T00:00:00Z","conditions":[["EQ","$KEY","avatars/u1/up1.png"],{"Content-Type":"image/png"}]}`, "", "", "", false},
		{`{"expiration":"2099-01-01T00:00:00Z","conditions":[["eq","$x-cos-meta-a","\ud800"]]}`, "x-cos-meta-a", "\ufffd", "", false},
		{`{"expiration":"1999-01-01T00:00:00Z","EXPIRATION":"2099-01-01T00:00:00Z","conditions":[]}`, "", "", "", false},
		{`{"expiration":"2099-13-01T00:00:00Z"}`, "", "", "", false},
		{`{"expiration":"2099-01-01T00:00:00+99:00","conditions":[]}`, "", "", "", false},
		{`{"expiration":"2099-01-01T00:00:00Z","conditions":` + strings.Repeat("[", 10001) + `}`, "", "", "", false},
		{`{"expiration":"2099-01-01T00:00:00Z","conditions":[[[[[["eq"]]]]]]}`, "", "", "", false},
		{`[]`, "", "", "", false},
		{`null`, "", "", "", false},
		{"\xff\xfe{", "", "", "", false},
		{"", "policy", "!!!not base64!!!", "", false},
	} {
		f.Add(s.policy, s.name, s.value, s.filename, s.drop)
	}

	f.Fuzz(func(t *testing.T, policy, name, value, filename string, drop bool) {
		name = strings.ToLower(name)
		edit := func(form map[string]string) {
			switch {
			case name == "":
			case drop:
				delete(form, name)
			default:
				form[name] = value
			}
		}
		effectiveKey := func(form map[string]string) string {
			return strings.ReplaceAll(form["key"], "${filename}", filename)
		}

		// 1. Arbitrary policy text, validly signed.
		form := make(map[string]string, len(valid)+1)
		for k, val := range valid {
			form[k] = val
		}
		for _, fld := range signedPolicyText(fuzzCred, keyTime, policy) {
			form[fld.name] = fld.value
		}
		edit(form)
		size, err := v.verifyPostForm(form, effectiveKey(form), testBucketName)
		checkCoded(t, "arbitrary policy", err)
		if err == nil && (size.min < 0 || size.max < 0) {
			t.Fatalf("arbitrary policy: negative size range %+v", size)
		}

		// 2. The signed form, one field edited.
		form = make(map[string]string, len(valid)+1)
		for k, val := range valid {
			form[k] = val
		}
		edit(form)
		key := effectiveKey(form)
		size, err = v.verifyPostForm(form, key, testBucketName)
		checkCoded(t, "edited form", err)
		if err != nil {
			return
		}
		if size.min != 1 || size.max != fuzzMaxBytes {
			t.Fatalf("edited form verifies with size range %+v; want 1..%d", size, fuzzMaxBytes)
		}
		// What the signature covers is the policy text as decoded, so a
		// differently padded or wrapped base64 of the same text is the same
		// signed part.
		got, derr := base64.StdEncoding.DecodeString(form["policy"])
		if derr != nil || string(got) != string(validPolicy) {
			t.Fatalf("edited form verifies with another policy %q", got)
		}
		if key != fuzzKey {
			t.Fatalf("edited form verifies for key %q; pinned %q", key, fuzzKey)
		}
		for _, k := range []string{"q-sign-algorithm", "q-ak", "q-key-time", "content-type", "success_action_status", "x-cos-security-token",
			"acl", "x-cos-storage-class"} {
			if g, ok := form[k]; !ok || g != valid[k] {
				t.Fatalf("edited form verifies with %s = %q (present %v); signed %q", k, g, ok, valid[k])
			}
		}
		if !strings.EqualFold(form["q-signature"], valid["q-signature"]) {
			t.Fatalf("edited form verifies with q-signature %q; signed %q", form["q-signature"], valid["q-signature"])
		}
		if st, ok := form["q-sign-time"]; ok && st != keyTime {
			t.Fatalf("edited form verifies with q-sign-time %q; pinned %q", st, keyTime)
		}
		// No field the signer did not send verifies, but those a condition
		// names (bucket, whose value is the addressed bucket's whatever the
		// form says, and q-sign-time, pinned above).
		for k := range form {
			if _, signed := valid[k]; !signed && k != "bucket" && k != "q-sign-time" {
				t.Fatalf("edited form verifies with a field the signer did not send: %q", k)
			}
		}
	})
}

// presignedRequest is a PUT as the client sends it with the signed URL.
func presignedRequest(rawURL string) *http.Request {
	r := httptest.NewRequest(http.MethodPut, rawURL, strings.NewReader("png"))
	r.Header.Set("Content-Type", fuzzContentType)
	r.Header.Set("Content-Length", "3") // as a server receives it
	r.Header.Set("x-cos-acl", "private")
	r.Header.Set("x-cos-storage-class", "STANDARD")
	return r
}

// FuzzPresignedQuery sends a PUT with an arbitrary query string, an
// arbitrary Authorization header (when not empty) and an arbitrary path
// (when not empty) to the signature verifier. Nothing else but a replay of
// the reference signature can verify, and a replay may only verify while the
// signed parts (key time, path, signed headers and parameters, the STS token)
// are as signed.
func FuzzPresignedQuery(f *testing.F) {
	signed := fuzzPresignedURL(f, false).String()
	ref := presignedRequest(signed)
	v := verifierAt(fuzzNow, fuzzCred)
	if _, err := v.verifyRequest(ref); err != nil {
		f.Fatalf("the SDK's URL does not verify: %v", err)
	}
	refFields, err := requestSignatureFields(ref)
	if err != nil {
		f.Fatal(err)
	}
	refHTTP, err := httpString(ref, refFields)
	if err != nil {
		f.Fatal(err)
	}
	refPath, refQuery := ref.URL.Path, ref.URL.RawQuery

	// The SDK's merged form carries the whole Authorization in "sign".
	merged := fuzzPresignedURL(f, true)
	if _, err := v.verifyRequest(presignedRequest(merged.String())); err != nil {
		f.Fatalf("the SDK's merged URL does not verify: %v", err)
	}
	mergedQuery := merged.RawQuery
	authz, _ := url.QueryUnescape(merged.Query().Get(mergedSignParam))

	for _, s := range [][3]string{
		{refQuery, "", ""},
		{mergedQuery, "", ""},
		{"x-cos-security-token=sts-token", authz, ""},
		{strings.ReplaceAll(refQuery, "%3B", ";"), "", ""},
		{strings.ReplaceAll(refQuery, "%3B", "%3b"), "", ""},
		{refQuery + "&extra=1", "", ""},
		{refQuery + "&x-cos-security-token=other", "", ""},
		{refQuery + "&q-signature=0000", "", ""},
		{strings.Replace(refQuery, "x-cos-security-token=sts-token", "X-Cos-Security-Token=sts-token", 1), "", ""},
		{strings.Replace(refQuery, "content-type", "content-type%3Bx-cos-grant-read", 1), "", ""},
		{strings.Replace(refQuery, "q-header-list=", "q-header-list=HOST%3B", 1), "", ""},
		{refQuery, "", "/avatars/u1/up2.png"},
		{refQuery, "", "/avatars/u1/../u1/up1.png"},
		{refQuery, "", "/avatars%2Fu1%2Fup1.png"},
		{"q-sign-algorithm=sha1&q-ak=AKIDfuzz&q-sign-time=1700000000%3B1700000600&q-key-time=9%3B1&q-header-list=&q-url-param-list=&q-signature=x", "", ""},
		{"q-sign-algorithm=sha1&q-ak=AKIDfuzz&q-sign-time=-9223372036854775808%3B9223372036854775807&q-key-time=1%3B99999999999999999999&q-header-list=&q-url-param-list=&q-signature=x", "", ""},
		{"q-signature=&q-signature=", "", ""},
		{"sign=%ZZ&q-signature=1", "", ""},
		{"sign=", "", ""},
		{"", "q-sign-algorithm=sha1&q-ak=AKIDfuzz&q-ak=AKIDfuzz", ""},
		{"", "garbage", ""},
		{"", "&&&===", ""},
		{"", "q-sign-algorithm=sha1&q-ak=AKIDfuzz&q-sign-time=1700000000;1700000600&q-key-time=1700000000;1700000600&q-header-list=host;host;HOST&q-url-param-list=;&q-signature=0", ""},
		{";;;&&%00=%00&\x00=\xff", "\xff\xfe", "\x00"},
	} {
		f.Add(s[0], s[1], s[2])
	}

	f.Fuzz(func(t *testing.T, rawQuery, authorization, path string) {
		r := presignedRequest(signed)
		r.URL.RawQuery = rawQuery
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if path != "" {
			r.URL.Path, r.URL.RawPath = path, ""
		}
		hasSig := hasSignature(r)
		_, err := v.verifyRequest(r)
		checkCoded(t, "verifyRequest", err)
		if !hasSig && codeOf(err) != "AccessDenied" {
			t.Fatalf("unsigned request: got %q (%v); want AccessDenied", codeOf(err), err)
		}
		if err != nil {
			return
		}
		if r.URL.Path != refPath {
			t.Fatalf("verifies for path %q; signed %q", r.URL.Path, refPath)
		}
		got, ferr := requestSignatureFields(r)
		if ferr != nil {
			t.Fatalf("verifies, but its fields do not parse: %v", ferr)
		}
		if got.keyTime != refFields.keyTime || got.ak != refFields.ak || !strings.EqualFold(got.signature, refFields.signature) {
			t.Fatalf("verifies with key time %q, ak %q, signature %q; signed %q, %q, %q",
				got.keyTime, got.ak, got.signature, refFields.keyTime, refFields.ak, refFields.signature)
		}
		if hs, herr := httpString(r, got); herr != nil || hs != refHTTP {
			t.Fatalf("verifies with HttpString %q; signed %q", hs, refHTTP)
		}
		token := r.Header.Get(securityTokenField)
		if token == "" {
			token = requestQuery(r).Get(securityTokenField)
		}
		if token != fuzzCred.SessionToken {
			t.Fatalf("verifies with STS token %q", token)
		}
	})
}
