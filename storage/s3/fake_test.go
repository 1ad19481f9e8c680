package s3_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/s3"
)

// fakeS3 is a small S3 bucket on loopback for the client's tests: objects
// in memory, GET (with a Range), PUT, DELETE, HEAD bucket, every request
// verified with the tests' own SigV4 reading (sigv4_test.go) against the
// keys it accepts, and S3's XML errors. It records what it receives, and a
// test can answer in its place (faults, error codes). The uploads a mini
// program makes (POST forms, presigned PUTs) are checked against the local
// object server's S3 mode instead, which is a whole S3 of its own.
type fakeS3 struct {
	bucket  string
	secrets atomic.Pointer[map[string]string]
	// answer, when set, answers every request instead of the bucket.
	answer atomic.Pointer[http.HandlerFunc]
	srv    *httptest.Server
	url    *url.URL

	mu       sync.Mutex
	objects  map[string]fakeObject
	received []fakeRequest
}

type fakeObject struct {
	data                            []byte
	contentType, cacheControl, etag string
	class                           string
}

type fakeRequest struct {
	method, path, host, rawQuery string
	header                       http.Header
	body                         []byte
	keyID                        string // who signed it, "" if unsigned
}

func newFakeS3(t *testing.T, creds ...storage.Credentials) *fakeS3 {
	t.Helper()
	f := &fakeS3{bucket: testBucket, objects: map[string]fakeObject{}}
	f.accept(creds...)
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	f.url = mustParse(t, f.srv.URL)
	return f
}

// accept replaces the keys the bucket accepts.
func (f *fakeS3) accept(creds ...storage.Credentials) {
	m := secretsOf(creds...)
	f.secrets.Store(&m)
}

// answerWith makes h answer every request; nil restores the bucket.
func (f *fakeS3) answerWith(h http.HandlerFunc) {
	if h == nil {
		f.answer.Store(nil)
		return
	}
	f.answer.Store(&h)
}

func (f *fakeS3) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.received...)
}

func (f *fakeS3) last() fakeRequest {
	r := f.requests()
	return r[len(r)-1]
}

func (f *fakeS3) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.received = nil
}

func (f *fakeS3) seed(key string, o fakeObject) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = o
}

// s3Error writes S3's error document.
func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	xml.NewEncoder(w).Encode(struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
	}{Code: code, Message: "fake " + code, RequestID: "fake"})
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rec := fakeRequest{method: r.Method, path: r.URL.Path, host: r.Host, rawQuery: r.URL.RawQuery, header: r.Header.Clone(), body: body}
	var verr error
	if r.Header.Get("Authorization") != "" {
		rec.keyID, verr = verifyHeaderSigned(r, body, *f.secrets.Load())
	}
	f.mu.Lock()
	f.received = append(f.received, rec)
	f.mu.Unlock()
	if h := f.answer.Load(); h != nil {
		(*h)(w, r)
		return
	}

	var key string
	if strings.HasPrefix(r.Host, f.bucket+".") { // virtual-host addressing
		key = strings.TrimPrefix(r.URL.Path, "/")
	} else if rest, ok := strings.CutPrefix(r.URL.Path, "/"+f.bucket); ok && (rest == "" || rest[0] == '/') {
		key = strings.TrimPrefix(rest, "/")
	} else {
		s3Error(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	switch {
	case r.Header.Get("Authorization") == "":
		s3Error(w, http.StatusForbidden, "AccessDenied")
		return
	case verr != nil && strings.HasPrefix(verr.Error(), "unknown key id"):
		s3Error(w, http.StatusForbidden, "InvalidAccessKeyId")
		return
	case verr != nil:
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch")
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	o, found := f.objects[key]
	switch {
	case key == "" && r.Method == http.MethodHead:
		w.WriteHeader(http.StatusOK)
	case key == "":
		s3Error(w, http.StatusNotImplemented, "NotImplemented")
	case r.Method == http.MethodPut:
		sum := md5.Sum(body)
		o := fakeObject{data: body, contentType: r.Header.Get("Content-Type"), cacheControl: r.Header.Get("Cache-Control"),
			etag: hex.EncodeToString(sum[:]), class: r.Header.Get("X-Amz-Storage-Class")}
		if o.class == "" {
			o.class = storage.StandardClass
		}
		f.objects[key] = o
		w.Header().Set("ETag", `"`+o.etag+`"`)
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodDelete:
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && !found:
		s3Error(w, http.StatusNotFound, "NoSuchKey")
	case r.Method == http.MethodGet:
		h := w.Header()
		h.Set("ETag", `"`+o.etag+`"`)
		h.Set("Content-Type", o.contentType)
		h.Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		if o.cacheControl != "" {
			h.Set("Cache-Control", o.cacheControl)
		}
		// S3 names the class only when it is not STANDARD.
		if o.class != storage.StandardClass {
			h.Set("X-Amz-Storage-Class", o.class)
		}
		rng := r.Header.Get("Range")
		if rng == "" {
			h.Set("Content-Length", strconv.Itoa(len(o.data)))
			w.Write(o.data)
			return
		}
		var first, last int
		if _, err := fmt.Sscanf(rng, "bytes=%d-%d", &first, &last); err != nil || first > last {
			s3Error(w, http.StatusBadRequest, "InvalidArgument")
			return
		}
		if first >= len(o.data) {
			s3Error(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange")
			return
		}
		last = min(last, len(o.data)-1)
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(o.data)))
		h.Set("Content-Length", strconv.Itoa(last-first+1))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(o.data[first : last+1])
	default:
		s3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed")
	}
}

// newClient is a client of f's bucket, path-style, signing with cred.
func newClient(t *testing.T, f *fakeS3, cred storage.Credentials) *s3.Client {
	t.Helper()
	c, err := s3.New(s3.Config{Endpoint: f.url, Bucket: f.bucket, Region: testRegion, PathStyle: true,
		PostPolicy: true, Credentials: cred, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
