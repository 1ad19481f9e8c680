package s3_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/s3"
)

// The client against the local object server in its S3 mode (package
// localcos), whose SigV4 verifier is its own reading of AWS's documentation,
// checked against AWS's worked examples and sharing no code with minio-go:
// signatures made here are uploaded as a mini program would upload them,
// with plain net/http, and the service's own calls go through minio-go.

// localBucket is the local object server in S3 mode behind a loopback HTTP
// server, with the accepted keys and its clock adjustable.
type localBucket struct {
	url   *url.URL
	creds atomic.Pointer[[]storage.Credentials]
	skew  atomic.Int64 // nanoseconds added to the server's clock
}

func newLocalBucket(t *testing.T, creds ...storage.Credentials) *localBucket {
	t.Helper()
	b := &localBucket{}
	b.creds.Store(&creds)
	srv, err := localcos.New(localcos.Config{Protocol: localcos.ProtocolS3, Dir: t.TempDir(), Bucket: testBucket, Region: testRegion,
		Credentials: func() []localcos.Key {
			var keys []localcos.Key
			for _, c := range *b.creds.Load() {
				keys = append(keys, localcos.Key{SecretID: c.SecretID, SecretKey: c.SecretKey, SessionToken: c.SessionToken})
			}
			return keys
		},
		Now: func() time.Time { return time.Now().Add(time.Duration(b.skew.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b.url = mustParse(t, hs.URL)
	return b
}

func newLocalClient(t *testing.T, b *localBucket, cred storage.Credentials) *s3.Client {
	t.Helper()
	c, err := s3.New(s3.Config{Endpoint: b.url, Bucket: testBucket, Region: testRegion, PathStyle: true, PostPolicy: true,
		Credentials: cred, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// postForm uploads data with the signed form as wx.uploadFile does: the
// form's fields as given (edited by edit, if not nil), then the file as
// "file".
func postForm(t *testing.T, s storage.SignedUpload, data []byte, edit func(map[string]string)) *http.Response {
	t.Helper()
	form := maps.Clone(s.PostForm)
	if edit != nil {
		edit(form)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, k := range slices.Sorted(maps.Keys(form)) {
		mw.WriteField(k, form[k])
	}
	fw, _ := mw.CreateFormFile("file", "tmp_avatar.png")
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(s.PostURL, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// putSigned uploads data with the signed PUT as wx.request does: the URL,
// the headers as given (edited by edit, if not nil), the body.
func putSigned(t *testing.T, s storage.SignedUpload, body io.Reader, edit func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, s.PutURL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s.PutHeaders {
		if k != "Content-Length" { // net/http sends the body's length
			req.Header.Set(k, v)
		}
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// s3Answer is an answer's status and S3 error code ("" on success).
func s3Answer(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode < 300 {
		return resp.StatusCode, ""
	}
	var doc struct{ Code string }
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("status %d with a body that is not S3's error document: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, doc.Code
}

// TestRoundTripAgainstLocalServer: sign with the client, upload by POST and
// by PUT as a mini program would, read the upload back with Peek, write an
// avatar with Put and read it back signed and anonymously, delete both; with
// permanent and temporary keys.
func TestRoundTripAgainstLocalServer(t *testing.T) {
	for name, cred := range map[string]storage.Credentials{"permanent": testCredentials, "sts": stsCredentials} {
		t.Run(name, func(t *testing.T) {
			b := newLocalBucket(t, cred)
			c := newLocalClient(t, b, cred)
			ctx := context.Background()
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			uploads := map[string]func(storage.SignedUpload) *http.Response{
				"POST": func(s storage.SignedUpload) *http.Response { return postForm(t, s, pngBytes, nil) },
				"PUT":  func(s storage.SignedUpload) *http.Response { return putSigned(t, s, bytes.NewReader(pngBytes), nil) },
			}
			wantStatus := map[string]int{"POST": http.StatusNoContent, "PUT": http.StatusOK}
			for how, upload := range uploads {
				key := "uploads/u1/" + how + " (1).png"
				s, err := c.SignUpload(ctx, uploadSpec(key, int64(len(pngBytes))))
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Peek(ctx, key, 8); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("Peek before the upload: %v; want ErrNotFound", err)
				}
				if status, code := s3Answer(t, upload(s)); status != wantStatus[how] {
					t.Fatalf("%s upload: %d %s; want %d", how, status, code, wantStatus[how])
				}
				info, head, err := c.Peek(ctx, key, 8)
				if err != nil || info.Size != int64(len(pngBytes)) || info.ContentType != "image/png" || info.ETag == "" ||
					info.StorageClass != storage.StandardClass || !bytes.Equal(head, pngBytes[:8]) {
					t.Fatalf("Peek after the %s upload = %+v, %q, %v; want %d bytes, image/png, an ETag, STANDARD", how, info, head, err, len(pngBytes))
				}
				avatar := "avatars/u1/" + how + "/avatar"
				checkLocalPut(t, c, avatar)
				for _, k := range []string{key, avatar} {
					if err := c.Delete(ctx, k); err != nil {
						t.Fatalf("Delete(%s): %v", k, err)
					}
					if err := c.Delete(ctx, k); err != nil {
						t.Errorf("deleting the missing %s: %v; want nil", k, err)
					}
					if _, _, err := c.Peek(ctx, k, 8); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("Peek(%s) after Delete: %v; want ErrNotFound", k, err)
					}
				}
			}
			// An empty object: S3 answers 416 to any range.
			if err := c.Put(ctx, "uploads/empty", nil, storage.PutSpec{ContentType: "image/png"}); err != nil {
				t.Fatal(err)
			}
			if info, b, err := c.Peek(ctx, "uploads/empty", 8); err != nil || info.Size != 0 || len(b) != 0 {
				t.Errorf("Peek of an empty object = %+v, %q, %v; want Size 0", info, b, err)
			}
		})
	}
}

// checkLocalPut writes two versions of an avatar with Put and reads each
// back: Peek finds the bytes, type and STANDARD; an anonymous GET of its
// ObjectURL the bytes, type and Cache-Control (the local server serves
// objects written without an ACL publicly, as the production bucket's
// policy serves avatars/*).
func checkLocalPut(t *testing.T, c *s3.Client, key string) {
	t.Helper()
	ctx := context.Background()
	for _, v := range []struct {
		data []byte
		spec storage.PutSpec
	}{
		{pngBytes, storage.PutSpec{ContentType: "image/png", CacheControl: "public, max-age=31536000, immutable"}},
		{append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte{3}, 20)...), storage.PutSpec{ContentType: "image/jpeg", CacheControl: "public, max-age=60"}},
	} {
		if err := c.Put(ctx, key, v.data, v.spec); err != nil {
			t.Fatalf("Put(%s): %v", v.spec.ContentType, err)
		}
		info, got, err := c.Peek(ctx, key, len(v.data)+1)
		if err != nil || info.Size != int64(len(v.data)) || info.ContentType != v.spec.ContentType ||
			info.StorageClass != storage.StandardClass || !bytes.Equal(got, v.data) {
			t.Errorf("Peek after Put = %+v, %d bytes, %v; want the %d put, %s, STANDARD", info, len(got), err, len(v.data), v.spec.ContentType)
		}
		resp, err := http.Get(c.ObjectURL(key))
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if h := resp.Header; resp.StatusCode != http.StatusOK || !bytes.Equal(got, v.data) ||
			h.Get("Content-Type") != v.spec.ContentType || h.Get("Cache-Control") != v.spec.CacheControl {
			t.Errorf("anonymous GET after Put: %d, %d bytes, %q, %q; want 200, the %d put, %q, %q", resp.StatusCode, len(got),
				h.Get("Content-Type"), h.Get("Cache-Control"), len(v.data), v.spec.ContentType, v.spec.CacheControl)
		}
	}
}

// TestHostileUploadsAgainstLocalServer: a holder of a valid signature
// cannot store another type, size or key, add an ACL, a class or metadata,
// or upload after the signature expired; the signed upload as given still
// works after every refusal.
func TestHostileUploadsAgainstLocalServer(t *testing.T) {
	b := newLocalBucket(t, stsCredentials)
	c := newLocalClient(t, b, stsCredentials)
	ctx := context.Background()
	key := "uploads/u1/hostile.png"
	s, err := c.SignUpload(ctx, uploadSpec(key, int64(len(pngBytes))))
	if err != nil {
		t.Fatal(err)
	}
	// An avatar larger than the upload allows, for the uploads below to try
	// to copy into the key or to overwrite.
	bigAvatar := bytes.Repeat([]byte{9}, 200)
	if err := c.Put(ctx, "avatars/u1/x/avatar", bigAvatar, storage.PutSpec{ContentType: "image/png"}); err != nil {
		t.Fatal(err)
	}
	field := func(k, v string) func(map[string]string) { return func(f map[string]string) { f[k] = v } }
	for _, tt := range []struct {
		name     string
		data     []byte
		edit     func(map[string]string)
		wantCode string
	}{
		{"another Content-Type", pngBytes, field("Content-Type", "text/html"), "AccessDenied"},
		{"another key", pngBytes, field("key", "avatars/u1/x/avatar"), "AccessDenied"},
		{"x-amz-acl public-read", pngBytes, field("x-amz-acl", "public-read"), "AccessDenied"},
		{"acl public-read", pngBytes, field("acl", "public-read"), "AccessDenied"},
		{"x-amz-storage-class GLACIER", pngBytes, field("x-amz-storage-class", "GLACIER"), "AccessDenied"},
		{"x-amz-meta-foo", pngBytes, field("x-amz-meta-foo", "bar"), "AccessDenied"},
		{"Cache-Control", pngBytes, field("Cache-Control", "public, max-age=31536000"), "AccessDenied"},
		{"success_action_redirect", pngBytes, field("success_action_redirect", "https://evil.example/"), "AccessDenied"},
		{"success_action_status 201", pngBytes, field("success_action_status", "201"), "AccessDenied"},
		{"no policy", pngBytes, func(f map[string]string) { delete(f, "policy") }, "AccessDenied"},
		{"another signature", pngBytes, field("x-amz-signature", strings.Repeat("0", 64)), "SignatureDoesNotMatch"},
		{"one byte over the maximum", bytes.Repeat([]byte{1}, 101), nil, "EntityTooLarge"},
		{"an empty file", nil, nil, "EntityTooSmall"},
	} {
		status, code := s3Answer(t, postForm(t, s, tt.data, tt.edit))
		if status < 400 || code != tt.wantCode {
			t.Errorf("POST with %s: %d %q; want refused with %s", tt.name, status, code, tt.wantCode)
		}
	}
	header := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	for _, tt := range []struct {
		name     string
		body     io.Reader
		edit     func(*http.Request)
		wantCode string
	}{
		{"one byte more", bytes.NewReader(append(slices.Clone(pngBytes), 0)), nil, "SignatureDoesNotMatch"},
		{"one byte less", bytes.NewReader(pngBytes[1:]), nil, "SignatureDoesNotMatch"},
		{"a chunked body", io.MultiReader(bytes.NewReader(pngBytes)), nil, "SignatureDoesNotMatch"},
		{"another Content-Type", bytes.NewReader(pngBytes), header("Content-Type", "text/html"), "SignatureDoesNotMatch"},
		{"x-amz-storage-class GLACIER", bytes.NewReader(pngBytes), header("x-amz-storage-class", "GLACIER"), "SignatureDoesNotMatch"},
		{"no x-amz-storage-class", bytes.NewReader(pngBytes), func(r *http.Request) { r.Header.Del("x-amz-storage-class") }, "SignatureDoesNotMatch"},
		{"an unsigned x-amz-acl", bytes.NewReader(pngBytes), header("x-amz-acl", "public-read"), "AccessDenied"},
		{"an unsigned x-amz-meta-foo", bytes.NewReader(pngBytes), header("x-amz-meta-foo", "bar"), "AccessDenied"},
		{"an unsigned x-amz-tagging", bytes.NewReader(pngBytes), header("x-amz-tagging", "a=b"), "AccessDenied"},
		// Nor does an unsigned x-amz-copy-source turn the PUT into a copy
		// of another object: AWS refuses the unsigned header (MinIO is
		// reported not to: deploy/README.md, "MinIO"); without a body the
		// signed Content-Length no longer matches either.
		{"a copy without a body", http.NoBody, header("x-amz-copy-source", "/"+testBucket+"/avatars/u1/x/avatar"), "SignatureDoesNotMatch"},
		{"a copy with the body", bytes.NewReader(pngBytes), header("x-amz-copy-source", "/"+testBucket+"/avatars/u1/x/avatar"), "AccessDenied"},
		{"another key", bytes.NewReader(pngBytes), func(r *http.Request) { r.URL.Path = "/" + testBucket + "/avatars/u1/x/avatar" }, "SignatureDoesNotMatch"},
		{"an added x-amz-acl parameter", bytes.NewReader(pngBytes), func(r *http.Request) { r.URL.RawQuery += "&x-amz-acl=public-read" }, "SignatureDoesNotMatch"},
	} {
		status, code := s3Answer(t, putSigned(t, s, tt.body, tt.edit))
		if status != http.StatusForbidden || code != tt.wantCode {
			t.Errorf("PUT with %s: %d %q; want 403 %s", tt.name, status, code, tt.wantCode)
		}
	}
	if _, _, err := c.Peek(ctx, key, 8); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after the refused uploads, Peek: %v; want ErrNotFound", err)
	}
	if info, _, err := c.Peek(ctx, "avatars/u1/x/avatar", 8); err != nil || info.Size != int64(len(bigAvatar)) {
		t.Errorf("the avatar after the refused uploads: %+v, %v; want its %d bytes untouched", info, err, len(bigAvatar))
	}

	// Past the signatures' expiry, by the server's clock, both are refused.
	b.skew.Store(int64(11 * time.Minute))
	if status, code := s3Answer(t, postForm(t, s, pngBytes, nil)); status != http.StatusForbidden || code != "AccessDenied" {
		t.Errorf("POST after expiry: %d %q; want 403 AccessDenied", status, code)
	}
	if status, code := s3Answer(t, putSigned(t, s, bytes.NewReader(pngBytes), nil)); status != http.StatusForbidden || code != "AccessDenied" {
		t.Errorf("PUT after expiry: %d %q; want 403 AccessDenied", status, code)
	}
	b.skew.Store(0)

	// As given, both upload.
	if status, code := s3Answer(t, putSigned(t, s, bytes.NewReader(pngBytes), nil)); status != http.StatusOK {
		t.Errorf("the signed PUT as given: %d %q; want 200", status, code)
	}
	if status, code := s3Answer(t, postForm(t, s, pngBytes, nil)); status != http.StatusNoContent {
		t.Errorf("the signed form as given: %d %q; want 204", status, code)
	}
	if info, _, err := c.Peek(ctx, key, 8); err != nil || info.Size != int64(len(pngBytes)) || info.StorageClass != storage.StandardClass {
		t.Errorf("Peek = %+v, %v; want the %d bytes in STANDARD", info, err, len(pngBytes))
	}
}

// TestRotationAgainstLocalServer: a signature made under a pinned context
// before a swap uploads while the store still takes the old key; calls with
// the swapped-in key work, and the retired key is refused once the store
// drops it.
func TestRotationAgainstLocalServer(t *testing.T) {
	next := storage.Credentials{SecretID: "AKIDS3NEXTKEY", SecretKey: "s3-next-secret-key"}
	b := newLocalBucket(t, testCredentials, next)
	c := newLocalClient(t, b, testCredentials)
	ctx := context.Background()
	pinned := c.Pin(ctx)
	if err := c.SetCredentials(next); err != nil {
		t.Fatal(err)
	}
	old, err := c.SignUpload(pinned, uploadSpec("uploads/u1/old.png", int64(len(pngBytes))))
	if err != nil {
		t.Fatal(err)
	}
	if status, code := s3Answer(t, putSigned(t, old, bytes.NewReader(pngBytes), nil)); status != http.StatusOK {
		t.Errorf("PUT signed with the pinned key: %d %q; want 200", status, code)
	}
	b.creds.Store(&[]storage.Credentials{next})
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping with the swapped-in key: %v", err)
	}
	if _, _, err := c.Peek(pinned, "uploads/u1/old.png", 8); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Peek with the retired key: %v; want ErrUnavailable", err)
	}
	if status, code := s3Answer(t, postForm(t, old, pngBytes, nil)); status != http.StatusForbidden {
		t.Errorf("POST signed with the retired key: %d %q; want 403", status, code)
	}
	s, err := c.SignUpload(ctx, uploadSpec("uploads/u1/new.png", int64(len(pngBytes))))
	if err != nil {
		t.Fatal(err)
	}
	if status, code := s3Answer(t, postForm(t, s, pngBytes, nil)); status != http.StatusNoContent {
		t.Errorf("POST signed with the swapped-in key: %d %q; want 204", status, code)
	}
}
