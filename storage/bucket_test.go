package storage_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
)

// The client and the signers are tested against the local object server
// (package localcos), whose verifier is its own reading of the COS protocol:
// a mistake in the signer cannot hide behind the same mistake in the
// verifier.

const testBucketName = "wxavatar-1250000000"

var testCredentials = storage.Credentials{SecretID: "AKIDlocaltest", SecretKey: "local-test-secret-key"}

// testBucket is a local object server behind a loopback HTTP server, with
// the accepted credentials swappable at run time.
type testBucket struct {
	srv   *httptest.Server
	url   *url.URL
	dir   string
	creds atomic.Pointer[[]storage.Credentials]
}

func newTestBucket(t *testing.T, cfg localcos.Config, creds ...storage.Credentials) *testBucket {
	t.Helper()
	if len(creds) == 0 {
		creds = []storage.Credentials{testCredentials}
	}
	b := &testBucket{dir: t.TempDir()}
	b.creds.Store(&creds)
	cfg.Dir = b.dir
	cfg.Bucket = testBucketName
	cfg.Credentials = func() []localcos.Key { return localKeys(*b.creds.Load()) }
	s, err := localcos.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(s)
	t.Cleanup(b.srv.Close)
	b.url, err = url.Parse(b.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// localKeys are creds as the local object server takes them.
func localKeys(creds []storage.Credentials) []localcos.Key {
	keys := make([]localcos.Key, len(creds))
	for i, c := range creds {
		keys[i] = localcos.Key{SecretID: c.SecretID, SecretKey: c.SecretKey, SessionToken: c.SessionToken}
	}
	return keys
}

// client is cos-go-sdk-v5 pointed at the bucket, signing with cred.
func (b *testBucket) client(cred storage.Credentials) *cos.Client {
	return cos.NewClient(&cos.BaseURL{BucketURL: b.url}, &http.Client{
		Transport: &cos.AuthorizationTransport{
			SecretID: cred.SecretID, SecretKey: cred.SecretKey, SessionToken: cred.SessionToken,
		},
	})
}

// assertNoTempFiles checks that failed uploads left nothing behind in the
// server's folder.
func (b *testBucket) assertNoTempFiles(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(b.dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("temporary files left behind: got %d; want 0", len(entries))
	}
}

func newClientFor(t *testing.T, b *testBucket, cred storage.Credentials) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(storage.Config{Bucket: testBucketName, BucketURL: b.url, Credentials: cred, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// plainClient is net/http without COS signing; it reports redirects rather
// than following them.
var plainClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func mustRequest(t *testing.T, method, target string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// cosErrorOf reads a COS error document from a plain HTTP response.
func cosErrorOf(t *testing.T, resp *http.Response) (code string) {
	t.Helper()
	code, _ = cosErrorDoc(t, resp)
	return code
}

// cosErrorDoc reads a COS error document from a plain HTTP response, checking
// that it is one as COS writes it: XML with its declaration, the request id
// of the header, a message.
func cosErrorDoc(t *testing.T, resp *http.Response) (code, message string) {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode < 400 || resp.Request.Method == http.MethodHead {
		return "", "" // HEAD answers carry no body, so no code
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/xml"; got != want {
		t.Errorf("error Content-Type: got %q; want %q", got, want)
	}
	if !bytes.HasPrefix(raw, []byte("<?xml version='1.0' encoding='utf-8' ?>")) {
		t.Errorf("error body: got %q; want the COS XML declaration first", raw)
	}
	var doc struct {
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	if id := resp.Header.Get("x-cos-request-id"); id == "" || id != doc.RequestID {
		t.Errorf("request id: got header %q, body %q; want equal and non-empty", id, doc.RequestID)
	}
	if doc.Message == "" {
		t.Errorf("error %s has an empty Message", doc.Code)
	}
	return doc.Code, doc.Message
}
