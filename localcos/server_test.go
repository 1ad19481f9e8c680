package localcos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/wxavatar/wxavatar/internal/testutil"
)

const testBucketName = "wxavatar-1250000000"

var testCredentials = Key{SecretID: "AKIDlocaltest", SecretKey: "local-test-secret-key"}

// testBucket is a Server behind a loopback HTTP server, with the
// accepted credentials swappable at run time.
type testBucket struct {
	srv      *httptest.Server
	url      *url.URL
	dir      string
	protocol Protocol
	creds    atomic.Pointer[[]Key]
}

func newTestBucket(t *testing.T, cfg Config, creds ...Key) *testBucket {
	t.Helper()
	if len(creds) == 0 {
		creds = []Key{testCredentials}
	}
	b := &testBucket{dir: t.TempDir(), protocol: cfg.Protocol}
	if b.protocol == "" {
		b.protocol = ProtocolCOS
	}
	switch {
	case cfg.Region != "":
	case cfg.Protocol == ProtocolS3:
		cfg.Region = testRegion
	case cfg.Protocol == ProtocolOSS:
		cfg.Region = ossSDKRegion
	}
	b.creds.Store(&creds)
	cfg.Dir = b.dir
	cfg.Bucket = testBucketName
	cfg.Credentials = func() []Key { return *b.creds.Load() }
	s, err := New(cfg)
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

// client is cos-go-sdk-v5 pointed at the bucket, signing with cred.
func (b *testBucket) client(cred Key) *cos.Client {
	return cos.NewClient(&cos.BaseURL{BucketURL: b.url}, &http.Client{
		Transport: &cos.AuthorizationTransport{
			SecretID: cred.SecretID, SecretKey: cred.SecretKey, SessionToken: cred.SessionToken,
		},
	})
}

// assertNoTempFiles checks that failed uploads left nothing behind.
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

// cosCode is the COS error code and HTTP status of an SDK error.
func cosCode(t *testing.T, err error) (string, int) {
	t.Helper()
	if err == nil {
		return "", 0
	}
	var cerr *cos.ErrorResponse
	if !errors.As(err, &cerr) || cerr.Response == nil {
		t.Fatalf("error %v is not a *cos.ErrorResponse", err)
	}
	return cerr.Code, cerr.Response.StatusCode
}

func TestLocalServerRoundTrip(t *testing.T) {
	b := newTestBucket(t, Config{})
	c := b.client(testCredentials)
	ctx := context.Background()
	keys := []string{
		"plain.txt",
		"avatars/u1/up1.png",
		"with space.txt",
		"腾讯云/头像.jpg",
		"paren(1).png",
		"percent%41 plus+ and&eq=.txt",
		"q?x#y*'!~.txt",
		"folder/",
	}
	for i, key := range keys {
		t.Run(key, func(t *testing.T) {
			data := bytes.Repeat([]byte{byte(i), 0xff, '\n', 0}, 300+i)
			_, err := c.Object.Put(ctx, key, bytes.NewReader(data), &cos.ObjectPutOptions{
				ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{ContentType: "image/png"}})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			sum := md5.Sum(data)
			wantETag := `"` + hex.EncodeToString(sum[:]) + `"`

			head, err := c.Object.Head(ctx, key, nil)
			if err != nil {
				t.Fatalf("Head: %v", err)
			}
			for _, h := range []struct{ name, want string }{
				{"Content-Length", fmt.Sprint(len(data))},
				{"Content-Type", "image/png"},
				{"ETag", wantETag},
				{"X-Content-Type-Options", "nosniff"},
			} {
				if got := head.Header.Get(h.name); got != h.want {
					t.Errorf("Head %s: got %q; want %q", h.name, got, h.want)
				}
			}
			if head.Header.Get("Last-Modified") == "" {
				t.Errorf("Head Last-Modified: got none; want a date")
			}

			get, err := c.Object.Get(ctx, key, nil)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			got, err := io.ReadAll(get.Body)
			get.Body.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("Get: got %d bytes (%v); want the %d bytes put", len(got), err, len(data))
			}

			ranged, err := c.Object.Get(ctx, key, &cos.ObjectGetOptions{Range: "bytes=10-19"})
			if err != nil {
				t.Fatalf("Get Range: %v", err)
			}
			got, err = io.ReadAll(ranged.Body)
			ranged.Body.Close()
			if ranged.StatusCode != http.StatusPartialContent || err != nil || !bytes.Equal(got, data[10:20]) {
				t.Errorf("Get Range: got %d %q (%v); want 206 %q", ranged.StatusCode, got, err, data[10:20])
			}

			// Objects are public: a plain unsigned GET of the SDK's URL works.
			resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, c.Object.GetObjectURL(key).String(), nil))
			got, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
				t.Errorf("public GET: got %d, %d bytes; want 200, %d bytes", resp.StatusCode, len(got), len(data))
			}

			if _, err := c.Object.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := c.Object.Head(ctx, key, nil); !cos.IsNotFoundError(err) {
				t.Errorf("Head after Delete: got %v; want not found", err)
			}
			_, err = c.Object.Get(ctx, key, nil)
			if code, status := cosCode(t, err); code != "NoSuchKey" || status != http.StatusNotFound {
				t.Errorf("Get after Delete: got %d %s; want 404 NoSuchKey", status, code)
			}
			// Deleting what is gone still succeeds, like COS.
			if _, err := c.Object.Delete(ctx, key); err != nil {
				t.Errorf("second Delete: got %v; want success", err)
			}
		})
	}
	b.assertNoTempFiles(t)
}

func TestLocalServerRefusesBadSignatures(t *testing.T) {
	temporary := Key{SecretID: "AKIDtemporary", SecretKey: "temporary-key", SessionToken: "sts-token"}
	b := newTestBucket(t, Config{}, testCredentials, temporary)
	ctx := context.Background()
	if _, err := b.client(testCredentials).Object.Put(ctx, "public.txt", strings.NewReader("public"), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		cred       Key
		op         string // put, get, delete
		wantCode   string
		wantStatus int
	}{
		{"wrong SecretKey put", Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, "put", "SignatureDoesNotMatch", 403},
		{"wrong SecretKey delete", Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, "delete", "SignatureDoesNotMatch", 403},
		{"wrong SecretKey on a public get", Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, "get", "SignatureDoesNotMatch", 403},
		{"unknown SecretId", Key{SecretID: "AKIDunknown", SecretKey: "x"}, "put", "InvalidAccessKeyId", 403},
		{"temporary key without token", Key{SecretID: temporary.SecretID, SecretKey: temporary.SecretKey}, "put", "AccessDenied", 403},
		{"temporary key, other token", Key{SecretID: temporary.SecretID, SecretKey: temporary.SecretKey, SessionToken: "old"}, "put", "AccessDenied", 403},
		{"temporary key with token", temporary, "put", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := b.client(tt.cred)
			var err error
			switch tt.op {
			case "put":
				_, err = c.Object.Put(ctx, "written.txt", strings.NewReader("data"), nil)
			case "get":
				var resp *cos.Response
				if resp, err = c.Object.Get(ctx, "public.txt", nil); err == nil {
					resp.Body.Close()
				}
			case "delete":
				_, err = c.Object.Delete(ctx, "public.txt")
			}
			if code, status := cosCode(t, err); code != tt.wantCode || status != tt.wantStatus {
				t.Errorf("%s: got %d %q; want %d %q", tt.op, status, code, tt.wantStatus, tt.wantCode)
			}
		})
	}
	// Nothing a refused request touched changed.
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.srv.URL+"/public.txt", nil))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "public" {
		t.Errorf("public.txt after refused deletes: got %q; want %q", got, "public")
	}

	unsigned := []struct {
		method, path string
		wantStatus   int
		wantCode     string
	}{
		{http.MethodPut, "/k", 403, "AccessDenied"},
		{http.MethodDelete, "/public.txt", 403, "AccessDenied"},
		{http.MethodHead, "/", 403, ""},
		{http.MethodPost, "/", 400, "MalformedPOSTRequest"},
		{http.MethodPatch, "/k", 405, "MethodNotAllowed"},
		{http.MethodGet, "/", 405, "MethodNotAllowed"},
		{http.MethodGet, "/missing", 404, "NoSuchKey"},
	}
	for _, tt := range unsigned {
		resp := testutil.Do(t, testutil.MustRequest(t, tt.method, b.srv.URL+tt.path, strings.NewReader("x")))
		if got := testutil.COSErrorCode(t, resp); resp.StatusCode != tt.wantStatus || got != tt.wantCode {
			t.Errorf("unsigned %s %s: got %d %q; want %d %q", tt.method, tt.path, resp.StatusCode, got, tt.wantStatus, tt.wantCode)
		}
	}
	b.assertNoTempFiles(t)
}

func TestLocalServerBucketHead(t *testing.T) {
	b := newTestBucket(t, Config{})
	if _, err := b.client(testCredentials).Bucket.Head(context.Background()); err != nil {
		t.Errorf("Bucket.Head: got %v; want success", err)
	}
	_, err := b.client(Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}).Bucket.Head(context.Background())
	if _, status := cosCode(t, err); status != http.StatusForbidden {
		t.Errorf("Bucket.Head with a wrong key: got %d; want 403", status)
	}
}

func TestLocalServerKeyRotation(t *testing.T) {
	older := Key{SecretID: "AKIDolder", SecretKey: "older-key"}
	newer := Key{SecretID: "AKIDnewer", SecretKey: "newer-key"}
	b := newTestBucket(t, Config{}, older, newer)
	ctx := context.Background()
	transport := &cos.AuthorizationTransport{SecretID: older.SecretID, SecretKey: older.SecretKey}
	c := cos.NewClient(&cos.BaseURL{BucketURL: b.url}, &http.Client{Transport: transport})
	if _, err := c.Object.Put(ctx, "k", strings.NewReader("1"), nil); err != nil {
		t.Fatalf("Put with the older key: %v", err)
	}
	transport.SetCredential(newer.SecretID, newer.SecretKey, "")
	if _, err := c.Object.Put(ctx, "k", strings.NewReader("2"), nil); err != nil {
		t.Fatalf("Put with the newer key: %v", err)
	}
	b.creds.Store(&[]Key{newer}) // the older key is retired
	_, err := b.client(older).Object.Put(ctx, "k", strings.NewReader("3"), nil)
	if code, _ := cosCode(t, err); code != "InvalidAccessKeyId" {
		t.Errorf("Put with a retired key: got %q; want InvalidAccessKeyId", code)
	}
}

func TestLocalServerPresignedPut(t *testing.T) {
	temporary := Key{SecretID: "AKIDtemporary", SecretKey: "temporary-key", SessionToken: "sts-token"}
	b := newTestBucket(t, Config{}, testCredentials, temporary)
	c := cos.NewClient(&cos.BaseURL{BucketURL: b.url}, nil)
	const key = "avatars/u 1/(up1)腾讯.png"
	presign := func(t *testing.T, cred Key, start, end time.Time) string {
		t.Helper()
		header := http.Header{}
		header.Set("Content-Type", "image/png")
		opt := &cos.PresignedURLOptions{Header: &header,
			AuthTime: &cos.AuthTime{SignStartTime: start, SignEndTime: end, KeyStartTime: start, KeyEndTime: end}}
		if cred.SessionToken != "" {
			q := url.Values{}
			q.Set("x-cos-security-token", cred.SessionToken)
			opt.Query = &q
		}
		u, err := c.Object.GetPresignedURL(context.Background(), http.MethodPut, key,
			cred.SecretID, cred.SecretKey, end.Sub(start), opt)
		if err != nil {
			t.Fatal(err)
		}
		return u.String()
	}
	now := time.Now()
	tests := []struct {
		name        string
		cred        Key
		start, end  time.Time
		contentType string
		tamper      func(string) string
		wantStatus  int
		wantCode    string
	}{
		{name: "valid", cred: testCredentials, contentType: "image/png", wantStatus: 200},
		{name: "valid with STS token", cred: temporary, contentType: "image/png", wantStatus: 200},
		{name: "tampered path", cred: testCredentials, contentType: "image/png", wantStatus: 403, wantCode: "SignatureDoesNotMatch",
			tamper: func(u string) string { return strings.Replace(u, "up1", "up2", 1) }},
		{name: "tampered Content-Type", cred: testCredentials, contentType: "text/html", wantStatus: 403, wantCode: "SignatureDoesNotMatch"},
		{name: "tampered signature", cred: testCredentials, contentType: "image/png", wantStatus: 403, wantCode: "SignatureDoesNotMatch",
			tamper: func(u string) string {
				return u[:len(u)-1] + map[bool]string{true: "0", false: "1"}[u[len(u)-1] != '0']
			}},
		{name: "expired", cred: testCredentials, contentType: "image/png", wantStatus: 403, wantCode: "AccessDenied",
			start: now.Add(-2 * time.Hour), end: now.Add(-time.Hour)},
		{name: "not yet valid", cred: testCredentials, contentType: "image/png", wantStatus: 403, wantCode: "AccessDenied",
			start: now.Add(time.Hour), end: now.Add(2 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := tt.start, tt.end
			if start.IsZero() {
				start, end = now.Add(-time.Minute), now.Add(10*time.Minute)
			}
			target := presign(t, tt.cred, start, end)
			if tt.tamper != nil {
				target = tt.tamper(target)
			}
			req := testutil.MustRequest(t, http.MethodPut, target, strings.NewReader("png bytes"))
			req.Header.Set("Content-Type", tt.contentType)
			resp := testutil.Do(t, req)
			if code := testutil.COSErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
				t.Fatalf("presigned PUT: got %d %q; want %d %q", resp.StatusCode, code, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus != 200 {
				return
			}
			head, err := b.client(testCredentials).Object.Head(context.Background(), key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := head.Header.Get("Content-Type"); got != "image/png" {
				t.Errorf("stored Content-Type: got %q; want image/png", got)
			}
		})
	}
	b.assertNoTempFiles(t)
}

func TestLocalServerPutLimits(t *testing.T) {
	b := newTestBucket(t, Config{MaxObjectBytes: 16})
	c := b.client(testCredentials)
	ctx := context.Background()
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) } // no length: the SDK streams it chunked
	tests := []struct {
		name       string
		key        string
		body       io.Reader
		md5        string
		wantCode   string
		wantStatus int
	}{
		{name: "at the limit", key: "k", body: strings.NewReader(strings.Repeat("x", 16))},
		{name: "over the limit", key: "k", body: strings.NewReader(strings.Repeat("x", 17)), wantCode: "EntityTooLarge", wantStatus: 400},
		{name: "chunked at the limit", key: "k", body: chunked(strings.Repeat("y", 16))},
		{name: "chunked over the limit", key: "k", body: chunked(strings.Repeat("y", 17)), wantCode: "EntityTooLarge", wantStatus: 400},
		{name: "empty", key: "empty", body: strings.NewReader("")},
		{name: "Content-MD5 matches", key: "k", body: strings.NewReader("abc"), md5: "kAFQmDzST7DWlj99KOF/cg=="},
		{name: "Content-MD5 differs", key: "k", body: strings.NewReader("abd"), md5: "kAFQmDzST7DWlj99KOF/cg==", wantCode: "BadDigest", wantStatus: 400},
		{name: "Content-MD5 garbled", key: "k", body: strings.NewReader("abc"), md5: "not md5", wantCode: "InvalidDigest", wantStatus: 400},
		{name: "longest key", key: strings.Repeat("k", 850), body: strings.NewReader("x")},
		{name: "key too long", key: strings.Repeat("k", 851), body: strings.NewReader("x"), wantCode: "KeyTooLong", wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Object.Put(ctx, tt.key, tt.body, &cos.ObjectPutOptions{
				ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{ContentMD5: tt.md5}})
			if code, status := cosCode(t, err); code != tt.wantCode || status != tt.wantStatus {
				t.Errorf("Put: got %d %q; want %d %q", status, code, tt.wantStatus, tt.wantCode)
			}
		})
	}
	b.assertNoTempFiles(t)
}

// TestLocalServerRequiresContentLength sends a signed PUT with neither
// Content-Length nor chunked encoding, which net/http's client never does.
func TestLocalServerRequiresContentLength(t *testing.T) {
	for _, proto := range protocols {
		t.Run(string(proto), func(t *testing.T) { testRequiresContentLength(t, proto) })
	}
}

func testRequiresContentLength(t *testing.T, proto Protocol) {
	b := newProtocolBucket(t, proto, Config{})
	req := b.signedPut(t, "k", nil, nil)
	conn, err := net.Dial("tcp", b.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "PUT %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", req.URL.EscapedPath(), req.Host)
	req.Header.Del("Host")
	if err := req.Header.Write(&raw); err != nil {
		t.Fatal(err)
	}
	raw.WriteString("\r\n")
	if _, err := conn.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	if code := b.errorCode(t, resp); resp.StatusCode != http.StatusLengthRequired || code != "MissingContentLength" {
		t.Errorf("PUT without length: got %d %q; want 411 MissingContentLength", resp.StatusCode, code)
	}
}

// TestLocalServerConcurrentPuts races writers of one key against readers:
// every read must see one whole object whose bytes match its ETag.
func TestLocalServerConcurrentPuts(t *testing.T) {
	for _, proto := range protocols {
		t.Run(string(proto), func(t *testing.T) { testConcurrentPuts(t, proto) })
	}
}

func testConcurrentPuts(t *testing.T, proto Protocol) {
	b := newProtocolBucket(t, proto, Config{})
	b.put(t, "hot", []byte("seed"), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 8 {
				body := bytes.Repeat([]byte{byte('a' + w)}, 1000*(w+1)+i)
				resp, err := http.DefaultClient.Do(b.signedPut(t, "hot", body, nil))
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("PUT: status %d", resp.StatusCode)
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 16 {
				resp, err := http.Get(b.objectURL("hot"))
				if err != nil {
					errs <- err
					continue
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := b.etagOf(got); err != nil || resp.Header.Get("ETag") != want {
					errs <- fmt.Errorf("torn read: got ETag %s for %d bytes (%v); want %s", resp.Header.Get("ETag"), len(got), err, want)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b.assertNoTempFiles(t)
}

// POST Object.

// formField is one multipart field, in the order sent.
type formField struct{ name, value string }

// signedPostForm builds the policy fields of a POST form the way Tencent's
// documentation does, with its own HMAC (independent of the server's code).
func signedPostForm(t *testing.T, cred Key, keyTime string, expiration time.Time, conditions ...any) []formField {
	t.Helper()
	policy, err := json.Marshal(map[string]any{
		"expiration": expiration.UTC().Format("2006-01-02T15:04:05.000Z"),
		"conditions": conditions,
	})
	if err != nil {
		t.Fatal(err)
	}
	return signedPolicyText(cred, keyTime, string(policy))
}

func signedPolicyText(cred Key, keyTime, policy string) []formField {
	hexHMAC := func(key, msg string) string {
		m := hmac.New(sha1.New, []byte(key))
		m.Write([]byte(msg))
		return hex.EncodeToString(m.Sum(nil))
	}
	sum := sha1.Sum([]byte(policy))
	fields := []formField{
		{"policy", base64.StdEncoding.EncodeToString([]byte(policy))},
		{"q-sign-algorithm", "sha1"},
		{"q-ak", cred.SecretID},
		{"q-key-time", keyTime},
		{"q-signature", hexHMAC(hexHMAC(cred.SecretKey, keyTime), hex.EncodeToString(sum[:]))},
	}
	if cred.SessionToken != "" {
		fields = append(fields, formField{"x-cos-security-token", cred.SessionToken})
	}
	return fields
}

// postForm sends fields, then the file part (unless file is nil), then after.
func (b *testBucket) postForm(t *testing.T, fields []formField, filename string, file []byte, after ...formField) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range fields {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	for _, f := range after {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req := testutil.MustRequest(t, http.MethodPost, b.srv.URL+"/", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return testutil.Do(t, req)
}

func TestLocalServerPostObject(t *testing.T) {
	now := time.Unix(1700000000, 0)
	temporary := Key{SecretID: "AKIDtemporary", SecretKey: "temporary-key", SessionToken: "sts-token"}
	b := newTestBucket(t, Config{Now: func() time.Time { return now }}, testCredentials, temporary)
	keyTime := fmt.Sprintf("%d;%d", now.Add(-time.Minute).Unix(), now.Add(10*time.Minute).Unix())
	expiration := now.Add(10 * time.Minute)
	const key = "avatars/u1/up1.png"
	pinned := func(extra ...any) []any {
		return append([]any{
			map[string]string{"bucket": testBucketName},
			[]string{"eq", "$key", key},
			[]string{"eq", "$Content-Type", "image/png"},
			[]any{"content-length-range", 1, 1024},
			map[string]string{"q-sign-algorithm": "sha1"},
			map[string]string{"q-sign-time": keyTime},
		}, extra...)
	}
	form := func(cred Key, conditions []any, extra ...formField) []formField {
		fields := append([]formField{{"key", key}, {"Content-Type", "image/png"}},
			signedPostForm(t, cred, keyTime, expiration, conditions...)...)
		return append(fields, extra...)
	}
	png := bytes.Repeat([]byte("p"), 100)
	tests := []struct {
		name       string
		fields     []formField
		filename   string
		file       []byte
		after      []formField
		wantStatus int
		wantCode   string
		wantKey    string // stored under this key on success; default key
	}{
		{name: "default 204", fields: form(testCredentials, pinned()), file: png, wantStatus: 204},
		{name: "success_action_status 200", wantStatus: 200, file: png,
			fields: form(testCredentials, pinned(map[string]string{"success_action_status": "200"}), formField{"success_action_status", "200"})},
		{name: "success_action_status 201", wantStatus: 201, file: png,
			fields: form(testCredentials, pinned(map[string]string{"success_action_status": "201"}), formField{"success_action_status", "201"})},
		{name: "unknown success_action_status", wantStatus: 204, file: png,
			fields: form(testCredentials, pinned(map[string]string{"success_action_status": "302"}), formField{"success_action_status", "302"})},
		{name: "success_action_redirect", wantStatus: 303, file: png,
			fields: form(testCredentials, pinned([]string{"starts-with", "$success_action_redirect", "https://example.com/"}),
				formField{"success_action_redirect", "https://example.com/done?x=1"})},
		{name: "field names in any case", wantStatus: 204, file: png,
			fields: upperNames(form(testCredentials, pinned()))},
		{name: "parts after the file are ignored", wantStatus: 204, file: png,
			fields: form(testCredentials, pinned()), after: []formField{{"key", "elsewhere.png"}}},
		{name: "${filename}", wantStatus: 204, file: png, filename: "me.png", wantKey: "avatars/u1/me.png",
			fields: append([]formField{{"key", "avatars/u1/${filename}"}, {"Content-Type", "image/png"}},
				signedPostForm(t, testCredentials, keyTime, expiration, []string{"starts-with", "$key", "avatars/u1/"},
					[]string{"eq", "$Content-Type", "image/png"})...)},
		{name: "STS token", wantStatus: 204, file: png,
			fields: form(temporary, pinned(map[string]string{"x-cos-security-token": temporary.SessionToken}))},
		{name: "STS token missing", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: dropField(form(temporary, pinned()), "x-cos-security-token")},
		{name: "STS token of another session", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: form(Key{SecretID: temporary.SecretID, SecretKey: temporary.SecretKey, SessionToken: "old"}, pinned())},
		{name: "bad signature", wantStatus: 403, wantCode: "SignatureDoesNotMatch", file: png,
			fields: form(Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, pinned())},
		{name: "unknown SecretId", wantStatus: 403, wantCode: "InvalidAccessKeyId", file: png,
			fields: form(Key{SecretID: "AKIDunknown", SecretKey: "x"}, pinned())},
		{name: "no policy", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: dropField(form(testCredentials, pinned()), "policy")},
		{name: "no signature", wantStatus: 403, wantCode: "SignatureDoesNotMatch", file: png,
			fields: dropField(form(testCredentials, pinned()), "q-signature")},
		{name: "policy not JSON", wantStatus: 400, wantCode: "InvalidPolicyDocument", file: png,
			fields: append([]formField{{"key", key}}, signedPolicyText(testCredentials, keyTime, "{not json")...)},
		{name: "expired policy", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: append([]formField{{"key", key}, {"Content-Type", "image/png"}},
				signedPostForm(t, testCredentials, keyTime, now.Add(-time.Second), pinned()...)...)},
		{name: "expired key time", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: append([]formField{{"key", key}, {"Content-Type", "image/png"}},
				signedPostForm(t, testCredentials, fmt.Sprintf("%d;%d", now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()), expiration)...)},
		{name: "oversize", wantStatus: 400, wantCode: "EntityTooLarge", file: bytes.Repeat([]byte("p"), 1025),
			fields: form(testCredentials, pinned())},
		{name: "empty", wantStatus: 400, wantCode: "EntityTooSmall", file: []byte{},
			fields: form(testCredentials, pinned())},
		{name: "Content-Type against eq", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: replaceField(form(testCredentials, pinned()), "Content-Type", "image/gif")},
		{name: "restricted field missing", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: form(testCredentials, pinned([]string{"eq", "$x-cos-meta-owner", "u1"}))},
		{name: "key outside the pinned key", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: replaceField(form(testCredentials, pinned()), "key", "avatars/u2/up1.png")},
		{name: "${filename} outside the pinned key", wantStatus: 403, wantCode: "AccessDenied", file: png, filename: "evil.png",
			fields: replaceField(form(testCredentials, pinned()), "key", "${filename}")},
		{name: "other bucket", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: append([]formField{{"key", key}}, signedPostForm(t, testCredentials, keyTime, expiration,
				map[string]string{"bucket": "other-1250000000"})...)},
		{name: "q-sign-time condition differs", wantStatus: 403, wantCode: "AccessDenied", file: png,
			fields: append([]formField{{"key", key}}, signedPostForm(t, testCredentials, keyTime, expiration,
				map[string]string{"q-sign-time": "1;2"})...)},
		{name: "no key", wantStatus: 400, wantCode: "InvalidArgument", file: png,
			fields: dropField(form(testCredentials, pinned()), "key")},
		{name: "no file", wantStatus: 400, wantCode: "InvalidArgument",
			fields: form(testCredentials, pinned())},
		{name: "field repeated", wantStatus: 400, wantCode: "InvalidArgument", file: png,
			fields: form(testCredentials, pinned(), formField{"KEY", key})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filename := tt.filename
			if filename == "" {
				filename = "upload.png"
			}
			resp := b.postForm(t, tt.fields, filename, tt.file, tt.after...)
			header := resp.Header
			var body []byte
			if resp.StatusCode < 300 {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if code := testutil.COSErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
				t.Fatalf("POST: got %d %q; want %d %q", resp.StatusCode, code, tt.wantStatus, tt.wantCode)
			}
			storedKey := tt.wantKey
			if storedKey == "" {
				storedKey = key
			}
			if tt.wantStatus >= 400 {
				return
			}
			checkPostSuccess(t, b, tt.wantStatus, header, body, storedKey, tt.file)
		})
	}
	b.assertNoTempFiles(t)

	// Refused uploads stored nothing.
	for _, k := range []string{"avatars/u2/up1.png", "evil.png", "elsewhere.png"} {
		resp := testutil.Do(t, testutil.MustRequest(t, http.MethodHead, b.srv.URL+"/"+k, nil))
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("HEAD %s: got %d; want 404", k, resp.StatusCode)
		}
	}
}

func checkPostSuccess(t *testing.T, b *testBucket, status int, header http.Header, body []byte, key string, file []byte) {
	t.Helper()
	sum := md5.Sum(file)
	wantETag := `"` + hex.EncodeToString(sum[:]) + `"`
	if got := header.Get("ETag"); got != wantETag {
		t.Errorf("ETag: got %q; want %q", got, wantETag)
	}
	wantLocation := b.srv.URL + "/" + (&url.URL{Path: key}).EscapedPath()
	switch status {
	case http.StatusSeeOther:
		loc, err := url.Parse(header.Get("Location"))
		if err != nil || loc.Host != "example.com" || loc.Query().Get("key") != key ||
			loc.Query().Get("bucket") != testBucketName || loc.Query().Get("etag") != wantETag || loc.Query().Get("x") != "1" {
			t.Errorf("redirect Location: got %q; want https://example.com/done with x, bucket, key and etag", header.Get("Location"))
		}
	case http.StatusCreated:
		var doc struct {
			XMLName                     xml.Name `xml:"PostResponse"`
			Location, Bucket, Key, ETag string
		}
		if err := xml.Unmarshal(body, &doc); err != nil {
			t.Fatalf("201 body %q: %v", body, err)
		}
		if doc.Location != wantLocation || doc.Bucket != testBucketName || doc.Key != key || doc.ETag != wantETag {
			t.Errorf("PostResponse: got %+v; want %s %s %s %s", doc, wantLocation, testBucketName, key, wantETag)
		}
		fallthrough
	default:
		if got := header.Get("Location"); got != wantLocation {
			t.Errorf("Location: got %q; want %q", got, wantLocation)
		}
	}
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, wantLocation, nil))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, file) || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("GET %s: got %d, %d bytes, %q; want 200, %d bytes, image/png",
			key, resp.StatusCode, len(got), resp.Header.Get("Content-Type"), len(file))
	}
}

func upperNames(fields []formField) []formField {
	out := make([]formField, len(fields))
	for i, f := range fields {
		out[i] = formField{strings.ToUpper(f.name), f.value}
	}
	return out
}

func dropField(fields []formField, name string) []formField {
	var out []formField
	for _, f := range fields {
		if f.name != name {
			out = append(out, f)
		}
	}
	return out
}

func replaceField(fields []formField, name, value string) []formField {
	out := make([]formField, len(fields))
	for i, f := range fields {
		if f.name == name {
			f.value = value
		}
		out[i] = f
	}
	return out
}

func TestNewRejectsBadConfig(t *testing.T) {
	creds := func() []Key { return []Key{testCredentials} }
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{Bucket: "b", Credentials: creds}},
		{"no bucket", Config{Dir: dir, Credentials: creds}},
		{"no credentials", Config{Dir: dir, Bucket: "b"}},
		{"negative limit", Config{Dir: dir, Bucket: "b", Credentials: creds, MaxObjectBytes: -1}},
	}
	for _, tt := range tests {
		if s, err := New(tt.cfg); err == nil || s != nil {
			t.Errorf("%s: got %v, %v; want nil and an error", tt.name, s, err)
		}
	}
}

func TestLocalServerLogsNoSecrets(t *testing.T) {
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	temporary := Key{SecretID: "AKIDtemporary", SecretKey: "temporary-secret-key", SessionToken: "sts-secret-token"}
	now := time.Now()
	b := newTestBucket(t, Config{Logger: logger, Now: func() time.Time { return now }}, temporary)
	ctx := context.Background()
	keyTime := fmt.Sprintf("%d;%d", now.Add(-time.Minute).Unix(), now.Add(time.Minute).Unix())

	if _, err := b.client(temporary).Object.Put(ctx, "k", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	wrongToken := temporary
	wrongToken.SessionToken = "sts-secret-other"
	_, _ = b.client(wrongToken).Object.Put(ctx, "k", strings.NewReader("x"), nil)
	fields := append([]formField{{"key", "k"}}, signedPostForm(t, temporary, keyTime, now.Add(time.Minute),
		map[string]string{"x-cos-security-token": "sts-secret-expected"})...)
	b.postForm(t, fields, "f", []byte("x")).Body.Close()
	presigned := testutil.MustRequest(t, http.MethodGet, b.srv.URL+"/k?q-sign-algorithm=sha1&q-ak=AKIDtemporary&q-sign-time="+
		keyTime+"&q-key-time="+keyTime+"&q-header-list=&q-url-param-list=&q-signature=feedfacefeedface"+
		"&x-cos-security-token="+temporary.SessionToken, nil)
	testutil.Do(t, presigned).Body.Close()
	b.srv.Close() // waits for every handler, so every log line is written

	out := logs.String()
	if !strings.Contains(out, "it does not match the request") || !strings.Contains(out, "request_id=") {
		t.Fatalf("logs lack the refusals they should record:\n%s", out)
	}
	for _, secret := range []string{"temporary-secret-key", "sts-secret", "feedface", "q-signature="} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q:\n%s", secret, out)
		}
	}
}

// TestLocalServerLogsBounded: a request's method and path reach the log
// from a bounded set and cut to a bounded length, whatever the client sends.
func TestLocalServerLogsBounded(t *testing.T) {
	for _, proto := range protocols {
		t.Run(string(proto), func(t *testing.T) { testLogsBounded(t, proto) })
	}
}

func testLogsBounded(t *testing.T, proto Protocol) {
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := newProtocolBucket(t, proto, Config{Logger: logger})
	method := "X" + strings.Repeat("M", 8000)
	testutil.Do(t, testutil.MustRequest(t, method, b.srv.URL+"/k", nil)).Body.Close()
	testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.srv.URL+"/"+strings.Repeat("p", 8000), nil)).Body.Close()
	b.srv.Close()
	out := logs.String()
	if !strings.Contains(out, "method=other") {
		t.Errorf("an unknown method is not logged as other:\n%.500s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 2000 || strings.Contains(line, "MMMM") {
			t.Errorf("log line of %d bytes carries the raw method or path: %.200s…", len(line), line)
		}
	}
}

// TestLocalServerCopy: PUT Object - Copy keeps or replaces metadata as asked,
// honours the source conditions it supports, refuses the ones it does not,
// and, like every write, needs a signature.
func TestLocalServerCopy(t *testing.T) {
	b := newTestBucket(t, Config{})
	c := b.client(testCredentials)
	ctx := context.Background()
	data := []byte("\x89PNG\r\n\x1a\nsource bytes")
	put := &cos.ObjectPutOptions{ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{ContentType: "image/png", CacheControl: "no-cache"}}
	resp, err := c.Object.Put(ctx, "src.png", bytes.NewReader(data), put)
	if err != nil {
		t.Fatal(err)
	}
	etag := resp.Header.Get("ETag")
	source := b.url.Host + "/src.png"
	copyWith := func(h *cos.ObjectCopyHeaderOptions, src string) (*cos.ObjectCopyResult, error) {
		res, _, err := c.Object.Copy(ctx, "dst.png", src, &cos.ObjectCopyOptions{ObjectCopyHeaderOptions: h})
		return res, err
	}
	get := func() (http.Header, []byte) {
		t.Helper()
		resp, err := http.Get(b.srv.URL + "/dst.png")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET dst.png: status %d", resp.StatusCode)
		}
		return resp.Header, body
	}

	res, err := copyWith(&cos.ObjectCopyHeaderOptions{XCosCopySourceIfMatch: etag}, source)
	if err != nil || res.ETag != etag {
		t.Fatalf("copy with the default directive: %+v, %v; want ETag %s", res, err, etag)
	}
	if h, body := get(); !bytes.Equal(body, data) || h.Get("Content-Type") != "image/png" || h.Get("Cache-Control") != "no-cache" {
		t.Errorf("Copy directive: %q, %s, %s; want the source's bytes and metadata", body, h.Get("Content-Type"), h.Get("Cache-Control"))
	}
	// COS's own name for the bucket is this bucket too.
	if _, err := copyWith(&cos.ObjectCopyHeaderOptions{XCosMetadataDirective: "Replaced", ContentType: "image/webp"},
		testBucketName+".cos.ap-guangzhou.myqcloud.com/src.png"); err != nil {
		t.Fatalf("copy naming the bucket by its COS domain: %v", err)
	}
	if h, _ := get(); h.Get("Content-Type") != "image/webp" || h.Get("Cache-Control") != "" {
		t.Errorf("Replaced directive: Content-Type %q, Cache-Control %q; want image/webp and none", h.Get("Content-Type"), h.Get("Cache-Control"))
	}

	for _, tt := range []struct {
		name   string
		h      cos.ObjectCopyHeaderOptions
		src    string
		code   string
		status int
	}{
		{"If-Match another version", cos.ObjectCopyHeaderOptions{XCosCopySourceIfMatch: `"0123"`}, source, "PreconditionFailed", 412},
		{"If-None-Match this version", cos.ObjectCopyHeaderOptions{XCosCopySourceIfNoneMatch: etag}, source, "PreconditionFailed", 412},
		{"unsupported condition", cos.ObjectCopyHeaderOptions{XCosCopySourceIfModifiedSince: "Wed, 30 Nov 2016 20:21:38 GMT"}, source, "NotImplemented", 501},
		{"bad directive", cos.ObjectCopyHeaderOptions{XCosMetadataDirective: "Merge"}, source, "InvalidArgument", 400},
		{"another bucket", cos.ObjectCopyHeaderOptions{}, "other-1250000000.cos.ap-guangzhou.myqcloud.com/src.png", "InvalidArgument", 400},
		{"missing source", cos.ObjectCopyHeaderOptions{}, b.url.Host + "/none.png", "NoSuchKey", 404},
	} {
		_, err := copyWith(&tt.h, tt.src)
		if code, status := cosCode(t, err); code != tt.code || status != tt.status {
			t.Errorf("%s: %s %d; want %s %d", tt.name, code, status, tt.code, tt.status)
		}
	}
	if h, _ := get(); h.Get("Content-Type") != "image/webp" {
		t.Errorf("a refused copy changed the destination: Content-Type %q", h.Get("Content-Type"))
	}

	req, _ := http.NewRequest(http.MethodPut, b.srv.URL+"/stolen.png", nil)
	req.Header.Set("x-cos-copy-source", source)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if code := testutil.COSErrorCode(t, resp2); resp2.StatusCode != http.StatusForbidden || code != "AccessDenied" {
		t.Errorf("unsigned copy: %d %s; want 403 AccessDenied", resp2.StatusCode, code)
	}
	b.assertNoTempFiles(t)
}

// TestLocalServerTornObjectReadsAsMissing: an object file a crash cut short
// (objects are not flushed one by one) is never served, nor a 500: it is
// missing, as if its upload had not happened.
func TestLocalServerTornObjectReadsAsMissing(t *testing.T) {
	for _, proto := range protocols {
		t.Run(string(proto), func(t *testing.T) { testTornObjectReadsAsMissing(t, proto) })
	}
}

func testTornObjectReadsAsMissing(t *testing.T, proto Protocol) {
	b := newProtocolBucket(t, proto, Config{})
	b.put(t, "whole.png", []byte("0123456789"), nil)
	path := func(key string) string {
		sum := sha256.Sum256([]byte(key))
		return filepath.Join(b.dir, "objects", hex.EncodeToString(sum[:]))
	}
	whole, err := os.ReadFile(path("whole.png"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":        {},
		"bytes only":   []byte("0123456789"),
		"footer cut":   whole[:len(whole)-3],
		"size too big": append([]byte("0"), whole...),
	} {
		if err := os.WriteFile(path("torn.png"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(b.objectURL("torn.png"))
		if err != nil {
			t.Fatal(err)
		}
		if code := b.errorCode(t, resp); resp.StatusCode != http.StatusNotFound || code != "NoSuchKey" {
			t.Errorf("%s: %d %s; want 404 NoSuchKey", name, resp.StatusCode, code)
		}
	}
}
