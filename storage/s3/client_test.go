package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/s3"
)

var pngBytes = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 40)...)

// TestClientCalls drives every call against the fake bucket with permanent
// and temporary keys, and checks what each sends and how each reads the
// answer.
func TestClientCalls(t *testing.T) {
	for name, cred := range map[string]storage.Credentials{"permanent": testCredentials, "sts": stsCredentials} {
		t.Run(name, func(t *testing.T) {
			f := newFakeS3(t, cred)
			c := newClient(t, f, cred)
			ctx := context.Background()
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if r := f.last(); r.method != http.MethodHead || r.path != "/"+testBucket+"/" && r.path != "/"+testBucket {
				t.Errorf("Ping sent %s %s; want HEAD of the bucket", r.method, r.path)
			}
			key := "avatars/u1/up 1/avatar"
			if _, _, err := c.Peek(ctx, key, 8); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Peek before Put: %v; want ErrNotFound", err)
			}
			spec := storage.PutSpec{ContentType: "image/png", CacheControl: "public, max-age=31536000, immutable"}
			if err := c.Put(ctx, key, pngBytes, spec); err != nil {
				t.Fatalf("Put: %v", err)
			}
			checkPutRequest(t, f.last(), cred, key, spec)

			info, head, err := c.Peek(ctx, key, 8)
			sum := md5.Sum(pngBytes)
			if err != nil || info.Size != int64(len(pngBytes)) || info.ContentType != "image/png" ||
				info.ETag != hex.EncodeToString(sum[:]) || info.StorageClass != storage.StandardClass || !bytes.Equal(head, pngBytes[:8]) {
				t.Fatalf("Peek = %+v, %q, %v; want %d bytes, image/png, the unquoted ETag, STANDARD and %q",
					info, head, err, len(pngBytes), pngBytes[:8])
			}
			if r := f.last(); r.method != http.MethodGet || r.header.Get("Range") != "bytes=0-7" || r.keyID != cred.SecretID {
				t.Errorf("Peek sent %s Range %q signed by %q; want one GET of bytes=0-7 signed by %s",
					r.method, r.header.Get("Range"), r.keyID, cred.SecretID)
			}
			// More bytes asked than stored: the whole object, its size told.
			if info, all, err := c.Peek(ctx, key, 1000); err != nil || info.Size != int64(len(pngBytes)) || !bytes.Equal(all, pngBytes) {
				t.Errorf("Peek past the end = %+v, %d bytes, %v; want the %d bytes", info, len(all), err, len(pngBytes))
			}
			if err := c.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if r := f.last(); r.method != http.MethodDelete || r.path != "/"+testBucket+"/"+key || r.rawQuery != "" {
				t.Errorf("Delete sent %s %s?%s; want DELETE of the key alone", r.method, r.path, r.rawQuery)
			}
			if err := c.Delete(ctx, key); err != nil {
				t.Errorf("deleting a missing object: %v; want nil", err)
			}
			if _, _, err := c.Peek(ctx, key, 8); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Peek after Delete: %v; want ErrNotFound", err)
			}
			for _, r := range f.requests() {
				if r.keyID != cred.SecretID {
					t.Errorf("%s %s signed by %q; want %s", r.method, r.path, r.keyID, cred.SecretID)
				}
				if tok := r.header.Get("X-Amz-Security-Token"); tok != cred.SessionToken {
					t.Errorf("%s %s carries X-Amz-Security-Token %q; want %q", r.method, r.path, tok, cred.SessionToken)
				}
			}
		})
	}
}

// checkPutRequest: Put sends one plain PUT of the bytes with their signed
// SHA-256, the Content-Type and Cache-Control given, STANDARD, and nothing
// that would set an ACL, metadata, tags or a checksum of its own.
func checkPutRequest(t *testing.T, r fakeRequest, cred storage.Credentials, key string, spec storage.PutSpec) {
	t.Helper()
	if r.method != http.MethodPut || r.path != "/"+testBucket+"/"+key || r.rawQuery != "" || !bytes.Equal(r.body, pngBytes) {
		t.Errorf("Put sent %s %s?%s with %d bytes; want PUT of the key with the %d bytes", r.method, r.path, r.rawQuery, len(r.body), len(pngBytes))
	}
	sum := sha256.Sum256(pngBytes)
	for name, want := range map[string]string{
		"Content-Type":         spec.ContentType,
		"Cache-Control":        spec.CacheControl,
		"X-Amz-Storage-Class":  "STANDARD",
		"X-Amz-Content-Sha256": hex.EncodeToString(sum[:]), // signed payload, not streamed in aws-chunked form
		"Content-Encoding":     "",
		"Transfer-Encoding":    "",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("Put's %s = %q; want %q", name, got, want)
		}
	}
	for name := range r.header {
		n := strings.ToLower(name)
		if n == "x-amz-acl" || strings.HasPrefix(n, "x-amz-grant-") || strings.HasPrefix(n, "x-amz-meta-") ||
			n == "x-amz-tagging" || strings.HasPrefix(n, "x-amz-checksum") || n == "x-amz-website-redirect-location" {
			t.Errorf("Put sends %s: %q; want no ACL, metadata, tags or checksum", name, r.header.Get(name))
		}
	}
	if r.keyID != cred.SecretID {
		t.Errorf("Put signed by %q; want %s", r.keyID, cred.SecretID)
	}
	signed := signedHeaders(r.header.Get("Authorization"))
	for _, h := range []string{"cache-control", "content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-storage-class"} {
		if !slices.Contains(signed, h) {
			t.Errorf("Put's SignedHeaders %v lack %s", signed, h)
		}
	}
	if cred.SessionToken != "" && !slices.Contains(signed, "x-amz-security-token") {
		t.Errorf("Put's SignedHeaders %v lack x-amz-security-token", signed)
	}
}

func signedHeaders(auth string) []string {
	_, rest, _ := strings.Cut(auth, "SignedHeaders=")
	list, _, _ := strings.Cut(rest, ",")
	return strings.Split(list, ";")
}

// TestPeekSmallEmptyAndArchived: a range past the end still tells the size;
// an empty object (416 to any range) is Size 0 with no bytes; the class is
// S3's own spelling when it is not STANDARD; an archived object is
// ErrArchived.
func TestPeekSmallEmptyAndArchived(t *testing.T) {
	f := newFakeS3(t, testCredentials)
	c := newClient(t, f, testCredentials)
	ctx := context.Background()
	f.seed("empty", fakeObject{contentType: "image/png", etag: "e0"})
	f.seed("gif", fakeObject{data: []byte("GIF"), contentType: "image/gif", etag: "e1", class: "STANDARD_IA"})
	if info, b, err := c.Peek(ctx, "empty", 32); err != nil || info.Size != 0 || len(b) != 0 {
		t.Errorf("Peek of an empty object = %+v, %q, %v; want Size 0, no bytes, no error", info, b, err)
	}
	if info, b, err := c.Peek(ctx, "gif", 32); err != nil || info.Size != 3 || string(b) != "GIF" || info.StorageClass != "STANDARD_IA" {
		t.Errorf("Peek of 3 bytes = %+v, %q, %v; want Size 3, GIF, STANDARD_IA", info, b, err)
	}
	if _, _, err := c.Peek(ctx, "gif", 0); err == nil {
		t.Error("Peek of 0 bytes: no error")
	}
	// API_GetObject: an object in S3 Glacier Flexible Retrieval or Deep
	// Archive answers 403 InvalidObjectState until restored.
	f.answerWith(func(w http.ResponseWriter, r *http.Request) { s3Error(w, http.StatusForbidden, "InvalidObjectState") })
	if _, _, err := c.Peek(ctx, "gif", 32); !errors.Is(err, storage.ErrArchived) {
		t.Errorf("Peek of an archived object: %v; want ErrArchived", err)
	}
}

// TestPeekNeedsSizeAndETag: an answer that does not say which version it is,
// or how large the whole object is, cannot be checked or named by its ETag.
func TestPeekNeedsSizeAndETag(t *testing.T) {
	f := newFakeS3(t, testCredentials)
	c := newClient(t, f, testCredentials)
	lastModified := time.Now().UTC().Format(http.TimeFormat)
	for name, h := range map[string]map[string]string{
		"no ETag":          {"Content-Range": "bytes 0-3/4", "Last-Modified": lastModified},
		"no total size":    {"Content-Range": "bytes 0-3/*", "ETag": `"e"`, "Last-Modified": lastModified},
		"no range at all":  {"ETag": `"e"`, "Last-Modified": lastModified},
		"no Last-Modified": {"Content-Range": "bytes 0-3/4", "ETag": `"e"`},
	} {
		f.answerWith(func(w http.ResponseWriter, r *http.Request) {
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
		})
		if _, _, err := c.Peek(context.Background(), "k", 4); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s: Peek = %v; want ErrUnavailable", name, err)
		}
	}
}

// TestClientTranslatesErrors: S3's answers map onto package storage's
// errors once, retried only when S3 says it may help, and never name a key.
func TestClientTranslatesErrors(t *testing.T) {
	f := newFakeS3(t, stsCredentials)
	c := newClient(t, f, stsCredentials)
	ctx := context.Background()
	calls := map[string]func() error{
		"Peek":   func() error { _, _, err := c.Peek(ctx, "k", 8); return err },
		"Put":    func() error { return c.Put(ctx, "k", pngBytes, storage.PutSpec{ContentType: "image/png"}) },
		"Delete": func() error { return c.Delete(ctx, "k") },
		"Ping":   func() error { return c.Ping(ctx) },
	}
	for _, tt := range []struct {
		call     string
		status   int
		code     string
		want     error // nil: success
		text     string
		attempts int
	}{
		{"Peek", 404, "NoSuchKey", storage.ErrNotFound, "", 1},
		{"Peek", 404, "NoSuchBucket", storage.ErrUnavailable, "status 404 NoSuchBucket", 1},
		{"Peek", 403, "AccessDenied", storage.ErrUnavailable, "status 403 AccessDenied", 1},
		{"Peek", 403, "SignatureDoesNotMatch", storage.ErrUnavailable, "status 403 SignatureDoesNotMatch", 1},
		{"Peek", 403, "InvalidObjectState", storage.ErrArchived, "", 1},
		// An SSE-C object, which a plain GET cannot read.
		{"Peek", 400, "InvalidRequest", storage.ErrUnreadable, "status 400 InvalidRequest", 1},
		{"Peek", 500, "InternalError", storage.ErrUnavailable, "status 500 InternalError", 2},
		{"Peek", 503, "SlowDown", storage.ErrUnavailable, "status 503 SlowDown", 2},
		{"Put", 400, "InvalidRequest", storage.ErrUnavailable, "status 400 InvalidRequest", 1},
		{"Put", 400, "XAmzContentSHA256Mismatch", storage.ErrUnavailable, "status 400 XAmzContentSHA256Mismatch", 1},
		{"Put", 403, "AccessDenied", storage.ErrUnavailable, "status 403 AccessDenied", 1},
		{"Put", 503, "ServiceUnavailable", storage.ErrUnavailable, "status 503", 2},
		{"Delete", 404, "NoSuchKey", nil, "", 1},
		{"Delete", 403, "AccessDenied", storage.ErrUnavailable, "status 403 AccessDenied", 1},
		{"Delete", 500, "InternalError", storage.ErrUnavailable, "status 500 InternalError", 2},
		{"Ping", 404, "", storage.ErrUnavailable, "NoSuchBucket", 1}, // HEAD answers have no body
		{"Ping", 403, "", storage.ErrUnavailable, "status 403 AccessDenied", 1},
		{"Ping", 301, "", storage.ErrUnavailable, "status 301", 1}, // a bucket in another region
	} {
		f.answerWith(func(w http.ResponseWriter, r *http.Request) { s3Error(w, tt.status, tt.code) })
		f.reset()
		err := calls[tt.call]()
		name := tt.call + " on " + http.StatusText(tt.status) + " " + tt.code
		switch {
		case tt.want == nil && err != nil:
			t.Errorf("%s: %v; want nil", name, err)
		case tt.want != nil && (!errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text)):
			t.Errorf("%s: %v; want %v with %q", name, err, tt.want, tt.text)
		}
		if err != nil && (strings.Contains(err.Error(), stsCredentials.SecretKey) || strings.Contains(err.Error(), stsCredentials.SessionToken)) {
			t.Errorf("%s: the error names a secret: %v", name, err)
		}
		if got := len(f.requests()); got != tt.attempts {
			t.Errorf("%s: %d attempts; want %d", name, got, tt.attempts)
		}
	}
	// Nothing listening.
	f.srv.Close()
	for name, call := range calls {
		if err := call(); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s with no server: %v; want ErrUnavailable", name, err)
		}
	}
}

// TestClientUnderFaults: a slow store, one that drops connections and one
// that fails every call are all storage.ErrUnavailable within the client's
// timeout, retries included, and the client works again once they clear.
func TestClientUnderFaults(t *testing.T) {
	f := newFakeS3(t, testCredentials)
	const timeout = 300 * time.Millisecond
	c, err := s3.New(s3.Config{Endpoint: f.url, Bucket: testBucket, Region: testRegion, PathStyle: true,
		Credentials: testCredentials, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"Peek":   func() error { _, _, err := c.Peek(ctx, "k", 8); return err },
		"Put":    func() error { return c.Put(ctx, "k", pngBytes, storage.PutSpec{ContentType: "image/png"}) },
		"Delete": func() error { return c.Delete(ctx, "k") },
		"Ping":   func() error { return c.Ping(ctx) },
	}
	for fault, h := range map[string]http.HandlerFunc{
		"slow": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		},
		"dropped": func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		},
		"5xx": func(w http.ResponseWriter, r *http.Request) {
			s3Error(w, http.StatusInternalServerError, "InternalError")
		},
	} {
		f.answerWith(h)
		for name, call := range calls {
			f.reset()
			start := time.Now()
			err := call()
			if elapsed := time.Since(start); elapsed > timeout+200*time.Millisecond {
				t.Errorf("%s: %s took %s; want it bounded by the %s timeout", fault, name, elapsed, timeout)
			}
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("%s: %s = %v; want ErrUnavailable", fault, name, err)
			}
			if n := len(f.requests()); n > 2 {
				t.Errorf("%s: %s made %d attempts; want at most one retry", fault, name, n)
			}
		}
	}
	f.answerWith(nil)
	if _, _, err := c.Peek(ctx, "k", 8); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after the faults cleared: %v; want ErrNotFound", err)
	}
	// A context that ends first ends the call first.
	f.answerWith(calls2s)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Ping(short); !errors.Is(err, storage.ErrUnavailable) || time.Since(start) > 250*time.Millisecond {
		t.Errorf("Ping under a 50ms context: %v after %s; want ErrUnavailable at once", err, time.Since(start))
	}
}

func calls2s(w http.ResponseWriter, r *http.Request) {
	select {
	case <-time.After(2 * time.Second):
	case <-r.Context().Done():
	}
}

// TestClientRotation: calls use the keys in force, a pinned context keeps
// the keys it was pinned with across a swap, and the retired key is refused
// by the bucket once it stops accepting it.
func TestClientRotation(t *testing.T) {
	next := storage.Credentials{SecretID: "AKIDS3NEXTKEY", SecretKey: "s3-next-secret-key"}
	f := newFakeS3(t, testCredentials, next)
	c := newClient(t, f, testCredentials)
	ctx := context.Background()
	if err := c.SetCredentials(next); err != nil {
		t.Fatal(err)
	}
	if got := c.Credentials(); got != next {
		t.Errorf("Credentials() after the swap = %s; want %s", got.MaskedID(), next.MaskedID())
	}
	f.accept(next) // the bucket no longer accepts the old key
	if err := c.Ping(ctx); err != nil || f.last().keyID != next.SecretID {
		t.Errorf("Ping with the swapped keys: %v, signed by %s", err, f.last().keyID)
	}
	pinned := c.Pin(ctx)
	if err := c.SetCredentials(testCredentials); err != nil {
		t.Fatal(err)
	}
	// In this order: Peek reads what Put wrote.
	for _, step := range []struct {
		name string
		call func(context.Context) error
	}{
		{"Ping", c.Ping},
		{"Put", func(ctx context.Context) error {
			return c.Put(ctx, "k", pngBytes, storage.PutSpec{ContentType: "image/png"})
		}},
		{"Peek", func(ctx context.Context) error { _, _, err := c.Peek(ctx, "k", 8); return err }},
		{"Delete", func(ctx context.Context) error { return c.Delete(ctx, "k") }},
	} {
		name, call := step.name, step.call
		if err := call(pinned); err != nil || f.last().keyID != next.SecretID {
			t.Errorf("%s under the pinned context: %v, signed by %s; want %s", name, err, f.last().keyID, next.SecretID)
		}
		if err := call(ctx); !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "status 403") {
			t.Errorf("%s with the retired key: %v; want ErrUnavailable, status 403", name, err)
		}
	}
}

// TestClientConcurrentRotation: calls and swaps at once are free of races
// (run with -race) and every call is signed with one whole key pair.
func TestClientConcurrentRotation(t *testing.T) {
	next := storage.Credentials{SecretID: "AKIDS3NEXTKEY", SecretKey: "s3-next-secret-key", SessionToken: "next-token"}
	f := newFakeS3(t, testCredentials, next)
	c := newClient(t, f, testCredentials)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, _, err := c.Peek(context.Background(), "k", 8); !errors.Is(err, storage.ErrNotFound) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 40 {
			cred := testCredentials
			if i%2 == 0 {
				cred = next
			}
			if err := c.SetCredentials(cred); err != nil {
				failed.Add(1)
			}
		}
	})
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d calls failed while keys rotated; want none", n)
	}
}

// TestInstrumentWrapsTransport: every request goes through the wrapper.
func TestInstrumentWrapsTransport(t *testing.T) {
	f := newFakeS3(t, testCredentials)
	var seen atomic.Int32
	c, err := s3.New(s3.Config{Endpoint: f.url, Bucket: testBucket, Region: testRegion, PathStyle: true, Credentials: testCredentials,
		Instrument: func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				seen.Add(1)
				return next.RoundTrip(r)
			})
		}})
	if err != nil {
		t.Fatal(err)
	}
	if seen.Load() != 0 {
		t.Errorf("New made %d requests; want none", seen.Load())
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Peek(context.Background(), "k", 8)
	if got := seen.Load(); got != 2 {
		t.Errorf("the wrapper saw %d requests; want 2", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestVirtualHostAddressing: with PathStyle false the bucket is in the host
// name, for the service's calls and for the URLs it hands out.
func TestVirtualHostAddressing(t *testing.T) {
	f := newFakeS3(t, testCredentials)
	// Any host name reaches the fake, as DNS would send bucket.s3.test to
	// the store.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, f.url.Host)
	}
	endpoint := mustParse(t, "http://s3.test:"+f.url.Port())
	c, err := s3.New(s3.Config{Endpoint: endpoint, Bucket: testBucket, Region: testRegion, PostPolicy: true,
		Credentials: testCredentials, Transport: &http.Transport{DialContext: dial}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Put(ctx, "avatars/u1/avatar", pngBytes, storage.PutSpec{ContentType: "image/png"}); err != nil {
		t.Fatal(err)
	}
	wantHost := testBucket + ".s3.test:" + f.url.Port()
	if r := f.last(); r.host != wantHost || r.path != "/avatars/u1/avatar" {
		t.Errorf("Put went to %s%s; want %s/avatars/u1/avatar", r.host, r.path, wantHost)
	}
	if info, _, err := c.Peek(ctx, "avatars/u1/avatar", 8); err != nil || info.Size != int64(len(pngBytes)) {
		t.Errorf("Peek = %+v, %v", info, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if got, want := c.ObjectURL("avatars/u1/avatar"), "http://"+wantHost+"/avatars/u1/avatar"; got != want {
		t.Errorf("ObjectURL = %s; want %s", got, want)
	}
	s, err := c.SignUpload(ctx, uploadSpec("uploads/u1/k.png", 10))
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://" + wantHost + "/"; s.PostURL != want || !strings.HasPrefix(s.PutURL, want+"uploads/u1/k.png?") {
		t.Errorf("POST %s, PUT %s; want both at %s", s.PostURL, s.PutURL, want)
	}
}
