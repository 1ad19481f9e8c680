package localcos

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"github.com/wxavatar/wxavatar/internal/testutil"
	"github.com/wxavatar/wxavatar/storage"
	ossstore "github.com/wxavatar/wxavatar/storage/oss"
)

// The service's own OSS client and signer (package storage/oss) against
// the server in its OSS dialect, whose verifier shares no code with them:
// the upload signatures it hands out are used as a mini program uses them
// (a multipart POST as wx.uploadFile sends it, a PUT as wx.request sends
// it, both with plain net/http), and its own calls (Peek, Put, Delete,
// Ping) go through Aliyun's SDK. Hostile uploads are refused with OSS's
// codes, or, where OSS itself would take them, shown to be harmless.

var ossPNG = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 40)...)

// productionOSSClient is storage/oss's client for the bucket, path style,
// as `serve --dev` points it at the local server.
func productionOSSClient(t *testing.T, b *testBucket, cred Key) *ossstore.Client {
	t.Helper()
	endpoint, err := url.Parse(b.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ossstore.New(ossstore.Config{Endpoint: endpoint, Bucket: testBucketName, Region: ossSDKRegion, PathStyle: true,
		Credentials: storage.Credentials{SecretID: cred.SecretID, SecretKey: cred.SecretKey, SessionToken: cred.SessionToken},
		Timeout:     2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func productionSpec(key string, now time.Time) storage.UploadSpec {
	return storage.UploadSpec{Key: key, ContentType: "image/png", MaxBytes: 100, Size: int64(len(ossPNG)),
		NotBefore: now.Add(-time.Minute), Expires: now.Add(10 * time.Minute)}
}

// postSigned uploads data with the signed form as wx.uploadFile does: the
// fields (edited by edit), then the file part with its own type.
func postSigned(t *testing.T, b *testBucket, s storage.SignedUpload, fileType string, data []byte, edit func(map[string]string)) *http.Response {
	t.Helper()
	if s.PostURL != b.srv.URL+"/"+testBucketName {
		t.Fatalf("PostURL %q; want %s/%s", s.PostURL, b.srv.URL, testBucketName)
	}
	form := maps.Clone(s.PostForm)
	if edit != nil {
		edit(form)
	}
	return postOSSForm(t, b, form, fileType, data)
}

// putSigned uploads data to the signed PUT URL with the headers it signed
// (edited by edit), as wx.request does.
func putSigned(t *testing.T, s storage.SignedUpload, data []byte, edit func(*http.Request)) *http.Response {
	t.Helper()
	req := testutil.MustRequest(t, http.MethodPut, s.PutURL, bytes.NewReader(data))
	for k, v := range s.PutHeaders {
		if k != "Content-Length" { // the transport sends len(data)
			req.Header.Set(k, v)
		}
	}
	if edit != nil {
		edit(req)
	}
	return testutil.Do(t, req)
}

func TestOSSProductionClientAndSigner(t *testing.T) {
	for _, cred := range []Key{testCredentials, {SecretID: "STS.temporary", SecretKey: "temporary-secret", SessionToken: "sts-token"}} {
		t.Run("token="+cred.SessionToken, func(t *testing.T) { testOSSProduction(t, cred) })
	}
}

func testOSSProduction(t *testing.T, cred Key) {
	b := newOSSBucket(t, Config{PublicPrefixes: []string{"avatars/"}}, cred)
	c := productionOSSClient(t, b, cred)
	ctx := context.Background()
	now := time.Now()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping (GetBucketInfo): %v", err)
	}

	// The form's policy pins every field the form sends: the verifier
	// finds none that OSS would store unchecked.
	signed, err := c.SignUpload(ctx, productionSpec("uploads/u1/post.png", now))
	if err != nil {
		t.Fatal(err)
	}
	fields := make(map[string]string, len(signed.PostForm))
	for k, v := range signed.PostForm {
		fields[strings.ToLower(k)] = v
	}
	v := ossVerifier{credentials: func() []Key { return []Key{cred} }, now: time.Now, bucket: testBucketName, region: ossSDKRegion}
	policy, err := v.verifyPostForm(fields)
	if err != nil {
		t.Fatalf("the production form does not verify: %v", err)
	}
	if lo, hi := policy.sizeRange(); len(policy.unpinned(fields)) != 0 || lo != 1 || hi != 100 {
		t.Errorf("policy: unpinned %v, size %d..%d; want none, 1..100", policy.unpinned(fields), lo, hi)
	}

	// Upload by POST form, with a file part wx.uploadFile might type
	// anyhow: the stored type is the pinned x-oss-content-type.
	resp := postSigned(t, b, signed, "text/html", ossPNG, nil)
	if code := ossErrorCode(t, resp); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST upload: %d %q; want 204", resp.StatusCode, code)
	}
	info, head, err := c.Peek(ctx, "uploads/u1/post.png", 8)
	if err != nil || info.Size != int64(len(ossPNG)) || info.ContentType != "image/png" || info.StorageClass != storage.StandardClass ||
		info.ETag != strings.Trim(b.etagOf(ossPNG), `"`) || !bytes.Equal(head, ossPNG[:8]) {
		t.Errorf("Peek of the POST upload: %+v %q, %v; want %d bytes, image/png, STANDARD, its ETag, the first 8 bytes",
			info, head, err, len(ossPNG))
	}

	// Upload by PUT.
	signedPut, err := c.SignUpload(ctx, productionSpec("uploads/u1/put.png", now))
	if err != nil || signedPut.PutURL == "" {
		t.Fatalf("SignUpload with a size: %+v, %v; want a PUT URL", signedPut, err)
	}
	resp = putSigned(t, signedPut, ossPNG, nil)
	if code := ossErrorCode(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT upload: %d %q; want 200", resp.StatusCode, code)
	}
	if info, _, err := c.Peek(ctx, "uploads/u1/put.png", 100); err != nil || info.Size != int64(len(ossPNG)) || info.ContentType != "image/png" {
		t.Errorf("Peek of the PUT upload: %+v, %v", info, err)
	}
	// Both uploads are private: staged bytes nobody has checked.
	for _, key := range []string{"uploads/u1/post.png", "uploads/u1/put.png"} {
		resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(key), nil))
		if code := ossErrorCode(t, resp); resp.StatusCode != http.StatusForbidden || code != "AccessDenied" {
			t.Errorf("anonymous GET of %s: %d %q; want 403 AccessDenied", key, resp.StatusCode, code)
		}
	}

	// The service writes the avatar itself, naming no ACL: public under
	// avatars/ by the bucket's policy, with its type and Cache-Control.
	const avatar = "avatars/u1/a.png"
	if err := c.Put(ctx, avatar, ossPNG, storage.PutSpec{ContentType: "image/png", CacheControl: "public, max-age=31536000"}); err != nil {
		t.Fatalf("Put (the SDK checks the CRC-64 the server answers): %v", err)
	}
	resp = testutil.Do(t, testutil.MustRequest(t, http.MethodGet, c.ObjectURL(avatar), nil))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, ossPNG) || resp.Header.Get("Content-Type") != "image/png" ||
		resp.Header.Get("Cache-Control") != "public, max-age=31536000" {
		t.Errorf("anonymous GET of the avatar: %d, %d bytes, %q, %q; want 200, the bytes, image/png, a year's Cache-Control",
			resp.StatusCode, len(got), resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	// An empty object: OSS answers Peek's standard range with 416. (Written
	// by the SDK without a signed Content-Length: Go sends an empty body
	// chunked, with no Content-Length to match one signed.)
	sdk := b.ossClient(t, cred, ossClientOptions{})
	if _, err := sdk.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr("avatars/empty"),
		Body: bytes.NewReader(nil)}); err != nil {
		t.Fatal(err)
	}
	if info, head, err := c.Peek(ctx, "avatars/empty", 8); err != nil || info.Size != 0 || len(head) != 0 {
		t.Errorf("Peek of an empty object: %+v %q, %v; want size 0, no bytes", info, head, err)
	}
	// An archived object is not read.
	if _, err := sdk.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucketName),
		Key: oss.Ptr("uploads/archived.png"), Body: bytes.NewReader(ossPNG), StorageClass: oss.StorageClassArchive}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Peek(ctx, "uploads/archived.png", 8); !errors.Is(err, storage.ErrArchived) {
		t.Errorf("Peek of an Archive object: %v; want ErrArchived", err)
	}
	for _, key := range []string{avatar, avatar} { // the second: already gone, still success
		if err := c.Delete(ctx, key); err != nil {
			t.Errorf("Delete %s: %v", key, err)
		}
	}
	if _, _, err := c.Peek(ctx, avatar, 8); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Peek after Delete: %v; want ErrNotFound", err)
	}
	b.assertNoTempFiles(t)
}

// TestOSSProductionHostileUploads: what a client holding the service's
// signatures might try. Every change the signature pins is refused with
// OSS's code and stores nothing; the changes OSS itself takes unchecked
// (form fields no condition names, the file part's own type) store only
// what the service reads back as a private staging object.
func TestOSSProductionHostileUploads(t *testing.T) {
	b := newOSSBucket(t, Config{PublicPrefixes: []string{"avatars/"}})
	c := productionOSSClient(t, b, testCredentials)
	ctx := context.Background()
	now := time.Now()
	const key = "uploads/u1/up1.png"
	signed, err := c.SignUpload(ctx, productionSpec(key, now))
	if err != nil {
		t.Fatal(err)
	}
	set := func(name, value string) func(map[string]string) {
		return func(f map[string]string) { f[name] = value }
	}
	for _, tt := range []struct {
		name       string
		edit       func(map[string]string)
		data       []byte
		wantStatus int
		wantCode   string
	}{
		{"another content type", func(f map[string]string) { f["Content-Type"], f["x-oss-content-type"] = "text/html", "text/html" }, ossPNG, 403, "AccessDenied"},
		{"x-oss-content-type left out", func(f map[string]string) { delete(f, "x-oss-content-type") }, ossPNG, 403, "AccessDenied"},
		{"one byte more than allowed", nil, bytes.Repeat([]byte{7}, 101), 400, "EntityTooLarge"},
		{"empty", nil, []byte{}, 400, "EntityTooSmall"},
		{"another key", set("key", "avatars/u1/a.png"), ossPNG, 403, "AccessDenied"},
		{"${filename} as the key", set("key", "uploads/u1/${filename}"), ossPNG, 403, "AccessDenied"},
		{"x-oss-object-acl public-read", set("x-oss-object-acl", "public-read"), ossPNG, 403, "AccessDenied"},
		{"x-oss-storage-class Archive", set("x-oss-storage-class", "Archive"), ossPNG, 403, "AccessDenied"},
		{"success_action_status 201", set("success_action_status", "201"), ossPNG, 403, "AccessDenied"},
		{"a token the key does not have", set("x-oss-security-token", "sts-token"), ossPNG, 403, "InvalidSecurityToken"},
		{"a signature over another policy", set("x-oss-signature", strings.Repeat("0", 64)), ossPNG, 403, "SignatureDoesNotMatch"},
	} {
		resp := postSigned(t, b, signed, "image/png", tt.data, tt.edit)
		if code := ossErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("POST, %s: %d %q; want %d %q", tt.name, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
	for _, k := range []string{key, "avatars/u1/a.png", "uploads/u1/avatar.png"} {
		if _, _, err := c.Peek(ctx, k, 1); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s after refused forms: %v; want nothing stored", k, err)
		}
	}

	// What OSS takes unchecked: a text/html file part, an x-oss-meta-*,
	// Cache-Control or Content-Disposition field no condition names. The
	// object is still the private staging object of the pinned type: no one
	// can read it anonymously, and the avatar is a new object written with
	// only the service's own metadata.
	resp := postSigned(t, b, signed, "text/html", ossPNG, func(f map[string]string) {
		f["x-oss-meta-owner"], f["Cache-Control"], f["Content-Disposition"] = "mallory", "max-age=31536000", "attachment"
	})
	if code := ossErrorCode(t, resp); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST with unpinned fields: %d %q; want 204 (OSS checks only what the policy names)", resp.StatusCode, code)
	}
	if info, _, err := c.Peek(ctx, key, 8); err != nil || info.ContentType != "image/png" || info.StorageClass != storage.StandardClass {
		t.Errorf("Peek of the upload: %+v, %v; want image/png, STANDARD", info, err)
	}
	resp = testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(key), nil))
	if code := ossErrorCode(t, resp); resp.StatusCode != http.StatusForbidden || code != "AccessDenied" {
		t.Errorf("anonymous GET of the upload: %d %q; want 403 AccessDenied", resp.StatusCode, code)
	}

	// The presigned PUT.
	putKey := "uploads/u1/up2.png"
	signedPut, err := c.SignUpload(ctx, productionSpec(putKey, now))
	if err != nil {
		t.Fatal(err)
	}
	header := func(name, value string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set(name, value) }
	}
	for _, tt := range []struct {
		name       string
		data       []byte
		edit       func(*http.Request)
		wantStatus int
		wantCode   string
	}{
		{"another content type", ossPNG, header("Content-Type", "text/html"), 403, "SignatureDoesNotMatch"},
		{"one byte more", append(slices.Clone(ossPNG), 7), nil, 403, "SignatureDoesNotMatch"},
		{"one byte less", ossPNG[1:], nil, 403, "SignatureDoesNotMatch"},
		{"another key", ossPNG, func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "up2", "up3", 1) }, 403, "SignatureDoesNotMatch"},
		{"another host name for the server", ossPNG, func(r *http.Request) { r.Host = strings.Replace(r.URL.Host, "127.0.0.1", "localhost", 1) }, 403, "SignatureDoesNotMatch"},
		{"x-oss-object-acl public-read", ossPNG, header("x-oss-object-acl", "public-read"), 403, "SignatureDoesNotMatch"},
		{"x-oss-storage-class Archive", ossPNG, header("x-oss-storage-class", "Archive"), 403, "SignatureDoesNotMatch"},
		{"x-oss-meta-owner added", ossPNG, header("x-oss-meta-owner", "mallory"), 403, "SignatureDoesNotMatch"},
		{"x-oss-forbid-overwrite added", ossPNG, header("x-oss-forbid-overwrite", "true"), 403, "SignatureDoesNotMatch"},
		{"Cache-Control added", ossPNG, header("Cache-Control", "max-age=31536000"), 403, "AccessDenied"},
		{"Content-Encoding added", ossPNG, header("Content-Encoding", "gzip"), 403, "AccessDenied"},
	} {
		resp := putSigned(t, signedPut, tt.data, tt.edit)
		if code := ossErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("PUT, %s: %d %q; want %d %q", tt.name, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
	for _, k := range []string{putKey, "uploads/u1/up3.png"} {
		if _, _, err := c.Peek(ctx, k, 1); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s after refused PUTs: %v; want nothing stored", k, err)
		}
	}

	// Expired: the same signatures sent to a server whose clock has passed
	// their end.
	later := newOSSBucket(t, Config{Now: func() time.Time { return now.Add(11 * time.Minute) }})
	lc := productionOSSClient(t, later, testCredentials)
	expired, err := lc.SignUpload(ctx, productionSpec(key, now))
	if err != nil {
		t.Fatal(err)
	}
	resp = postSigned(t, later, expired, "image/png", ossPNG, nil)
	if code := ossErrorCode(t, resp); resp.StatusCode != 403 || code != "AccessDenied" {
		t.Errorf("POST after expiry: %d %q; want 403 AccessDenied", resp.StatusCode, code)
	}
	resp = putSigned(t, expired, ossPNG, nil)
	if code := ossErrorCode(t, resp); resp.StatusCode != 403 || code != "AccessDenied" {
		t.Errorf("PUT after expiry: %d %q; want 403 AccessDenied", resp.StatusCode, code)
	}
	b.assertNoTempFiles(t)
	later.assertNoTempFiles(t)
}
