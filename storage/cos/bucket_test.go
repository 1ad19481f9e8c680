package cos_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/wxavatar/wxavatar/localcos"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/cos"
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
func (b *testBucket) client(cred storage.Credentials) *cossdk.Client {
	return cossdk.NewClient(&cossdk.BaseURL{BucketURL: b.url}, &http.Client{
		Transport: &cossdk.AuthorizationTransport{
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

func newClientFor(t *testing.T, b *testBucket, cred storage.Credentials) *cos.Client {
	t.Helper()
	c, err := cos.NewClient(cos.Config{Bucket: testBucketName, BucketURL: b.url, Credentials: cred, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
