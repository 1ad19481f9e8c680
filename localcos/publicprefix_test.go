package localcos

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/internal/testutil"
)

// The production buckets are private, and a bucket policy publishes
// avatars/* alone. Config.PublicPrefixes models that policy in every
// protocol: an object that names no ACL (as S3 uploads never do, AWS
// buckets having ACLs disabled) is public under avatars/ only; an explicit
// ACL is obeyed wherever the object is.

// aclHeader is the header naming an object's ACL in a PUT.
var aclHeader = map[Protocol]string{ProtocolCOS: "x-cos-acl", ProtocolS3: "x-amz-acl", ProtocolOSS: "x-oss-object-acl"}

func TestLocalServerPublicPrefixes(t *testing.T) {
	for _, proto := range protocols {
		t.Run(string(proto), func(t *testing.T) { testPublicPrefixes(t, proto) })
	}
}

func testPublicPrefixes(t *testing.T, proto Protocol) {
	b := newProtocolBucket(t, proto, Config{PublicPrefixes: []string{"avatars/"}})
	type prefixCase struct {
		key, acl   string
		wantStatus int
	}
	tests := []prefixCase{
		{"uploads/u1/up1.png", "", 403},
		{"avatars/u1/a.png", "", 200},
		{"avatars/u1/private.png", "private", 403},
		{"uploads/u1/public.png", "public-read", 200},
		{"avatars", "", 403},        // the prefix is "avatars/", slash included
		{"avatarsX/a.png", "", 403}, // … so this is not under it
		{"Avatars/a.png", "", 403},  // keys are case-sensitive
		{"x/avatars/a.png", "", 403},
	}
	if proto != ProtocolS3 { // COS and OSS name the bucket's ACL "default"
		tests = append(tests, prefixCase{"avatars/u1/default.png", "default", 200}, prefixCase{"uploads/u1/default.png", "default", 403})
	}
	if proto != ProtocolCOS { // COS names no public-read-write
		tests = append(tests, prefixCase{"uploads/u1/rw.png", "public-read-write", 200})
	}
	for _, tt := range tests {
		header := http.Header{}
		if tt.acl != "" {
			header.Set(aclHeader[proto], tt.acl)
		}
		b.put(t, tt.key, []byte("png bytes"), header)
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp := testutil.Do(t, testutil.MustRequest(t, method, b.objectURL(tt.key), nil))
			code := b.errorCode(t, resp)
			if resp.StatusCode != tt.wantStatus || method == http.MethodGet && tt.wantStatus == 403 && code != "AccessDenied" {
				t.Errorf("anonymous %s %s (ACL %q): %d %q; want %d", method, tt.key, tt.acl, resp.StatusCode, code, tt.wantStatus)
			}
		}
		// The owner's signed reads always work.
		resp := testutil.Do(t, b.signedGet(t, http.MethodGet, tt.key))
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "png bytes" {
			t.Errorf("signed GET %s: %d %q; want 200 and the bytes", tt.key, resp.StatusCode, got)
		}
	}

	// An empty list publishes nothing; no list (nil) publishes every object
	// with the bucket's ACL, as a public-read bucket does.
	for _, tt := range []struct {
		prefixes   []string
		wantStatus int
	}{{[]string{}, 403}, {nil, 200}} {
		b := newProtocolBucket(t, proto, Config{PublicPrefixes: tt.prefixes})
		b.put(t, "avatars/u1/a.png", []byte("png bytes"), nil)
		resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL("avatars/u1/a.png"), nil))
		if code := b.errorCode(t, resp); resp.StatusCode != tt.wantStatus {
			t.Errorf("PublicPrefixes %#v: anonymous GET of avatars/u1/a.png: %d %q; want %d", tt.prefixes, resp.StatusCode, code, tt.wantStatus)
		}
	}
}

// TestS3PostUploadStaysPrivate: an S3 POST form names no acl, as the
// service's S3 policy does not; with the bucket's policy modelled the
// staged upload is private, the avatar public.
func TestS3PostUploadStaysPrivate(t *testing.T) {
	b := newS3Bucket(t, Config{PublicPrefixes: []string{"avatars/"}})
	for _, tt := range []struct {
		key        string
		wantStatus int
	}{{"uploads/u1/up1.png", 403}, {"avatars/u1/a.png", 200}} {
		form := s3Form(t, testCredentials, time.Now(), []formField{{"key", tt.key}, {"Content-Type", "image/png"}})
		resp := postS3Form(t, b.postURL(), form, []byte("png bytes"))
		if code := s3ErrorCode(t, resp); resp.StatusCode != 204 {
			t.Fatalf("POST %s: %d %q; want 204", tt.key, resp.StatusCode, code)
		}
		resp = testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(tt.key), nil))
		if code := s3ErrorCode(t, resp); resp.StatusCode != tt.wantStatus {
			t.Errorf("anonymous GET of %s: %d %q; want %d", tt.key, resp.StatusCode, code, tt.wantStatus)
		}
	}
}
