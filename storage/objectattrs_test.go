package storage_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	cos "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/wxavatar/wxavatar/internal/testutil"
	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
)

// What the client reads of an object's storage class, and what its copy
// keeps of the source's attributes. (What the local server stores and serves
// for each attribute is tested in package localcos.)

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

// TestClientPeekStorageClass: Peek reports the class an object is stored in,
// STANDARD when the server names none, and ErrArchived for an archived
// object; a copy is STANDARD unless its request names another class.
func TestClientPeekStorageClass(t *testing.T) {
	b := newTestBucket(t, localcos.Config{})
	c := b.client(testCredentials)
	client := newClientFor(t, b, testCredentials)
	ctx := context.Background()
	for _, tt := range []struct {
		class, wantClass string
		archived         bool
	}{
		{"", "STANDARD", false},
		{"STANDARD", "STANDARD", false},
		{"STANDARD_IA", "STANDARD_IA", false},
		{"INTELLIGENT_TIERING", "INTELLIGENT_TIERING", false},
		{"ARCHIVE", "", true},
		{"DEEP_ARCHIVE", "", true},
	} {
		t.Run("class "+tt.class, func(t *testing.T) {
			key := "class/" + tt.class + ".png"
			if err := putWith(t, c, key, nil, &cos.ObjectPutHeaderOptions{XCosStorageClass: tt.class}); err != nil {
				t.Fatal(err)
			}
			info, _, err := client.Peek(ctx, key, 4)
			switch {
			case tt.archived:
				if !errors.Is(err, storage.ErrArchived) {
					t.Errorf("Peek of an archived object: %+v, %v; want ErrArchived", info, err)
				}
				return
			case err != nil || info.StorageClass != tt.wantClass:
				t.Errorf("Peek: %+v, %v; want StorageClass %q", info, err, tt.wantClass)
			}
			if _, _, err := c.Object.Copy(ctx, "class/copy.png", b.url.Host+"/"+key, nil); err != nil {
				t.Fatal(err)
			}
			if info, _, err := client.Peek(ctx, "class/copy.png", 4); err != nil || info.StorageClass != "STANDARD" {
				t.Errorf("copy of a %s object: %+v, %v; want STANDARD", tt.class, info, err)
			}
		})
	}
	opt := &cos.ObjectCopyOptions{ObjectCopyHeaderOptions: &cos.ObjectCopyHeaderOptions{XCosStorageClass: "STANDARD_IA"}}
	if _, _, err := c.Object.Copy(ctx, "class/copy.png", b.url.Host+"/class/.png", opt); err != nil {
		t.Fatal(err)
	}
	if info, _, err := client.Peek(ctx, "class/copy.png", 4); err != nil || info.StorageClass != "STANDARD_IA" {
		t.Errorf("copy naming STANDARD_IA: %+v, %v; want STANDARD_IA", info, err)
	}
}

// TestClientCopyReplacesMetadata: Client.Copy, as confirm makes it, keeps
// nothing the uploader set but the bytes: the copy is public (the bucket's
// ACL, not the private source's), STANDARD, and served with only the
// Content-Type and Cache-Control the copy names.
func TestClientCopyReplacesMetadata(t *testing.T) {
	b := newTestBucket(t, localcos.Config{})
	c := b.client(testCredentials)
	client := newClientFor(t, b, testCredentials)
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

	info, _, err := client.Peek(ctx, "meta/src.png", 4)
	if err != nil {
		t.Fatal(err)
	}
	spec := storage.CopySpec{IfMatch: info.ETag, ContentType: "image/png", CacheControl: "public, max-age=31536000, immutable"}
	if err := client.Copy(ctx, "meta/src.png", "meta/avatar.png", spec); err != nil {
		t.Fatal(err)
	}
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.srv.URL+"/meta/avatar.png", nil))
	status, code, h := resp.StatusCode, testutil.COSErrorCode(t, resp), resp.Header
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
}
