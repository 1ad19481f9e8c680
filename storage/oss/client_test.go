package oss_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/oss"
)

var pngData = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 40)...)

func clientSpec(key string) storage.UploadSpec {
	now := time.Now()
	return storage.UploadSpec{Key: key, ContentType: "image/png", MaxBytes: 100,
		NotBefore: now.Add(-time.Minute), Expires: now.Add(10 * time.Minute)}
}

func sizedSpec(key string, size int) storage.UploadSpec {
	s := clientSpec(key)
	s.Size = int64(size)
	return s
}

func mustSign(t *testing.T, c *oss.Client, ctx context.Context, spec storage.UploadSpec) storage.SignedUpload {
	t.Helper()
	s, err := c.SignUpload(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// postForm sends form (fields in sorted order) and then the file, typed
// application/octet-stream as Go's CreateFormFile types a file part.
func postForm(t *testing.T, hc *http.Client, postURL string, form map[string]string, data []byte) *http.Response {
	t.Helper()
	return postFormTyped(t, hc, postURL, form, data, "application/octet-stream")
}

func postFormTyped(t *testing.T, hc *http.Client, postURL string, form map[string]string, data []byte, fileType string) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, k := range slices.Sorted(maps.Keys(form)) {
		mw.WriteField(k, form[k])
	}
	fw, _ := mw.CreatePart(textproto.MIMEHeader{
		"Content-Disposition": {`form-data; name="file"; filename="avatar.png"`},
		"Content-Type":        {fileType},
	})
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, postURL, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// putWith sends body to the signed PUT URL with the signed headers, edited.
func putWith(t *testing.T, hc *http.Client, s storage.SignedUpload, body io.Reader, edit func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, s.PutURL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s.PutHeaders {
		req.Header.Set(k, v)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func status(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	return resp.StatusCode, errorCode(t, resp)
}

// TestClientAgainstFakeOSS drives every Client call through the SDK, with
// permanent and STS credentials, path-style and virtual-host addressing,
// and both upload signatures.
func TestClientAgainstFakeOSS(t *testing.T) {
	sts := storage.Credentials{SecretID: "STS.temporary", SecretKey: "temporary-secret", SessionToken: "CAIS+sts/token=="}
	for _, cred := range []storage.Credentials{testCredentials, sts} {
		for _, virtual := range []bool{false, true} {
			name := map[bool]string{false: "path style", true: "virtual host"}[virtual]
			if cred.SessionToken != "" {
				name += " sts"
			}
			t.Run(name, func(t *testing.T) {
				f := newFakeOSS(t, cred)
				c, hc := f.client(t, cred), http.DefaultClient
				if virtual {
					c, hc = f.virtualHostClient(t, cred)
				}
				ctx := context.Background()
				if err := c.Ping(ctx); err != nil {
					t.Fatalf("Ping: %v", err)
				}
				for _, method := range []string{"POST", "PUT"} {
					key := "uploads/u 1/" + method + "(1)+é.png"
					s := mustSign(t, c, ctx, sizedSpec(key, len(pngData)))
					if (s.PutURL != "") != true || strings.Contains(s.PutURL, "x-oss-security-token") != (cred.SessionToken != "") {
						t.Errorf("PUT URL %q: want one, with x-oss-security-token only for STS keys", s.PutURL)
					}
					if got := s.PostForm["x-oss-security-token"]; got != cred.SessionToken {
						t.Errorf("form x-oss-security-token %q; want %q", got, cred.SessionToken)
					}
					if _, _, err := c.Peek(ctx, key, 8); !errors.Is(err, storage.ErrNotFound) {
						t.Fatalf("Peek before upload: %v; want ErrNotFound", err)
					}
					var resp *http.Response
					want := http.StatusOK
					if method == "POST" {
						resp, want = postForm(t, hc, s.PostURL, s.PostForm, pngData), http.StatusNoContent
					} else {
						resp = putWith(t, hc, s, bytes.NewReader(pngData), nil)
					}
					if got, code := status(t, resp); got != want {
						t.Fatalf("%s upload: %d %s; want %d", method, got, code, want)
					}
					info, head, err := c.Peek(ctx, key, 8)
					if err != nil || info.Size != int64(len(pngData)) || info.ContentType != "image/png" || info.ETag == "" ||
						strings.Contains(info.ETag, `"`) || info.StorageClass != storage.StandardClass || !bytes.Equal(head, pngData[:8]) {
						t.Fatalf("Peek = %+v, %q, %v; want size %d, image/png, an unquoted ETag, STANDARD, %q", info, head, err, len(pngData), pngData[:8])
					}
					if o, _ := f.object(key); o.acl != "private" || o.storageClass != "Standard" {
						t.Errorf("%s upload stored with ACL %q, class %q; want private, Standard", method, o.acl, o.storageClass)
					}
					avatar := "avatars/u 1/" + method + "/avatar"
					if err := c.Put(ctx, avatar, []byte("jpeg bytes"), storage.PutSpec{ContentType: "image/jpeg", CacheControl: "public, max-age=60"}); err != nil {
						t.Fatalf("Put: %v", err)
					}
					if o, _ := f.object(avatar); o.acl != "default" || o.storageClass != "Standard" || o.contentType != "image/jpeg" ||
						o.cacheControl != "public, max-age=60" || string(o.data) != "jpeg bytes" {
						t.Errorf("Put stored %+v; want the bucket's ACL (default), Standard, image/jpeg, the Cache-Control and the bytes", o)
					}
					for _, k := range []string{avatar, key, key} { // deleting a missing object succeeds
						if err := c.Delete(ctx, k); err != nil {
							t.Errorf("Delete(%s): %v", k, err)
						}
					}
					if _, _, err := c.Peek(ctx, key, 8); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("Peek after delete: %v; want ErrNotFound", err)
					}
				}
			})
		}
	}
}

// TestPresignedPutPinsSize: a presigned PUT stores exactly the declared
// size or nothing, and without a declared size there is no PUT URL at all.
func TestPresignedPutPinsSize(t *testing.T) {
	f := newFakeOSS(t)
	c := f.client(t, testCredentials)
	ctx := context.Background()
	key := "uploads/u/sized.png"
	s := mustSign(t, c, ctx, sizedSpec(key, len(pngData)))
	for name, body := range map[string]io.Reader{
		"one byte more": bytes.NewReader(append(slices.Clone(pngData), 0)),
		"one byte less": bytes.NewReader(pngData[:len(pngData)-1]),
		// A body of unknown length goes chunked, with no Content-Length.
		"chunked": io.MultiReader(bytes.NewReader(pngData)),
	} {
		if got, code := status(t, putWith(t, http.DefaultClient, s, body, nil)); got != http.StatusForbidden {
			t.Errorf("%s: %d %s; want 403", name, got, code)
		}
	}
	// Nor can a Content-Length header that lies about the body help: the
	// server reads the length the request declares and the signature
	// covers that.
	if _, ok := f.object(key); ok {
		t.Fatal("a refused PUT stored the object")
	}
	if got, code := status(t, putWith(t, http.DefaultClient, s, bytes.NewReader(pngData), nil)); got != http.StatusOK {
		t.Fatalf("PUT of the declared size: %d %s; want 200", got, code)
	}

	spec := clientSpec(key)
	s = mustSign(t, c, ctx, spec)
	if s.PutURL != "" || s.PutHeaders != nil || s.PostForm["policy"] == "" {
		t.Errorf("without a size: PUT %q %v, policy %q; want no PUT and a POST form", s.PutURL, s.PutHeaders, s.PostForm["policy"])
	}
	spec.Size = spec.MaxBytes + 1
	if _, err := c.SignUpload(ctx, spec); err == nil {
		t.Error("SignUpload signed a size over MaxBytes")
	}
}

// TestPresignedPutSignature: the PUT URL is a V4 query signature that names
// content-length and host as additional headers, ends at the upload's
// expiry to the second, and its headers are exactly the ones it signs.
func TestPresignedPutSignature(t *testing.T) {
	f := newFakeOSS(t)
	c := f.client(t, testCredentials)
	spec := sizedSpec("uploads/u/k.png", 48)
	spec.Expires = spec.Expires.Add(123 * time.Millisecond) // the window ends on the second
	before := time.Now()
	s := mustSign(t, c, context.Background(), spec)
	after := time.Now()
	u, err := url.Parse(s.PutURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if got, want := q.Get("x-oss-additional-headers"), "content-length;host"; got != want {
		t.Errorf("x-oss-additional-headers = %q; want %q", got, want)
	}
	if got := q.Get("x-oss-signature-version"); got != "OSS4-HMAC-SHA256" {
		t.Errorf("x-oss-signature-version = %q", got)
	}
	signedAt, err := time.Parse("20060102T150405Z", q.Get("x-oss-date"))
	if err != nil || signedAt.Unix() < before.Unix() || signedAt.Unix() > after.Unix() {
		t.Errorf("x-oss-date %q (%v); want the moment of signing", q.Get("x-oss-date"), err)
	}
	if expires, err := strconv.ParseInt(q.Get("x-oss-expires"), 10, 64); err != nil || signedAt.Unix()+expires != spec.Expires.Unix() {
		t.Errorf("x-oss-date + x-oss-expires = %s + %s; want the upload's expiry %d", q.Get("x-oss-date"), q.Get("x-oss-expires"), spec.Expires.Unix())
	}
	if got, want := q.Get("x-oss-credential"), testCredentials.SecretID+"/"+signedAt.Format("20060102")+"/cn-hangzhou/oss/aliyun_v4_request"; got != want {
		t.Errorf("x-oss-credential = %q; want %q", got, want)
	}
	if q.Has("x-oss-security-token") {
		t.Error("x-oss-security-token without STS credentials")
	}
	want := map[string]string{"Content-Type": "image/png", "Content-Length": "48", "x-oss-object-acl": "private", "x-oss-storage-class": "Standard"}
	if !maps.Equal(s.PutHeaders, want) {
		t.Errorf("PutHeaders = %v; want %v", s.PutHeaders, want)
	}
	if got, want := u.Host+u.Path, f.url.Host+"/"+fakeBucket+"/uploads/u/k.png"; got != want {
		t.Errorf("PUT URL addresses %s; want %s", got, want)
	}
}

// TestSignedUploadsPinWhatTheyPromise: neither signature lets its holder
// choose the staging object's ACL, storage class, type, size, key or host;
// only the signed values, sent as given, upload.
func TestSignedUploadsPinWhatTheyPromise(t *testing.T) {
	f := newFakeOSS(t)
	c := f.client(t, testCredentials)
	key := "uploads/u/hostile.png"
	spec := sizedSpec(key, len(pngData))
	spec.MaxBytes = int64(len(pngData))
	s := mustSign(t, c, context.Background(), spec)
	for _, tt := range []struct {
		name, header, value string // value "" drops the header
		wantCode            string
	}{
		{"x-oss-object-acl public-read", "x-oss-object-acl", "public-read", "SignatureDoesNotMatch"},
		{"x-oss-object-acl default", "x-oss-object-acl", "default", "SignatureDoesNotMatch"},
		{"no x-oss-object-acl", "x-oss-object-acl", "", "SignatureDoesNotMatch"},
		{"x-oss-storage-class Archive", "x-oss-storage-class", "Archive", "SignatureDoesNotMatch"},
		{"no x-oss-storage-class", "x-oss-storage-class", "", "SignatureDoesNotMatch"},
		{"Content-Type text/html", "Content-Type", "text/html", "SignatureDoesNotMatch"},
		{"an x-oss-meta header", "x-oss-meta-owner", "mallory", "SignatureDoesNotMatch"},
		{"x-oss-forbid-overwrite", "x-oss-forbid-overwrite", "true", "SignatureDoesNotMatch"},
		{"another host", "Host", "other-bucket.oss-cn-hangzhou.aliyuncs.com", "SignatureDoesNotMatch"},
	} {
		t.Run("PUT with "+tt.name, func(t *testing.T) {
			resp := putWith(t, http.DefaultClient, s, bytes.NewReader(pngData), func(r *http.Request) {
				switch {
				case tt.header == "Host":
					r.Host = tt.value
				case tt.value == "":
					r.Header.Del(tt.header)
				default:
					r.Header.Set(tt.header, tt.value)
				}
			})
			if got, code := status(t, resp); got != http.StatusForbidden || code != tt.wantCode {
				t.Errorf("got %d %q; want 403 %s", got, code, tt.wantCode)
			}
		})
	}
	for _, tt := range []struct{ name, field, value string }{
		{"x-oss-object-acl public-read", "x-oss-object-acl", "public-read"},
		{"no x-oss-object-acl", "x-oss-object-acl", ""},
		{"x-oss-storage-class IA", "x-oss-storage-class", "IA"},
		{"no x-oss-storage-class", "x-oss-storage-class", ""},
		{"x-oss-content-type text/html", "x-oss-content-type", "text/html"},
		{"Content-Type text/html", "Content-Type", "text/html"},
		{"another key", "key", "avatars/u/hostile.png"},
		{"success_action_status 201", "success_action_status", "201"},
		{"another date", "x-oss-date", time.Now().UTC().Format("20060102T150405Z")},
	} {
		t.Run("POST with "+tt.name, func(t *testing.T) {
			form := maps.Clone(s.PostForm)
			delete(form, tt.field)
			if tt.value != "" {
				form[tt.field] = tt.value
			}
			if got, code := status(t, postForm(t, http.DefaultClient, s.PostURL, form, pngData)); got != http.StatusForbidden || code != "AccessDenied" {
				t.Errorf("got %d %q; want 403 AccessDenied", got, code)
			}
		})
	}
	if got, code := status(t, postForm(t, http.DefaultClient, s.PostURL, s.PostForm, append(slices.Clone(pngData), 0))); got != http.StatusForbidden {
		t.Errorf("POST of MaxBytes+1: %d %s; want 403", got, code)
	}
	if got, code := status(t, postForm(t, http.DefaultClient, s.PostURL, s.PostForm, nil)); got != http.StatusForbidden {
		t.Errorf("POST of an empty file: %d %s; want 403", got, code)
	}
	if _, ok := f.object(key); ok {
		t.Fatal("a refused upload stored the object")
	}
	// The file part's own type, which the client chooses, would win over
	// the Content-Type field; x-oss-content-type wins over both.
	if got, code := status(t, postFormTyped(t, http.DefaultClient, s.PostURL, s.PostForm, pngData, "text/html")); got != http.StatusNoContent {
		t.Errorf("POST with the signed form: %d %s; want 204", got, code)
	}
	if o, _ := f.object(key); o.contentType != "image/png" {
		t.Errorf("POST with a text/html file part stored %q; want image/png", o.contentType)
	}
	if got, code := status(t, putWith(t, http.DefaultClient, s, bytes.NewReader(pngData), nil)); got != http.StatusOK {
		t.Errorf("PUT with the signed headers: %d %s; want 200", got, code)
	}
}

func TestClientCredentialSwapAndPin(t *testing.T) {
	next := storage.Credentials{SecretID: "LTAInextkey", SecretKey: "next-secret-key", SessionToken: "next-token"}
	f := newFakeOSS(t, testCredentials, next)
	c := f.client(t, testCredentials)
	ctx := context.Background()
	old := c.Pin(ctx)
	if err := c.SetCredentials(next); err != nil {
		t.Fatal(err)
	}
	if got := c.Credentials(); got != next {
		t.Errorf("Credentials after swap = %s; want %s", got.MaskedID(), next.MaskedID())
	}
	s := mustSign(t, c, ctx, sizedSpec("k.png", 4))
	if !strings.HasPrefix(s.PostForm["x-oss-credential"], "LTAInextkey/") || !strings.Contains(s.PutURL, "LTAInextkey%2F") ||
		s.PostForm["x-oss-security-token"] != "next-token" {
		t.Errorf("signature after swap: credential %q, PUT %q; want the new key and its token", s.PostForm["x-oss-credential"], s.PutURL)
	}
	// The bucket no longer accepts the old key: calls must use the new one.
	f.keys.Store(&[]storage.Credentials{next})
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping with the new key: %v", err)
	}
	// A context pinned before the swap keeps the old key for every call.
	if s := mustSign(t, c, old, sizedSpec("k.png", 4)); !strings.HasPrefix(s.PostForm["x-oss-credential"], testCredentials.SecretID+"/") ||
		s.PostForm["x-oss-security-token"] != "" {
		t.Errorf("pinned signature carries %q; want the old key", s.PostForm["x-oss-credential"])
	}
	if err := c.Ping(old); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping pinned to the retired key: %v; want ErrUnavailable", err)
	}
	// A context pinned now keeps the new key across another swap.
	pinned := c.Pin(ctx)
	if err := c.SetCredentials(testCredentials); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(pinned); err != nil {
		t.Errorf("Ping with the pinned key: %v", err)
	}
	if err := c.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping with the retired key in force: %v; want ErrUnavailable", err)
	}
	// A context pinned by one client pins nothing for another.
	other := f.client(t, next)
	if err := other.Ping(c.Pin(ctx)); err != nil {
		t.Errorf("another client's pin changed this client's key: %v", err)
	}
	for _, bad := range []storage.Credentials{{}, {SecretID: "x"}, {SecretID: " x", SecretKey: "y"}} {
		if err := c.SetCredentials(bad); err == nil {
			t.Errorf("SetCredentials(%+v) accepted bad credentials", bad)
		}
	}
	if got := c.Credentials(); got != testCredentials {
		t.Errorf("a refused swap changed the credentials to %s", got.MaskedID())
	}
}

// TestClientTranslatesFailures: every failure is one of package storage's
// errors, says the status and code, and names no secret.
func TestClientTranslatesFailures(t *testing.T) {
	ctx := context.Background()
	f := newFakeOSS(t)
	c := f.client(t, testCredentials)
	answer := func(status int, code string) {
		fn := func(w http.ResponseWriter, r *http.Request) bool {
			f.mu.Lock()
			f.requests = append(f.requests, r)
			f.mu.Unlock()
			ossError(w, status, code, "injected")
			return true
		}
		f.intercept.Store(&fn)
	}
	calls := map[string]func() error{
		"Peek":   func() error { _, _, err := c.Peek(ctx, "k", 8); return err },
		"Put":    func() error { return c.Put(ctx, "k", []byte("x"), storage.PutSpec{ContentType: "image/png"}) },
		"Delete": func() error { return c.Delete(ctx, "k") },
		"Ping":   func() error { return c.Ping(ctx) },
	}
	for _, tt := range []struct {
		status   int
		code     string
		want     error
		attempts int
	}{
		{500, "InternalError", storage.ErrUnavailable, 2}, // one retry, no more
		{503, "ServiceUnavailable", storage.ErrUnavailable, 2},
		{403, "AccessDenied", storage.ErrUnavailable, 1},
		{403, "InvalidObjectState", storage.ErrArchived, 1},
		{404, "NoSuchBucket", storage.ErrUnavailable, 1},
	} {
		answer(tt.status, tt.code)
		for name, call := range calls {
			before := f.requestCount()
			err := call()
			if name == "Delete" && tt.want == storage.ErrArchived {
				continue // not an answer OSS gives a DELETE
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("%s on %d %s: %v; want %v", name, tt.status, tt.code, err, tt.want)
			}
			if tt.want == storage.ErrUnavailable && (err == nil || !strings.Contains(err.Error(), tt.code)) {
				t.Errorf("%s on %d %s: %v; want the code in the error", name, tt.status, tt.code, err)
			}
			if got := f.requestCount() - before; got != tt.attempts {
				t.Errorf("%s on %d %s: %d attempts; want %d", name, tt.status, tt.code, got, tt.attempts)
			}
		}
	}
	// Only a read is unreadable: a plain GET is malformed only for an object
	// that needs what it cannot give.
	answer(400, "InvalidRequest")
	if _, _, err := c.Peek(ctx, "k", 8); !errors.Is(err, storage.ErrUnreadable) {
		t.Errorf("Peek on 400 InvalidRequest: %v; want ErrUnreadable", err)
	}
	if err := c.Delete(ctx, "k"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Delete on 400 InvalidRequest: %v; want ErrUnavailable", err)
	}
	// NoSuchKey is not found, and a missing object's delete succeeds.
	answer(404, "NoSuchKey")
	if _, _, err := c.Peek(ctx, "k", 8); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Peek on NoSuchKey: %v; want ErrNotFound", err)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Errorf("Delete on NoSuchKey: %v; want nil", err)
	}
	f.intercept.Store(nil)

	// A wrong secret: OSS says SignatureDoesNotMatch; the error says so and
	// names neither the secret nor the signature.
	wrong := f.client(t, storage.Credentials{SecretID: testCredentials.SecretID, SecretKey: "wrong-secret-value"})
	err := wrong.Ping(ctx)
	if !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "SignatureDoesNotMatch") ||
		strings.Contains(err.Error(), "wrong-secret-value") || strings.Contains(err.Error(), "Signature=") {
		t.Errorf("Ping with a wrong secret: %v; want ErrUnavailable, SignatureDoesNotMatch, no secret", err)
	}

	// Nothing listening.
	f.srv.Close()
	if err := c.Delete(ctx, "k"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Delete with no server: %v; want ErrUnavailable", err)
	}
}

// TestClientTimeoutBoundsRetries: a server that never answers costs one
// Timeout, retries included.
func TestClientTimeoutBoundsRetries(t *testing.T) {
	f := newFakeOSS(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	}
	f.intercept.Store(&hang)
	c, err := oss.New(oss.Config{Endpoint: f.url, Bucket: fakeBucket, Region: fakeRegion, PathStyle: true,
		Credentials: testCredentials, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = c.Peek(context.Background(), "k", 8)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Peek took %s; want it bounded by the 300ms timeout", elapsed)
	}
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Peek on a hung server: %v; want ErrUnavailable", err)
	}
}

// TestPeekSizesAndClasses: a range past the end still tells the size; an
// empty object (416 to any range) is Size 0; the class is reported in
// package storage's spelling for Standard and OSS's otherwise; an archived
// object is ErrArchived.
func TestPeekSizesAndClasses(t *testing.T) {
	f := newFakeOSS(t)
	c := f.client(t, testCredentials)
	ctx := context.Background()
	for _, data := range [][]byte{{}, []byte("GIF"), bytes.Repeat([]byte("x"), 100)} {
		key := "objects/" + string(rune('a'+len(data)%26))
		f.setObject(key, fakeObject{data: data, contentType: "image/gif", storageClass: "Standard"})
		info, head, err := c.Peek(ctx, key, 32)
		want := data[:min(len(data), 32)]
		if err != nil || info.Size != int64(len(data)) || !bytes.Equal(head, want) {
			t.Errorf("Peek of %d bytes = %+v, %q, %v; want size %d and %q", len(data), info, head, err, len(data), want)
		}
	}
	if got := f.lastRequest().Header.Get("x-oss-range-behavior"); got != "standard" {
		t.Errorf("x-oss-range-behavior %q; want standard", got)
	}
	for _, tt := range []struct{ class, want string }{
		{"Standard", storage.StandardClass}, {"IA", "IA"}, {"Archive", ""}, {"ColdArchive", ""},
	} {
		f.setObject("class", fakeObject{data: []byte("png"), contentType: "image/png", storageClass: tt.class})
		info, _, err := c.Peek(ctx, "class", 4)
		switch {
		case tt.want == "" && !errors.Is(err, storage.ErrArchived):
			t.Errorf("Peek of a %s object: %+v, %v; want ErrArchived", tt.class, info, err)
		case tt.want != "" && (err != nil || info.StorageClass != tt.want):
			t.Errorf("Peek of a %s object: %+v, %v; want class %s", tt.class, info, err, tt.want)
		}
	}
}

// TestPeekNeedsSizeAndETag: an answer that does not say which version it
// is, or how large the whole object is, cannot be checked or named.
func TestPeekNeedsSizeAndETag(t *testing.T) {
	for name, h := range map[string]map[string]string{
		"no ETag":         {"Content-Range": "bytes 0-3/4"},
		"no total size":   {"Content-Range": "bytes 0-3/*", "ETag": `"e"`},
		"no range at all": {"ETag": `"e"`},
	} {
		f := newFakeOSS(t)
		answer := func(w http.ResponseWriter, r *http.Request) bool {
			for k, v := range h {
				w.Header().Set(k, v)
			}
			if _, ranged := h["Content-Range"]; ranged {
				w.WriteHeader(http.StatusPartialContent)
			} else {
				w.Header().Set("Transfer-Encoding", "chunked") // no Content-Length either
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
			}
			w.Write([]byte("GIF8"))
			return true
		}
		f.intercept.Store(&answer)
		if _, _, err := f.client(t, testCredentials).Peek(context.Background(), "k", 4); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s: Peek = %v; want ErrUnavailable", name, err)
		}
	}
}

// TestPutRequest: the PUT that Put sends carries the Content-Type,
// Cache-Control and Content-Length of what it stores, names Standard, names
// no ACL (the object inherits the bucket's) and no metadata of its own, and
// its V4 signature covers the length.
func TestPutRequest(t *testing.T) {
	f := newFakeOSS(t)
	c := f.client(t, testCredentials)
	data := []byte("\x89PNG\r\n\x1a\n avatar bytes")
	spec := storage.PutSpec{ContentType: "image/png", CacheControl: "public, max-age=31536000, immutable"}
	if err := c.Put(context.Background(), "avatars/u/up/avatar", data, spec); err != nil {
		t.Fatal(err)
	}
	r := f.lastRequest()
	if r.Method != http.MethodPut || r.URL.Path != "/"+fakeBucket+"/avatars/u/up/avatar" || r.URL.RawQuery != "" {
		t.Errorf("request: %s %s; want PUT /%s/avatars/u/up/avatar", r.Method, r.URL, fakeBucket)
	}
	if body, _ := io.ReadAll(r.Body); !bytes.Equal(body, data) || r.ContentLength != int64(len(data)) {
		t.Errorf("body %q (Content-Length %d); want %q (%d)", body, r.ContentLength, data, len(data))
	}
	for name, want := range map[string]string{"x-oss-storage-class": "Standard", "Content-Type": spec.ContentType, "Cache-Control": spec.CacheControl} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("PUT %s: %q; want %q", name, got, want)
		}
	}
	for name := range r.Header {
		if n := strings.ToLower(name); n == "x-oss-object-acl" || strings.HasPrefix(n, "x-oss-meta-") || strings.HasPrefix(n, "x-oss-copy-source") {
			t.Errorf("PUT names %s: %q; want the bucket's ACL and no metadata of its own", name, r.Header.Get(name))
		}
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "OSS4-HMAC-SHA256 Credential="+testCredentials.SecretID+"/") ||
		!strings.Contains(auth, "AdditionalHeaders=content-length,") {
		t.Errorf("Authorization %q; want a V4 signature covering content-length", auth)
	}
}

func TestObjectURL(t *testing.T) {
	endpoint, _ := url.Parse("https://oss-cn-hangzhou.aliyuncs.com")
	local, _ := url.Parse("http://127.0.0.1:9000")
	cdn, _ := url.Parse("https://cdn.example.com/avatars-root/")
	for _, tt := range []struct {
		endpoint  *url.URL
		pathStyle bool
		public    *url.URL
		want      string
	}{
		{endpoint, false, nil, "https://wxavatar-test.oss-cn-hangzhou.aliyuncs.com/avatars/u1/a%20b.png"},
		{local, true, nil, "http://127.0.0.1:9000/wxavatar-test/avatars/u1/a%20b.png"},
		{endpoint, false, cdn, "https://cdn.example.com/avatars-root/avatars/u1/a%20b.png"},
	} {
		c, err := oss.New(oss.Config{Endpoint: tt.endpoint, Bucket: fakeBucket, Region: fakeRegion, PathStyle: tt.pathStyle,
			PublicBaseURL: tt.public, Credentials: testCredentials})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ObjectURL("avatars/u1/a b.png"); got != tt.want {
			t.Errorf("ObjectURL = %s; want %s", got, tt.want)
		}
	}
	c, _ := oss.New(oss.Config{Endpoint: endpoint, Bucket: fakeBucket, Region: fakeRegion, Credentials: testCredentials})
	if got, want := mustSign(t, c, context.Background(), clientSpec("k")).PostURL, "https://wxavatar-test.oss-cn-hangzhou.aliyuncs.com/"; got != want {
		t.Errorf("PostURL = %s; want %s", got, want)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	parse := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	good := oss.Config{Endpoint: parse("https://oss-cn-hangzhou.aliyuncs.com"), Bucket: "wxavatar-1", Region: "cn-hangzhou", Credentials: testCredentials}
	if _, err := oss.New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mutate := range map[string]func(*oss.Config){
		"no endpoint":           func(c *oss.Config) { c.Endpoint = nil },
		"endpoint without host": func(c *oss.Config) { c.Endpoint = parse("https://") },
		"endpoint with path":    func(c *oss.Config) { c.Endpoint = parse("https://oss-cn-hangzhou.aliyuncs.com/bucket") },
		"ftp endpoint":          func(c *oss.Config) { c.Endpoint = parse("ftp://oss-cn-hangzhou.aliyuncs.com") },
		"IP, virtual host":      func(c *oss.Config) { c.Endpoint = parse("http://127.0.0.1:9000") },
		"empty bucket":          func(c *oss.Config) { c.Bucket = "" },
		"upper-case bucket":     func(c *oss.Config) { c.Bucket = "Wxavatar" },
		"bucket with a dot":     func(c *oss.Config) { c.Bucket = "evil.example.com" },
		"bucket ending in -":    func(c *oss.Config) { c.Bucket = "wxavatar-" },
		"empty region":          func(c *oss.Config) { c.Region = "" },
		"endpoint as region":    func(c *oss.Config) { c.Region = "oss-cn-hangzhou" },
		"no secret":             func(c *oss.Config) { c.Credentials.SecretKey = "" },
		"secret with a space":   func(c *oss.Config) { c.Credentials.SecretKey += " " },
	} {
		cfg := good
		mutate(&cfg)
		if _, err := oss.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestInstrumentWrapsEveryCall: the transport Instrument returns carries
// every call the SDK makes, retries included, with every credential set.
func TestInstrumentWrapsEveryCall(t *testing.T) {
	f := newFakeOSS(t, testCredentials, storage.Credentials{SecretID: "LTAIother", SecretKey: "other-secret"})
	var seen []string
	c, err := oss.New(oss.Config{Endpoint: f.url, Bucket: fakeBucket, Region: fakeRegion, PathStyle: true,
		Credentials: testCredentials, Instrument: func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				seen = append(seen, r.Method)
				return next.RoundTrip(r)
			})
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Put(ctx, "k", []byte("x"), storage.PutSpec{ContentType: "image/png"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCredentials(storage.Credentials{SecretID: "LTAIother", SecretKey: "other-secret"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Peek(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"PUT", "GET", "DELETE"}; !slices.Equal(seen, want) {
		t.Errorf("instrumented calls %v; want %v", seen, want)
	}
}

// TestClientKeepsItsClock: an answer that says the client's clock is
// skewed does not move the time the client signs with (the SDK would write
// the offset into the shared client from any request, unsynchronised).
func TestClientKeepsItsClock(t *testing.T) {
	f := newFakeOSS(t)
	c := f.client(t, testCredentials)
	var dates []string
	skewed := func(w http.ResponseWriter, r *http.Request) bool {
		dates = append(dates, r.Header.Get("x-oss-date"))
		w.Header().Set("Date", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		ossError(w, http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
		return true
	}
	f.intercept.Store(&skewed)
	for range 2 {
		if err := c.Ping(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Ping on RequestTimeTooSkewed: %v; want ErrUnavailable", err)
		}
	}
	for _, d := range dates {
		at, err := time.Parse("20060102T150405Z", d)
		if err != nil || time.Since(at).Abs() > 5*time.Second {
			t.Errorf("x-oss-date %q; want the client's own clock", d)
		}
	}
	if len(dates) != 4 {
		t.Errorf("%d requests; want 2 calls of 2 attempts", len(dates))
	}
}
