package localcos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"
	"github.com/wxavatar/wxavatar/internal/testutil"
)

// What the local server stores with an object besides its bytes (ACL,
// storage class, metadata), how it serves them, and what a copy keeps.

// anonymous GETs or HEADs key without a signature: status and COS code.
func (b *testBucket) anonymous(t *testing.T, method, key string) (int, string, http.Header) {
	t.Helper()
	resp := testutil.Do(t, testutil.MustRequest(t, method, b.srv.URL+"/"+key, nil))
	return resp.StatusCode, testutil.COSErrorCode(t, resp), resp.Header
}

func putWith(t *testing.T, c *cos.Client, key string, acl *cos.ACLHeaderOptions, h *cos.ObjectPutHeaderOptions) error {
	t.Helper()
	if h == nil {
		h = &cos.ObjectPutHeaderOptions{}
	}
	if h.ContentType == "" {
		h.ContentType = "image/png"
	}
	_, err := c.Object.Put(context.Background(), key, strings.NewReader("png bytes"),
		&cos.ObjectPutOptions{ACLHeaderOptions: acl, ObjectPutHeaderOptions: h})
	return err
}

// TestLocalServerObjectACL: a private object is read only with a signature;
// default (inherit the public-read bucket) and public-read objects by anyone.
func TestLocalServerObjectACL(t *testing.T) {
	b := newTestBucket(t, Config{})
	c := b.client(testCredentials)
	ctx := context.Background()
	for _, tt := range []struct {
		acl        string
		wantStatus int
		wantCode   string
	}{
		{"", 200, ""},
		{"default", 200, ""},
		{"public-read", 200, ""},
		{"private", 403, "AccessDenied"},
	} {
		t.Run("x-cos-acl "+tt.acl, func(t *testing.T) {
			key := "acl/" + tt.acl + ".png"
			if err := putWith(t, c, key, &cos.ACLHeaderOptions{XCosACL: tt.acl}, nil); err != nil {
				t.Fatal(err)
			}
			if status, code, _ := b.anonymous(t, http.MethodGet, key); status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("anonymous GET: %d %q; want %d %q", status, code, tt.wantStatus, tt.wantCode)
			}
			if status, _, _ := b.anonymous(t, http.MethodHead, key); status != tt.wantStatus {
				t.Errorf("anonymous HEAD: %d; want %d", status, tt.wantStatus)
			}
			// The owner's signed reads always work.
			resp, err := c.Object.Get(ctx, key, nil)
			if err != nil {
				t.Fatalf("signed GET: %v", err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != "png bytes" {
				t.Errorf("signed GET: %q; want the bytes put", got)
			}
			if _, err := c.Object.Head(ctx, key, nil); err != nil {
				t.Errorf("signed HEAD: %v", err)
			}
		})
	}
	// A missing key is missing, private or not.
	if status, code, _ := b.anonymous(t, http.MethodGet, "acl/none.png"); status != 404 || code != "NoSuchKey" {
		t.Errorf("anonymous GET of a missing key: %d %q; want 404 NoSuchKey", status, code)
	}
	err := putWith(t, c, "acl/bad.png", &cos.ACLHeaderOptions{XCosACL: "public-read-write"}, nil)
	if code, status := cosCode(t, err); code != "InvalidArgument" || status != 400 {
		t.Errorf("x-cos-acl public-read-write: %d %q; want 400 InvalidArgument", status, code)
	}

	// A copy gets the ACL its request names, by default the bucket's: never
	// the source's.
	src := b.url.Host + "/acl/private.png"
	for _, tt := range []struct {
		acl        string
		wantStatus int
	}{{"", 200}, {"private", 403}, {"public-read", 200}} {
		opt := &cos.ObjectCopyOptions{ACLHeaderOptions: &cos.ACLHeaderOptions{XCosACL: tt.acl}}
		if _, _, err := c.Object.Copy(ctx, "acl/copy.png", src, opt); err != nil {
			t.Fatalf("copy with x-cos-acl %q: %v", tt.acl, err)
		}
		if status, _, _ := b.anonymous(t, http.MethodGet, "acl/copy.png"); status != tt.wantStatus {
			t.Errorf("copy of a private object with x-cos-acl %q: anonymous GET %d; want %d", tt.acl, status, tt.wantStatus)
		}
	}
}

// TestLocalServerStorageClass: the class a write names is stored, and GET
// and HEAD report it in x-cos-storage-class only when it is not STANDARD,
// as COS documents; archived objects cannot be read or copied; a copy is
// STANDARD unless its request names another class.
func TestLocalServerStorageClass(t *testing.T) {
	b := newTestBucket(t, Config{})
	c := b.client(testCredentials)
	ctx := context.Background()
	// classOf is the x-cos-storage-class HEAD reports for key.
	classOf := func(key string) string {
		t.Helper()
		head, err := c.Object.Head(ctx, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		return head.Header.Get("x-cos-storage-class")
	}
	for _, tt := range []struct {
		class, wantHeader string
		wantGet           int
		wantCode          string
	}{
		{"", "", 200, ""},
		{"STANDARD", "", 200, ""},
		{"STANDARD_IA", "STANDARD_IA", 200, ""},
		{"INTELLIGENT_TIERING", "INTELLIGENT_TIERING", 200, ""},
		{"ARCHIVE", "ARCHIVE", 403, "InvalidObjectState"},
		{"DEEP_ARCHIVE", "DEEP_ARCHIVE", 403, "InvalidObjectState"},
	} {
		t.Run("class "+tt.class, func(t *testing.T) {
			key := "class/" + tt.class + ".png"
			if err := putWith(t, c, key, nil, &cos.ObjectPutHeaderOptions{XCosStorageClass: tt.class}); err != nil {
				t.Fatal(err)
			}
			head, err := c.Object.Head(ctx, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := head.Header.Values("x-cos-storage-class"); strings.Join(got, ",") != tt.wantHeader {
				t.Errorf("HEAD x-cos-storage-class: %q; want %q", got, tt.wantHeader)
			}
			status, code, h := b.anonymous(t, http.MethodGet, key)
			if status != tt.wantGet || code != tt.wantCode {
				t.Errorf("GET: %d %q; want %d %q", status, code, tt.wantGet, tt.wantCode)
			}
			if status == 200 && h.Get("x-cos-storage-class") != tt.wantHeader {
				t.Errorf("GET x-cos-storage-class: %q; want %q", h.Get("x-cos-storage-class"), tt.wantHeader)
			}
			_, _, err = c.Object.Copy(ctx, "class/copy.png", b.url.Host+"/"+key, nil)
			if tt.wantGet != 200 {
				if code, status := cosCode(t, err); code != "InvalidObjectState" || status != 403 {
					t.Errorf("copy of an archived object: %d %q; want 403 InvalidObjectState", status, code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := classOf("class/copy.png"); got != "" {
				t.Errorf("copy of a %s object: x-cos-storage-class %q; want none (STANDARD)", tt.class, got)
			}
		})
	}
	err := putWith(t, c, "class/bad.png", nil, &cos.ObjectPutHeaderOptions{XCosStorageClass: "GLACIER"})
	if code, status := cosCode(t, err); code != "NotSupportedStorageClass" || status != 400 {
		t.Errorf("x-cos-storage-class GLACIER: %d %q; want 400 NotSupportedStorageClass", status, code)
	}
	opt := &cos.ObjectCopyOptions{ObjectCopyHeaderOptions: &cos.ObjectCopyHeaderOptions{XCosStorageClass: "STANDARD_IA"}}
	if _, _, err := c.Object.Copy(ctx, "class/copy.png", b.url.Host+"/class/.png", opt); err != nil {
		t.Fatal(err)
	}
	if got := classOf("class/copy.png"); got != "STANDARD_IA" {
		t.Errorf("copy naming STANDARD_IA: x-cos-storage-class %q; want STANDARD_IA", got)
	}
}

// TestLocalServerCopyMetadata: with x-cos-metadata-directive Copy a copy
// keeps every piece of the source's metadata; with Replaced it has only what
// the copy request sets. The copy the service requests (storage's Client.Copy)
// replaces: an avatar never carries what its uploader set.
func TestLocalServerCopyMetadata(t *testing.T) {
	b := newTestBucket(t, Config{})
	c := b.client(testCredentials)
	ctx := context.Background()
	meta := http.Header{}
	meta.Set("x-cos-meta-owner", "mallory")
	uploaded := map[string]string{
		"Content-Type":        "image/png",
		"Cache-Control":       "public, max-age=31536000",
		"Content-Disposition": `attachment; filename="evil.html"`,
		"Content-Encoding":    "gzip",
		"Expires":             "Thu, 01 Jan 2099 00:00:00 GMT",
		"X-Cos-Meta-Owner":    "mallory",
	}
	err := putWith(t, c, "meta/src.png", &cos.ACLHeaderOptions{XCosACL: "private"}, &cos.ObjectPutHeaderOptions{
		CacheControl: uploaded["Cache-Control"], ContentDisposition: uploaded["Content-Disposition"],
		ContentEncoding: uploaded["Content-Encoding"], Expires: uploaded["Expires"], XCosMetaXXX: &meta,
		XCosStorageClass: "STANDARD_IA",
	})
	if err != nil {
		t.Fatal(err)
	}
	served := func(key string) http.Header {
		t.Helper()
		resp, err := c.Object.Head(ctx, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header
	}
	src := served("meta/src.png")
	for name, want := range uploaded {
		if got := src.Get(name); got != want {
			t.Errorf("source %s: %q; want %q", name, got, want)
		}
	}

	source := b.url.Host + "/meta/src.png"
	if _, _, err := c.Object.Copy(ctx, "meta/kept.png", source, nil); err != nil {
		t.Fatal(err)
	}
	kept := served("meta/kept.png")
	for name, want := range uploaded {
		if got := kept.Get(name); got != want {
			t.Errorf("copy with directive Copy: %s %q; want the source's %q", name, got, want)
		}
	}
	if got := kept.Get("x-cos-storage-class"); got != "" {
		t.Errorf("copy with directive Copy: storage class %q; want STANDARD, not the source's", got)
	}

	opt := &cos.ObjectCopyOptions{ObjectCopyHeaderOptions: &cos.ObjectCopyHeaderOptions{
		XCosMetadataDirective: "Replaced", ContentType: "image/webp"}}
	if _, _, err := c.Object.Copy(ctx, "meta/replaced.png", source, opt); err != nil {
		t.Fatal(err)
	}
	replaced := served("meta/replaced.png")
	if got := replaced.Get("Content-Type"); got != "image/webp" {
		t.Errorf("copy with directive Replaced: Content-Type %q; want image/webp", got)
	}
	for name := range uploaded {
		if got := replaced.Get(name); name != "Content-Type" && got != "" {
			t.Errorf("copy with directive Replaced: %s %q; want none", name, got)
		}
	}

	// A copy as the service's confirm requests it (package storage,
	// Client.Copy): Replaced, its own Content-Type and Cache-Control,
	// STANDARD, the source's ETag, and no ACL.
	spec := cos.ObjectCopyHeaderOptions{
		XCosMetadataDirective: "Replaced", ContentType: "image/png", CacheControl: "public, max-age=31536000, immutable",
		XCosStorageClass: "STANDARD", XCosCopySourceIfMatch: src.Get("ETag"),
	}
	if _, _, err := c.Object.Copy(ctx, "meta/avatar.png", source, &cos.ObjectCopyOptions{ObjectCopyHeaderOptions: &spec}); err != nil {
		t.Fatal(err)
	}
	status, code, h := b.anonymous(t, http.MethodGet, "meta/avatar.png")
	if status != 200 {
		t.Fatalf("anonymous GET of the avatar: %d %q; want 200 (the bucket's ACL, not the source's)", status, code)
	}
	want := map[string]string{"Content-Type": spec.ContentType, "Cache-Control": spec.CacheControl}
	for name := range uploaded {
		if got := h.Get(name); got != want[name] {
			t.Errorf("avatar %s: %q; want %q", name, got, want[name])
		}
	}
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "x-cos-meta-") || strings.EqualFold(name, "x-cos-storage-class") {
			t.Errorf("avatar served with %s: %q; want no such header", name, h.Get(name))
		}
	}

	// COS limits user metadata to 2 KB.
	big := http.Header{}
	big.Set("x-cos-meta-big", strings.Repeat("x", 2049))
	err = putWith(t, c, "meta/big.png", nil, &cos.ObjectPutHeaderOptions{XCosMetaXXX: &big})
	if code, status := cosCode(t, err); code != "MetadataTooLarge" || status != 400 {
		t.Errorf("3 KB of x-cos-meta-*: %d %q; want 400 MetadataTooLarge", status, code)
	}
}

// TestLocalServerPostStoresAttributes: a form's acl, x-cos-storage-class and
// metadata fields, once a policy covers them, are stored as a PUT's headers
// are.
func TestLocalServerPostStoresAttributes(t *testing.T) {
	now := time.Now()
	b := newTestBucket(t, Config{})
	keyTime := fmt.Sprintf("%d;%d", now.Add(-time.Minute).Unix(), now.Add(10*time.Minute).Unix())
	fields := []formField{{"key", "post/attrs.png"}, {"Content-Type", "image/png"}, {"acl", "private"},
		{"x-cos-storage-class", "STANDARD_IA"}, {"Content-Disposition", "inline"}, {"x-cos-meta-owner", "u1"}}
	conditions := []any{}
	for _, f := range fields {
		conditions = append(conditions, []string{"eq", "$" + f.name, f.value})
	}
	fields = append(fields, signedPostForm(t, testCredentials, keyTime, now.Add(10*time.Minute), conditions...)...)
	resp := b.postForm(t, fields, "attrs.png", []byte("png bytes"))
	if code := testutil.COSErrorCode(t, resp); resp.StatusCode != 204 {
		t.Fatalf("POST: %d %q; want 204", resp.StatusCode, code)
	}
	if status, code, _ := b.anonymous(t, http.MethodGet, "post/attrs.png"); status != 403 || code != "AccessDenied" {
		t.Errorf("anonymous GET of a private upload: %d %q; want 403 AccessDenied", status, code)
	}
	head, err := b.client(testCredentials).Object.Head(context.Background(), "post/attrs.png", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"x-cos-storage-class": "STANDARD_IA", "Content-Disposition": "inline",
		"x-cos-meta-owner": "u1", "Content-Type": "image/png"} {
		if got := head.Header.Get(name); got != want {
			t.Errorf("HEAD %s: %q; want %q", name, got, want)
		}
	}
}
