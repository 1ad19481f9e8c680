package cos_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/wxavatar/wxavatar/internal/testutil"
	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
)

// What the client reads of an object's storage class, and what its Put
// keeps of the attributes of an object it replaces. (What the local server stores and serves
// for each attribute is tested in package localcos.)

func putWith(t *testing.T, c *cossdk.Client, key string, acl *cossdk.ACLHeaderOptions, h *cossdk.ObjectPutHeaderOptions) error {
	t.Helper()
	if h == nil {
		h = &cossdk.ObjectPutHeaderOptions{}
	}
	if h.ContentType == "" {
		h.ContentType = "image/png"
	}
	_, err := c.Object.Put(context.Background(), key, strings.NewReader("png bytes"),
		&cossdk.ObjectPutOptions{ACLHeaderOptions: acl, ObjectPutHeaderOptions: h})
	return err
}

// TestClientPeekStorageClass: Peek reports the class an object is stored in,
// STANDARD when the server names none, and ErrArchived for an archived
// object; Put writes STANDARD, whatever class the key held.
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
			if err := putWith(t, c, key, nil, &cossdk.ObjectPutHeaderOptions{XCosStorageClass: tt.class}); err != nil {
				t.Fatal(err)
			}
			info, _, err := client.Peek(ctx, key, 4)
			switch {
			case tt.archived && !errors.Is(err, storage.ErrArchived):
				t.Errorf("Peek of an archived object: %+v, %v; want ErrArchived", info, err)
			case !tt.archived && (err != nil || info.StorageClass != tt.wantClass):
				t.Errorf("Peek: %+v, %v; want StorageClass %q", info, err, tt.wantClass)
			}
			if err := client.Put(ctx, key, []byte("png bytes"), storage.PutSpec{ContentType: "image/png"}); err != nil {
				t.Fatal(err)
			}
			if info, _, err := client.Peek(ctx, key, 4); err != nil || info.StorageClass != "STANDARD" {
				t.Errorf("Put over a %s object: %+v, %v; want STANDARD", tt.class, info, err)
			}
		})
	}
}

// TestClientPutReplacesMetadata: Client.Put over an object keeps nothing of
// it: the new object is public (the bucket's ACL, not the private one the old
// object had), STANDARD, and served with only the Content-Type and
// Cache-Control the Put names, whatever headers the old one was stored with.
func TestClientPutReplacesMetadata(t *testing.T) {
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
	err := putWith(t, c, "meta/avatar", &cossdk.ACLHeaderOptions{XCosACL: "private"}, &cossdk.ObjectPutHeaderOptions{
		CacheControl: uploaded["Cache-Control"], ContentDisposition: uploaded["Content-Disposition"],
		ContentEncoding: uploaded["Content-Encoding"], Expires: uploaded["Expires"], XCosMetaXXX: &meta,
		XCosStorageClass: "STANDARD_IA",
	})
	if err != nil {
		t.Fatal(err)
	}

	spec := storage.PutSpec{ContentType: "image/jpeg", CacheControl: "public, max-age=31536000, immutable"}
	if err := client.Put(ctx, "meta/avatar", []byte("jpeg bytes"), spec); err != nil {
		t.Fatal(err)
	}
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.srv.URL+"/meta/avatar", nil))
	status, code, h := resp.StatusCode, testutil.COSErrorCode(t, resp), resp.Header
	if status != 200 {
		t.Fatalf("anonymous GET of the avatar: %d %q; want 200 (the bucket's ACL, not the old object's)", status, code)
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
