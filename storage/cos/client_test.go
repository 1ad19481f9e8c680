package cos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
	"github.com/wxavatar/wxavatar/internal/testutil"
	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/cos"
)

func clientSpec(key string) storage.UploadSpec {
	now := time.Now()
	return storage.UploadSpec{Key: key, ContentType: "image/png", MaxBytes: 100, NotBefore: now.Add(-time.Minute), Expires: now.Add(10 * time.Minute)}
}

// uploadWithForm posts data with a SignedUpload's form, file last.
func uploadWithForm(t *testing.T, s storage.SignedUpload, data []byte) int {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range s.PostForm {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "avatar.png")
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(s.PostURL, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func uploadWithPut(t *testing.T, s storage.SignedUpload, data []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.PutURL, bytes.NewReader(data))
	for k, v := range s.PutHeaders {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestClientAgainstLocalServer drives every Client call through the SDK
// against the local object server, with permanent and temporary credentials.
func TestClientAgainstLocalServer(t *testing.T) {
	sts := storage.Credentials{SecretID: "AKIDtemporary", SecretKey: "temporary-secret-key", SessionToken: "sts-session-token"}
	for name, cred := range map[string]storage.Credentials{"permanent": testCredentials, "sts": sts} {
		t.Run(name, func(t *testing.T) {
			b := newTestBucket(t, localcos.Config{}, cred)
			c := newClientFor(t, b, cred)
			ctx := context.Background()
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			data := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 40)...)
			for i, upload := range []func(*testing.T, storage.SignedUpload, []byte) int{uploadWithForm, uploadWithPut} {
				key := "avatars/u/" + string(rune('a'+i)) + " (1).png"
				sized := clientSpec(key)
				sized.Size = int64(len(data))
				s, err := c.SignUpload(ctx, sized)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Peek(ctx, key, 8); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("Peek before upload: %v; want ErrNotFound", err)
				}
				if status := upload(t, s, data); status/100 != 2 {
					t.Fatalf("upload %d: status %d", i, status)
				}
				info, head, err := c.Peek(ctx, key, 8)
				if err != nil || info.Size != int64(len(data)) || info.ContentType != "image/png" || info.ETag == "" ||
					info.StorageClass != "STANDARD" || !bytes.Equal(head, data[:8]) {
					t.Fatalf("Peek = %+v, %q, %v; want size %d, image/png, an ETag, STANDARD and %q", info, head, err, len(data), data[:8])
				}
				// Put: an object of the service's own (as confirm writes the
				// avatar, beside the upload's other keys), read back signed
				// with Peek and anonymously with a plain GET.
				dst := strings.TrimSuffix(key, ".png") + "/avatar"
				checkPut(t, c, dst)
				if err := c.Delete(ctx, dst); err != nil {
					t.Fatal(err)
				}
				// The uploaded object itself is private: only what Put
				// wrote (above) is public.
				resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, c.ObjectURL(key), nil))
				if code := testutil.COSErrorCode(t, resp); resp.StatusCode != http.StatusForbidden || code != "AccessDenied" {
					t.Errorf("anonymous GET of the uploaded object: %d %q; want 403 AccessDenied", resp.StatusCode, code)
				}
				if err := c.Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
				if err := c.Delete(ctx, key); err != nil {
					t.Errorf("deleting a missing object: %v; want nil", err)
				}
				if _, _, err := c.Peek(ctx, key, 8); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("Peek after delete: %v; want ErrNotFound", err)
				}
			}
			if strings.Contains(mustSign(t, c).PutURL, "x-cos-security-token") != (cred.SessionToken != "") {
				t.Errorf("PUT URL carries x-cos-security-token only with temporary credentials")
			}
		})
	}
}

// checkPut writes two versions of an avatar under key with c.Put and reads
// each back: Peek (signed) and a plain GET (anonymous) find the bytes, the
// Content-Type and the Cache-Control put, and the STANDARD class. The GET
// succeeds because Put names no ACL: the object has the bucket's, which the
// local server, like the production bucket's policy on avatars/*, makes
// public.
func checkPut(t *testing.T, c *cos.Client, key string) {
	t.Helper()
	ctx := context.Background()
	for _, v := range []struct {
		data []byte
		spec storage.PutSpec
	}{
		{append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{9}, 100)...),
			storage.PutSpec{ContentType: "image/png", CacheControl: "public, max-age=31536000, immutable"}},
		// A second Put replaces the first whole: bytes and metadata.
		{append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte{3}, 20)...),
			storage.PutSpec{ContentType: "image/jpeg", CacheControl: "public, max-age=60"}},
	} {
		if err := c.Put(ctx, key, v.data, v.spec); err != nil {
			t.Fatalf("Put(%s): %v", v.spec.ContentType, err)
		}
		info, got, err := c.Peek(ctx, key, len(v.data)+1)
		if err != nil || info.Size != int64(len(v.data)) || info.ContentType != v.spec.ContentType ||
			info.StorageClass != storage.StandardClass || info.ETag == "" || !bytes.Equal(got, v.data) {
			t.Errorf("Peek after Put = %+v, %d bytes, %v; want %d bytes as put, %s, STANDARD and an ETag",
				info, len(got), err, len(v.data), v.spec.ContentType)
		}
		resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, c.ObjectURL(key), nil))
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		h := resp.Header
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, v.data) ||
			h.Get("Content-Type") != v.spec.ContentType || h.Get("Cache-Control") != v.spec.CacheControl {
			t.Errorf("anonymous GET after Put: %d, %d bytes, Content-Type %q, Cache-Control %q; want 200, the %d put, %q, %q",
				resp.StatusCode, len(got), h.Get("Content-Type"), h.Get("Cache-Control"),
				len(v.data), v.spec.ContentType, v.spec.CacheControl)
		}
		// COS names the class only when it is not STANDARD.
		if class := h.Get("x-cos-storage-class"); class != "" && class != storage.StandardClass {
			t.Errorf("anonymous GET after Put: x-cos-storage-class %q; want STANDARD or none", class)
		}
	}
}

func mustSign(t *testing.T, c *cos.Client) storage.SignedUpload {
	t.Helper()
	spec := clientSpec("k.png")
	spec.Size = 48
	s, err := c.SignUpload(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientPresignedPutEndsAtExpiry(t *testing.T) {
	b := newTestBucket(t, localcos.Config{})
	c := newClientFor(t, b, testCredentials)
	spec := clientSpec("k.png")
	spec.Size = 48
	s, err := c.SignUpload(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.PutURL)
	want := fmt.Sprintf("%d;%d", spec.NotBefore.Unix(), spec.Expires.Unix())
	if got := u.Query().Get("q-key-time"); got != want {
		t.Errorf("PUT q-key-time = %s; want %s", got, want)
	}
	if got := s.PostForm["q-key-time"]; got != want {
		t.Errorf("POST q-key-time = %s; want %s", got, want)
	}
	if got, want := u.Query().Get("q-header-list"), "content-length;content-type;host;x-cos-acl;x-cos-storage-class"; got != want {
		t.Errorf("PUT signs headers %q; want %s", got, want)
	}
	if want := map[string]string{"Content-Type": "image/png", "Content-Length": "48", "x-cos-acl": "private",
		"x-cos-storage-class": "STANDARD"}; !maps.Equal(s.PutHeaders, want) {
		t.Errorf("PUT headers = %v; want %v", s.PutHeaders, want)
	}
}

// TestClientPresignedPutPinsSize: a presigned PUT stores exactly the declared
// size or nothing, and without a declared size there is no PUT URL at all,
// since COS would take up to 5 GB under one that signs no Content-Length.
func TestClientPresignedPutPinsSize(t *testing.T) {
	b := newTestBucket(t, localcos.Config{})
	c := newClientFor(t, b, testCredentials)
	ctx := context.Background()
	data := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 40)...)
	spec := clientSpec("avatars/u/sized.png")
	spec.Size = int64(len(data))
	s, err := c.SignUpload(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	put := func(body io.Reader, copySource string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, s.PutURL, body)
		for k, v := range s.PutHeaders {
			req.Header.Set(k, v)
		}
		if copySource != "" {
			req.Header.Set("x-cos-copy-source", copySource)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	longer := append(slices.Clone(data), 0)
	if got := put(bytes.NewReader(longer), ""); got != http.StatusForbidden {
		t.Errorf("PUT of %d bytes under a URL signed for %d: status %d; want 403", len(longer), len(data), got)
	}
	if got := put(bytes.NewReader(data[:len(data)-1]), ""); got != http.StatusForbidden {
		t.Errorf("PUT of %d bytes under a URL signed for %d: status %d; want 403", len(data)-1, len(data), got)
	}
	// A body of unknown length goes chunked, with no Content-Length to sign.
	if got := put(io.MultiReader(bytes.NewReader(data)), ""); got != http.StatusForbidden {
		t.Errorf("chunked PUT: status %d; want 403", got)
	}
	// Nor does an unsigned x-cos-copy-source turn it into a copy of a
	// larger object (the URL signs the body's length, not the source).
	big := clientSpec("avatars/u/big.png")
	if bs, err := c.SignUpload(ctx, big); err != nil || uploadWithForm(t, bs, bytes.Repeat(data, 2)) != http.StatusNoContent {
		t.Fatalf("storing the copy source: %v", err)
	}
	if got := put(bytes.NewReader(data), b.url.Host+"/"+big.Key); got != http.StatusForbidden {
		t.Errorf("PUT turned into a copy: status %d; want 403 (the copy source is not signed)", got)
	}
	if _, _, err := c.Peek(ctx, spec.Key, 8); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after refused PUTs, Peek: %v; want ErrNotFound", err)
	}
	if got := put(bytes.NewReader(data), ""); got != http.StatusOK {
		t.Fatalf("PUT of the declared %d bytes: status %d; want 200", len(data), got)
	}
	if info, _, err := c.Peek(ctx, spec.Key, 8); err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Peek = %+v, %v; want %d bytes", info, err, len(data))
	}

	spec.Size = 0
	s, err = c.SignUpload(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if s.PutURL != "" || s.PutHeaders != nil || s.PostForm["policy"] == "" {
		t.Errorf("without a size: PUT %q %v, policy %q; want no PUT and a POST form", s.PutURL, s.PutHeaders, s.PostForm["policy"])
	}
	spec.Size = spec.MaxBytes + 1
	if _, err := c.SignUpload(ctx, spec); err == nil {
		t.Error("SignUpload signed a size over MaxBytes")
	}
}

func TestClientCredentialSwap(t *testing.T) {
	next := storage.Credentials{SecretID: "AKIDnext", SecretKey: "next-secret-key"}
	b := newTestBucket(t, localcos.Config{}, testCredentials, next)
	c := newClientFor(t, b, testCredentials)
	if err := c.SetCredentials(next); err != nil {
		t.Fatal(err)
	}
	if got := c.Credentials().SecretID; got != "AKIDnext" {
		t.Errorf("SecretID after swap = %s", got)
	}
	if got := mustSign(t, c).PostForm["q-ak"]; got != "AKIDnext" {
		t.Errorf("signature after swap carries q-ak %s; want AKIDnext", got)
	}
	// The bucket no longer accepts the old key: calls must use the new one.
	b.creds.Store(&[]storage.Credentials{next})
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("Ping with swapped credentials: %v", err)
	}
	// A pinned context keeps the keys it was pinned with across a swap.
	pinned := c.Pin(context.Background())
	if err := c.SetCredentials(testCredentials); err != nil {
		t.Fatal(err)
	}
	s, err := c.SignUpload(pinned, clientSpec("k.png"))
	if err != nil || s.PostForm["q-ak"] != "AKIDnext" {
		t.Errorf("pinned signature carries q-ak %s, %v; want AKIDnext", s.PostForm["q-ak"], err)
	}
	if err := c.Ping(pinned); err != nil {
		t.Errorf("Ping with pinned credentials: %v", err)
	}
	if err := c.Ping(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping with the retired key: %v; want ErrUnavailable", err)
	}
	for _, bad := range []storage.Credentials{{}, {SecretID: "x"}, {SecretID: " x", SecretKey: "y"}} {
		if err := c.SetCredentials(bad); err == nil {
			t.Errorf("SetCredentials(%+v) accepted bad credentials", bad)
		}
	}
}

func TestClientTranslatesFailures(t *testing.T) {
	ctx := context.Background()
	// A server that answers 500 to everything.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer broken.Close()
	u, _ := url.Parse(broken.URL)
	c, err := cos.NewClient(cos.Config{Bucket: testBucketName, BucketURL: u, Credentials: testCredentials, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Peek(ctx, "k", 8); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Peek on 500: %v; want ErrUnavailable", err)
	}
	if err := c.Put(ctx, "k", []byte("x"), storage.PutSpec{ContentType: "image/png"}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Put on 500: %v; want ErrUnavailable", err)
	}
	if err := c.Delete(ctx, "k"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Delete on 500: %v; want ErrUnavailable", err)
	}
	// Wrong key: 403 is our misconfiguration, reported as unavailable.
	b := newTestBucket(t, localcos.Config{})
	wrong := newClientFor(t, b, storage.Credentials{SecretID: testCredentials.SecretID, SecretKey: "wrong"})
	if err := wrong.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) || strings.Contains(err.Error(), "wrong") {
		t.Errorf("Ping with a wrong key: %v; want storage.ErrUnavailable without the key", err)
	}
	// Nothing listening.
	broken.Close()
	if err := c.Delete(ctx, "k"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Delete with no server: %v; want ErrUnavailable", err)
	}
}

// TestPeekSmallAndEmptyObjects: a range past the end still tells the size;
// an empty object (416 to any range) is Size 0.
func TestPeekSmallAndEmptyObjects(t *testing.T) {
	b := newTestBucket(t, localcos.Config{})
	c := newClientFor(t, b, testCredentials)
	ctx := context.Background()
	for _, data := range [][]byte{{}, []byte("GIF"), bytes.Repeat([]byte("x"), 100)} {
		key := "objects/" + strconv.Itoa(len(data))
		opt := &cossdk.ObjectPutOptions{ObjectPutHeaderOptions: &cossdk.ObjectPutHeaderOptions{ContentType: "image/png"}}
		if _, err := b.client(testCredentials).Object.Put(ctx, key, bytes.NewReader(data), opt); err != nil {
			t.Fatalf("PUT %d bytes: %v", len(data), err)
		}
		info, head, err := c.Peek(ctx, key, 32)
		want := data[:min(len(data), 32)]
		if err != nil || info.Size != int64(len(data)) || !bytes.Equal(head, want) {
			t.Errorf("Peek of %d bytes = %+v, %q, %v; want size %d and %q", len(data), info, head, err, len(data), want)
		}
	}
}

// TestPeekNeedsSizeAndETag: an answer that does not say which version it is,
// or how large the whole object is, cannot be checked or named by its ETag.
func TestPeekNeedsSizeAndETag(t *testing.T) {
	for name, h := range map[string]map[string]string{
		"no ETag":         {"Content-Range": "bytes 0-3/4"},
		"no total size":   {"Content-Range": "bytes 0-3/*", "ETag": `"e"`},
		"no range at all": {"ETag": `"e"`},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		}))
		u, _ := url.Parse(srv.URL)
		c, err := cos.NewClient(cos.Config{Bucket: testBucketName, BucketURL: u, Credentials: testCredentials, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Peek(context.Background(), "k", 4); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s: Peek = %v; want ErrUnavailable", name, err)
		}
		srv.Close()
	}
}

func TestObjectURL(t *testing.T) {
	base, _ := url.Parse("https://cdn.example.com/avatars-root/")
	b, _ := url.Parse("https://b-1250000000.cos.ap-guangzhou.myqcloud.com")
	c, err := cos.NewClient(cos.Config{Bucket: "b-1250000000", BucketURL: b, PublicBaseURL: base, Credentials: testCredentials})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ObjectURL("avatars/u1/x.png"), "https://cdn.example.com/avatars-root/avatars/u1/x.png"; got != want {
		t.Errorf("ObjectURL = %s; want %s", got, want)
	}
	c2, _ := cos.NewClient(cos.Config{Bucket: "b-1250000000", BucketURL: b, Credentials: testCredentials})
	if got, want := c2.ObjectURL("a b.png"), "https://b-1250000000.cos.ap-guangzhou.myqcloud.com/a%20b.png"; got != want {
		t.Errorf("ObjectURL without CDN = %s; want %s", got, want)
	}
}

// TestSignedUploadPinsACLAndStorageClass: neither signature lets its holder
// choose the staging object's ACL or storage class; only the pinned values,
// sent as given, upload.
func TestSignedUploadPinsACLAndStorageClass(t *testing.T) {
	u := newHostileUpload(t)
	c, s, data := u.c, u.s, u.data
	for _, tt := range []struct {
		name, field, value string // value "" drops the field or header
		wantStatus         int
		wantCode           string
	}{
		{"PUT with x-cos-acl public-read", "x-cos-acl", "public-read", 403, "SignatureDoesNotMatch"},
		{"PUT with x-cos-acl default", "x-cos-acl", "default", 403, "SignatureDoesNotMatch"},
		{"PUT without x-cos-acl", "x-cos-acl", "", 403, "SignatureDoesNotMatch"},
		{"PUT with x-cos-storage-class ARCHIVE", "x-cos-storage-class", "ARCHIVE", 403, "SignatureDoesNotMatch"},
		{"PUT without x-cos-storage-class", "x-cos-storage-class", "", 403, "SignatureDoesNotMatch"},
		{"POST with acl public-read", "acl", "public-read", 403, "AccessDenied"},
		{"POST without acl", "acl", "", 403, "AccessDenied"},
		{"POST with x-cos-storage-class STANDARD_IA", "x-cos-storage-class", "STANDARD_IA", 403, "AccessDenied"},
		{"POST without x-cos-storage-class", "x-cos-storage-class", "", 403, "AccessDenied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var req *http.Request
			if strings.HasPrefix(tt.name, "PUT") {
				req = testutil.MustRequest(t, http.MethodPut, s.PutURL, bytes.NewReader(data))
				for k, v := range s.PutHeaders {
					req.Header.Set(k, v)
				}
				req.Header.Del(tt.field)
				if tt.value != "" {
					req.Header.Set(tt.field, tt.value)
				}
			} else {
				form := maps.Clone(s.PostForm)
				delete(form, tt.field)
				if tt.value != "" {
					form[tt.field] = tt.value
				}
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				for _, k := range slices.Sorted(maps.Keys(form)) {
					mw.WriteField(k, form[k])
				}
				fw, _ := mw.CreateFormFile("file", "avatar.png")
				fw.Write(data)
				mw.Close()
				req = testutil.MustRequest(t, http.MethodPost, s.PostURL, &body)
				req.Header.Set("Content-Type", mw.FormDataContentType())
			}
			resp := testutil.Do(t, req)
			if code := testutil.COSErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
				t.Errorf("got %d %q; want %d %q", resp.StatusCode, code, tt.wantStatus, tt.wantCode)
			}
		})
	}
	if _, _, err := c.Peek(context.Background(), u.key, 8); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after refused uploads, Peek: %v; want ErrNotFound", err)
	}
	// As given, both upload.
	if got := uploadWithPut(t, s, data); got != http.StatusOK {
		t.Errorf("PUT with the signed headers: %d; want 200", got)
	}
	if got := uploadWithForm(t, s, data); got != http.StatusNoContent {
		t.Errorf("POST with the signed form: %d; want 204", got)
	}
}

// TestPutRequestHeaders: the PUT that Put sends carries the Content-Type,
// Cache-Control and Content-Length of what it stores, names STANDARD, names
// no ACL (the object inherits the bucket's) and no metadata of its own, and
// is signed.
func TestPutRequestHeaders(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("ETag", `"e"`)
		// The SDK checks the stored bytes' CRC-64 after every upload.
		w.Header().Set("x-cos-hash-crc64ecma", strconv.FormatUint(crc64.Checksum(body, crc64.MakeTable(crc64.ECMA)), 10))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	c, err := cos.NewClient(cos.Config{Bucket: "b-1250000000", BucketURL: u, Credentials: testCredentials})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("\x89PNG\r\n\x1a\n avatar bytes")
	spec := storage.PutSpec{ContentType: "image/png", CacheControl: "public, max-age=31536000, immutable"}
	if err := c.Put(context.Background(), "avatars/u/up/avatar", data, spec); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodPut || got.URL.Path != "/avatars/u/up/avatar" || got.URL.RawQuery != "" {
		t.Errorf("request: %s %s; want PUT /avatars/u/up/avatar", got.Method, got.URL)
	}
	if !bytes.Equal(body, data) || got.ContentLength != int64(len(data)) {
		t.Errorf("body: %q (Content-Length %d); want %q (%d)", body, got.ContentLength, data, len(data))
	}
	for name, want := range map[string]string{
		"x-cos-storage-class": "STANDARD",
		"Content-Type":        spec.ContentType,
		"Cache-Control":       spec.CacheControl,
	} {
		if g := got.Header.Get(name); g != want {
			t.Errorf("PUT %s: %q; want %q", name, g, want)
		}
	}
	for name := range got.Header {
		if n := strings.ToLower(name); n == "x-cos-acl" || strings.HasPrefix(n, "x-cos-grant-") ||
			strings.HasPrefix(n, "x-cos-meta-") || strings.HasPrefix(n, "x-cos-copy-source") {
			t.Errorf("PUT names %s: %q; want the bucket's ACL and no metadata of its own", name, got.Header.Get(name))
		}
	}
	// Signed with the client's key, over the headers that say what is
	// stored.
	auth := got.Header.Get("Authorization")
	fields := map[string]string{}
	for _, kv := range strings.Split(auth, "&") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	if fields["q-sign-algorithm"] != "sha1" || fields["q-ak"] != testCredentials.SecretID || fields["q-signature"] == "" {
		t.Fatalf("Authorization = %q; want a sha1 signature with q-ak %s", auth, testCredentials.SecretID)
	}
	signed := strings.Split(fields["q-header-list"], ";")
	for _, h := range []string{"content-length", "content-type", "host", "x-cos-storage-class"} {
		if !slices.Contains(signed, h) {
			t.Errorf("q-header-list %q does not sign %s", fields["q-header-list"], h)
		}
	}
}
