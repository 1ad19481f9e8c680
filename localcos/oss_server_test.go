package localcos

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/signer"

	"github.com/wxavatar/wxavatar/internal/testutil"
)

// The local server in its OSS dialect, driven by Aliyun's own Go SDK
// (alibabacloud-oss-go-sdk-v2, the client package storage/oss is built
// on), by presigned URLs and forms uploaded with plain net/http as a mini
// program uploads, and by raw requests the SDK would never send.

func newOSSBucket(t *testing.T, cfg Config, creds ...Key) *testBucket {
	t.Helper()
	cfg.Protocol = ProtocolOSS
	return newTestBucket(t, cfg, creds...)
}

type ossClientOptions struct {
	signContentLength bool
	virtualHosted     bool
}

// ossClient is Aliyun's SDK pointed at the bucket, path style, signing with
// cred. Its CRC-64 checks stay on: every upload compares the
// x-oss-hash-crc64ecma the server answers with its own. It does not retry,
// so every refusal is seen as sent. Virtual-hosted, it addresses
// <bucket>.oss-cn-hangzhou.aliyuncs.com with every connection dialled to the
// server, so the bucket is in the Host while nothing leaves loopback.
func (b *testBucket) ossClient(t *testing.T, cred Key, o ossClientOptions) *oss.Client {
	t.Helper()
	var tokens []string
	if cred.SessionToken != "" {
		tokens = []string{cred.SessionToken}
	}
	// Not LoadDefaultConfig: it reads OSS_* from the environment.
	cfg := oss.NewConfig().
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cred.SecretID, cred.SecretKey, tokens...)).
		WithRegion(ossSDKRegion).
		WithSignatureVersion(oss.SignatureVersionV4).
		WithRetryMaxAttempts(1)
	if o.virtualHosted {
		addr := b.url.Host
		cfg = cfg.WithEndpoint("http://oss-cn-hangzhou.aliyuncs.com").WithHttpClient(&http.Client{
			Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}},
		})
	} else {
		cfg = cfg.WithEndpoint(b.srv.URL).WithUsePathStyle(true)
	}
	if o.signContentLength {
		cfg = cfg.WithAdditionalHeaders([]string{"content-length"})
	}
	return oss.NewClient(cfg)
}

// ossSignedRequest signs req in its Authorization header with the SDK's own
// V4 signer, as the SDK signs every request (x-oss-content-sha256:
// UNSIGNED-PAYLOAD). key is the object key ("" for the bucket).
func ossSignedRequest(t testing.TB, req *http.Request, cred Key, key string) *http.Request {
	sc := &signer.SigningContext{
		Product: oss.Ptr("oss"), Region: oss.Ptr(ossSDKRegion), Bucket: oss.Ptr(testBucketName), Request: req,
		Credentials: &credentials.Credentials{AccessKeyID: cred.SecretID, AccessKeySecret: cred.SecretKey, SecurityToken: cred.SessionToken},
	}
	if key != "" {
		sc.Key = oss.Ptr(key)
	}
	if err := (&signer.SignerV4{}).Sign(context.Background(), sc); err != nil {
		t.Errorf("sign: %v", err) // not Fatal: goroutines sign too
	}
	return req
}

// ossErrorCode reads an OSS error document from resp, checking it is one as
// OSS writes it ("Error responses"): XML with its declaration, a message,
// the request id of the header, HostId the host addressed, and the EC of
// the header when there is one. A HEAD answer has no body; its document is
// in x-oss-err, base64.
func ossErrorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode < 400 {
		return ""
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Request.Method == http.MethodHead {
		if raw, err = base64.StdEncoding.DecodeString(resp.Header.Get("x-oss-err")); err != nil || len(raw) == 0 {
			t.Fatalf("HEAD %d: x-oss-err %q is not a base64 error document", resp.StatusCode, resp.Header.Get("x-oss-err"))
		}
	}
	if got := resp.Header.Get("Content-Type"); got != "application/xml" {
		t.Errorf("error Content-Type: got %q; want application/xml", got)
	}
	if !bytes.HasPrefix(raw, []byte(xml.Header)) {
		t.Errorf("error body: got %q; want the XML declaration first", raw)
	}
	var doc struct {
		XMLName       xml.Name `xml:"Error"`
		Code, Message string
		RequestID     string `xml:"RequestId"`
		HostID        string `xml:"HostId"`
		EC            string
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	host := resp.Request.Host
	if host == "" {
		host = resp.Request.URL.Host
	}
	if id := resp.Header.Get("x-oss-request-id"); id == "" || id != doc.RequestID {
		t.Errorf("request id: header %q, body %q; want equal and non-empty", id, doc.RequestID)
	}
	if doc.Message == "" || doc.HostID != host || doc.EC != resp.Header.Get("x-oss-ec") {
		t.Errorf("error %s: message %q, HostId %q, EC %q (x-oss-ec %q); want a message, %q and the same EC",
			doc.Code, doc.Message, doc.HostID, doc.EC, resp.Header.Get("x-oss-ec"), host)
	}
	return doc.Code
}

// ossSDKCode is the OSS error code and status of an SDK error, "" and 0 for
// nil; an error that is not the service's fails the test.
func ossSDKCode(t *testing.T, err error) (string, int) {
	t.Helper()
	if err == nil {
		return "", 0
	}
	var se *oss.ServiceError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not an *oss.ServiceError", err)
	}
	return se.Code, se.StatusCode
}

// sdkCRC64 is the CRC-64 the SDK computes of data, written as OSS writes
// it in x-oss-hash-crc64ecma.
func sdkCRC64(data []byte) string {
	h := oss.NewCRC64(0)
	h.Write(data)
	return strconv.FormatUint(h.Sum64(), 10)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TestOSSServerRoundTrip: what Aliyun's SDK writes, with its CRC-64 check on,
// it reads back whole and by range, anyone may read it (no PublicPrefixes),
// and it is gone once deleted.
func TestOSSServerRoundTrip(t *testing.T) {
	b := newOSSBucket(t, Config{})
	c := b.ossClient(t, testCredentials, ossClientOptions{})
	ctx := context.Background()
	keys := []string{
		"plain.txt",
		"avatars/u1/up1.png",
		"with space.txt",
		"阿里云/头像.jpg",
		"paren(1)+plus.png",
		"percent%41 and&eq=.txt",
		"q?x#y*'!~.txt",
		"folder/",
		strings.Repeat("k", 1023),
	}
	for i, key := range keys {
		t.Run(key[:min(len(key), 32)], func(t *testing.T) {
			data := bytes.Repeat([]byte{byte(i), 0xff, '\n', 0}, 20000+i)
			put, err := c.PutObject(ctx, &oss.PutObjectRequest{
				Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key), Body: bytes.NewReader(data),
				ContentType: oss.Ptr("image/png"), CacheControl: oss.Ptr("no-cache"), Metadata: map[string]string{"owner": "u1"},
			})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			// The SDK has already held the answer's CRC-64 to its own; here
			// the ETag and the CRC are as OSS writes them.
			if deref(put.ETag) != b.etagOf(data) || deref(put.HashCRC64) != sdkCRC64(data) {
				t.Errorf("PutObject: ETag %s, CRC %s; want %s, %s", deref(put.ETag), deref(put.HashCRC64), b.etagOf(data), sdkCRC64(data))
			}

			head, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
			if err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			if head.ContentLength != int64(len(data)) || deref(head.ContentType) != "image/png" || deref(head.ETag) != b.etagOf(data) ||
				head.Metadata["owner"] != "u1" || deref(head.StorageClass) != "Standard" || deref(head.HashCRC64) != sdkCRC64(data) ||
				head.Headers.Get("Cache-Control") != "no-cache" {
				t.Errorf("HeadObject: size %d, type %q, ETag %q, owner %q, class %q, CRC %q, Cache-Control %q; want %d, image/png, %s, u1, Standard, %s, no-cache",
					head.ContentLength, deref(head.ContentType), deref(head.ETag), head.Metadata["owner"], deref(head.StorageClass),
					deref(head.HashCRC64), head.Headers.Get("Cache-Control"), len(data), b.etagOf(data), sdkCRC64(data))
			}

			get, err := c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			got, err := io.ReadAll(get.Body)
			get.Body.Close()
			if err != nil || !bytes.Equal(got, data) || deref(get.HashCRC64) != sdkCRC64(got) {
				t.Errorf("GetObject: %d bytes (%v), CRC %s; want the %d bytes put, CRC %s", len(got), err, deref(get.HashCRC64), len(data), sdkCRC64(data))
			}

			// The range Peek asks for, with OSS's standard range behaviour.
			get, err = c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key),
				Range: oss.Ptr("bytes=10-19"), RangeBehavior: oss.Ptr("standard")})
			if err != nil {
				t.Fatalf("GetObject range: %v", err)
			}
			got, err = io.ReadAll(get.Body)
			get.Body.Close()
			if wantCR := fmt.Sprintf("bytes 10-19/%d", len(data)); err != nil || get.StatusCode != 206 || !bytes.Equal(got, data[10:20]) ||
				deref(get.ContentRange) != wantCR {
				t.Errorf("GetObject range 10-19: %d %q, Content-Range %q (%v); want 206 %q, %s",
					get.StatusCode, got, deref(get.ContentRange), err, data[10:20], wantCR)
			}

			// Objects with the bucket's ACL are public without PublicPrefixes.
			resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(key), nil))
			got, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
				t.Errorf("anonymous GET: %d, %d bytes; want 200, %d bytes", resp.StatusCode, len(got), len(data))
			}

			del, err := c.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
			if err != nil || del.StatusCode != http.StatusNoContent {
				t.Fatalf("DeleteObject: %+v, %v; want 204", del, err)
			}
			// HEAD has no body: the SDK reads the error from x-oss-err.
			_, err = c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
			var se *oss.ServiceError
			if code, status := ossSDKCode(t, err); code != "NoSuchKey" || status != 404 || !errors.As(err, &se) || se.EC != "0026-00000001" {
				t.Errorf("HeadObject after DeleteObject: %d %q (%v); want 404 NoSuchKey, EC 0026-00000001", status, code, err)
			}
			if _, err := c.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)}); err != nil {
				t.Errorf("second DeleteObject: %v; want success", err)
			}
		})
	}
	b.assertNoTempFiles(t)
}

// TestOSSServerRanges: GetObject's range with and without OSS's standard
// behaviour, as Aliyun documents both (see ossRange), through the SDK.
func TestOSSServerRanges(t *testing.T) {
	b := newOSSBucket(t, Config{})
	c := b.ossClient(t, testCredentials, ossClientOptions{})
	ctx := context.Background()
	data := []byte("0123456789")
	for key, body := range map[string][]byte{"ten.txt": data, "empty.txt": {}} {
		if _, err := c.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		key, rng   string
		standard   bool
		wantStatus int
		wantBody   string
		wantCode   string
	}{
		{"ten.txt", "bytes=2-4", false, 206, "234", ""},
		{"ten.txt", "bytes=2-4", true, 206, "234", ""},
		{"ten.txt", "bytes=5-20", false, 200, "0123456789", ""},
		{"ten.txt", "bytes=5-20", true, 206, "56789", ""},
		{"ten.txt", "bytes=10-20", false, 200, "0123456789", ""},
		{"ten.txt", "bytes=10-20", true, 416, "", "InvalidRange"},
		{"ten.txt", "bytes=10-", true, 416, "", "InvalidRange"},
		{"ten.txt", "bytes=-3", false, 206, "789", ""},
		{"ten.txt", "bytes=-20", false, 200, "0123456789", ""},
		{"ten.txt", "bytes=-20", true, 206, "0123456789", ""},
		{"ten.txt", "byte=0-4", false, 200, "0123456789", ""},
		{"ten.txt", "bytes=4-2", true, 200, "0123456789", ""},
		{"empty.txt", "bytes=0-9", false, 200, "", ""},
		{"empty.txt", "bytes=0-9", true, 416, "", "InvalidRange"},
	} {
		req := &oss.GetObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(tt.key), Range: oss.Ptr(tt.rng)}
		if tt.standard {
			req.RangeBehavior = oss.Ptr("standard")
		}
		res, err := c.GetObject(ctx, req)
		name := fmt.Sprintf("%s %s standard=%v", tt.key, tt.rng, tt.standard)
		if tt.wantCode != "" {
			if code, status := ossSDKCode(t, err); code != tt.wantCode || status != tt.wantStatus {
				t.Errorf("%s: %d %q; want %d %s", name, status, code, tt.wantStatus, tt.wantCode)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.wantStatus || string(got) != tt.wantBody {
			t.Errorf("%s: %d %q; want %d %q", name, res.StatusCode, got, tt.wantStatus, tt.wantBody)
		}
	}
}

// TestOSSServerBucket: GetBucketInfo (storage/oss Ping) and GetBucketLocation
// answer a signed request for this bucket only.
func TestOSSServerBucket(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		prefixes []string
		wantACL  string
	}{{nil, "public-read"}, {[]string{"avatars/"}, "private"}} {
		b := newOSSBucket(t, Config{PublicPrefixes: tt.prefixes})
		c := b.ossClient(t, testCredentials, ossClientOptions{})
		info, err := c.GetBucketInfo(ctx, &oss.GetBucketInfoRequest{Bucket: oss.Ptr(testBucketName)})
		if err != nil {
			t.Fatalf("GetBucketInfo: %v", err)
		}
		if bi := info.BucketInfo; deref(bi.Name) != testBucketName || deref(bi.Location) != "oss-cn-hangzhou" || deref(bi.ACL) != tt.wantACL ||
			deref(bi.StorageClass) != "Standard" || bi.CreationDate == nil || time.Since(*bi.CreationDate) > time.Minute {
			t.Errorf("GetBucketInfo: name %q, location %q, ACL %q, class %q, created %v; want %s, oss-cn-hangzhou, %s, Standard, now",
				deref(bi.Name), deref(bi.Location), deref(bi.ACL), deref(bi.StorageClass), bi.CreationDate, testBucketName, tt.wantACL)
		}
	}
	b := newOSSBucket(t, Config{})
	c := b.ossClient(t, testCredentials, ossClientOptions{})
	loc, err := c.GetBucketLocation(ctx, &oss.GetBucketLocationRequest{Bucket: oss.Ptr(testBucketName)})
	if err != nil || deref(loc.LocationConstraint) != "oss-cn-hangzhou" {
		t.Errorf("GetBucketLocation: %q, %v; want oss-cn-hangzhou", deref(loc.LocationConstraint), err)
	}
	_, err = c.GetBucketInfo(ctx, &oss.GetBucketInfoRequest{Bucket: oss.Ptr("other-bucket")})
	var se *oss.ServiceError
	if code, status := ossSDKCode(t, err); code != "NoSuchBucket" || status != 404 || !errors.As(err, &se) || se.EC != "0015-00000101" {
		t.Errorf("GetBucketInfo of another bucket: %d %q (%v); want 404 NoSuchBucket, EC 0015-00000101", status, code, err)
	}
	wrong := b.ossClient(t, Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, ossClientOptions{})
	if _, err := wrong.GetBucketInfo(ctx, &oss.GetBucketInfoRequest{Bucket: oss.Ptr(testBucketName)}); !hasCode(t, err, "SignatureDoesNotMatch", 403) {
		t.Errorf("GetBucketInfo with a wrong secret: %v; want 403 SignatureDoesNotMatch", err)
	}
	unknown := b.ossClient(t, Key{SecretID: "LTAIunknown", SecretKey: "x"}, ossClientOptions{})
	_, err = unknown.GetBucketInfo(ctx, &oss.GetBucketInfoRequest{Bucket: oss.Ptr(testBucketName)})
	if !hasCode(t, err, "InvalidAccessKeyId", 403) || !errors.As(err, &se) || se.EC != "0002-00000902" {
		t.Errorf("GetBucketInfo with an unknown key: %v; want 403 InvalidAccessKeyId, EC 0002-00000902", err)
	}
	for _, tt := range []struct {
		method, path string
		signed       bool
		wantStatus   int
		wantCode     string
	}{
		{http.MethodGet, "/" + testBucketName + "?bucketInfo", false, 403, "AccessDenied"},
		{http.MethodGet, "/" + testBucketName + "/", true, 501, "NotImplemented"},
		{http.MethodHead, "/" + testBucketName, true, 200, ""},
		{http.MethodHead, "/" + testBucketName, false, 403, "AccessDenied"},
		{http.MethodGet, "/", true, 501, "NotImplemented"},
		{http.MethodPut, "/" + testBucketName + "/k", false, 403, "AccessDenied"},
		{http.MethodDelete, "/" + testBucketName + "/k", false, 403, "AccessDenied"},
		{http.MethodPatch, "/" + testBucketName + "/k", false, 405, "MethodNotAllowed"},
		{http.MethodGet, "/other-bucket/k", false, 404, "NoSuchBucket"},
		{http.MethodGet, "/" + testBucketName + "/missing", false, 404, "NoSuchKey"},
		{http.MethodHead, "/" + testBucketName + "/missing", false, 404, "NoSuchKey"},
		{http.MethodGet, "/" + testBucketName + "/" + strings.Repeat("k", 1024), false, 400, "InvalidObjectName"},
		{http.MethodGet, "/" + testBucketName + "/k?OSSAccessKeyId=LTAI&Signature=x&Expires=1", false, 400, "InvalidArgument"},
	} {
		req := testutil.MustRequest(t, tt.method, b.srv.URL+tt.path, nil)
		if tt.signed {
			req = ossSignedRequest(t, req, testCredentials, "")
		}
		resp := testutil.Do(t, req)
		if code := ossErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%s %s: %d %q; want %d %q", tt.method, tt.path, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
}

// hasCode reports whether err is the service's refusal with code and status.
func hasCode(t *testing.T, err error, code string, status int) bool {
	t.Helper()
	gotCode, gotStatus := ossSDKCode(t, err)
	return gotCode == code && gotStatus == status
}

// TestOSSServerVirtualHosted: addressed by the bucket's host name, the whole
// path is the key, for the verifier and the server alike: a key that
// starts with the bucket's name is stored under that name, never under
// what follows it.
func TestOSSServerVirtualHosted(t *testing.T) {
	b := newOSSBucket(t, Config{})
	c := b.ossClient(t, testCredentials, ossClientOptions{virtualHosted: true})
	ctx := context.Background()
	for _, key := range []string{"avatars/v.png", testBucketName + "/nested.png"} {
		if _, err := c.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key),
			Body: strings.NewReader("vhost " + key)}); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
		res, err := c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
		if err != nil {
			t.Fatalf("GetObject %s: %v", key, err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(got) != "vhost "+key {
			t.Errorf("GetObject %s: %q", key, got)
		}
		// The same object, path-style.
		resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(key), nil))
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "vhost "+key {
			t.Errorf("path-style GET %s: %d %q", key, resp.StatusCode, got)
		}
	}
	// "nested.png" alone was never written.
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL("nested.png"), nil))
	if code := ossErrorCode(t, resp); resp.StatusCode != 404 || code != "NoSuchKey" {
		t.Errorf("GET nested.png: %d %q; want 404 NoSuchKey", resp.StatusCode, code)
	}
}

// TestOSSServerCopy: CopyObject keeps or replaces metadata, honours its ETag
// conditions (in OSS's upper case), refuses those it does not serve, and
// takes the ACL and class of its own request.
func TestOSSServerCopy(t *testing.T) {
	b := newOSSBucket(t, Config{PublicPrefixes: []string{"avatars/"}})
	c := b.ossClient(t, testCredentials, ossClientOptions{})
	ctx := context.Background()
	put, err := c.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr("src.png"),
		Body: strings.NewReader("source bytes"), ContentType: oss.Ptr("image/png"), CacheControl: oss.Ptr("no-cache"),
		Metadata: map[string]string{"owner": "mallory"}, StorageClass: oss.StorageClassIA, Acl: oss.ObjectACLPrivate})
	if err != nil {
		t.Fatal(err)
	}
	copyTo := func(dst string, edit func(*oss.CopyObjectRequest)) (*oss.CopyObjectResult, error) {
		req := &oss.CopyObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(dst), SourceKey: oss.Ptr("src.png")}
		if edit != nil {
			edit(req)
		}
		return c.CopyObject(ctx, req)
	}
	head := func(key string) *oss.HeadObjectResult {
		t.Helper()
		h, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
		if err != nil {
			t.Fatalf("HeadObject %s: %v", key, err)
		}
		return h
	}
	res, err := copyTo("avatars/kept.png", func(r *oss.CopyObjectRequest) { r.IfMatch = put.ETag })
	if err != nil || deref(res.ETag) != deref(put.ETag) || deref(res.HashCRC64) != sdkCRC64([]byte("source bytes")) {
		t.Fatalf("CopyObject: %+v, %v; want ETag %s and the source's CRC", res, err, deref(put.ETag))
	}
	if h := head("avatars/kept.png"); deref(h.ContentType) != "image/png" || h.Headers.Get("Cache-Control") != "no-cache" ||
		h.Metadata["owner"] != "mallory" || deref(h.StorageClass) != "Standard" {
		t.Errorf("copy with COPY: type %q, Cache-Control %q, owner %q, class %q; want the source's metadata, Standard",
			deref(h.ContentType), h.Headers.Get("Cache-Control"), h.Metadata["owner"], deref(h.StorageClass))
	}
	// The copy's ACL is its request's (the bucket's), not the source's.
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL("avatars/kept.png"), nil))
	if code := ossErrorCode(t, resp); resp.StatusCode != 200 {
		t.Errorf("anonymous GET of a copy of a private object under avatars/: %d %q; want 200", resp.StatusCode, code)
	}
	if _, err := copyTo("avatars/replaced.png", func(r *oss.CopyObjectRequest) {
		r.MetadataDirective, r.ContentType, r.StorageClass = oss.Ptr("REPLACE"), oss.Ptr("image/webp"), oss.StorageClassIA
	}); err != nil {
		t.Fatalf("CopyObject REPLACE: %v", err)
	}
	if h := head("avatars/replaced.png"); deref(h.ContentType) != "image/webp" || h.Metadata["owner"] != "" ||
		h.Headers.Get("Cache-Control") != "" || deref(h.StorageClass) != "IA" {
		t.Errorf("copy with REPLACE: type %q, owner %q, Cache-Control %q, class %q; want image/webp, nothing else, IA",
			deref(h.ContentType), h.Metadata["owner"], h.Headers.Get("Cache-Control"), deref(h.StorageClass))
	}
	for _, tt := range []struct {
		name   string
		edit   func(*oss.CopyObjectRequest)
		code   string
		status int
	}{
		{"If-Match another version", func(r *oss.CopyObjectRequest) { r.IfMatch = oss.Ptr(`"0123"`) }, "PreconditionFailed", 412},
		{"If-None-Match this version", func(r *oss.CopyObjectRequest) { r.IfNoneMatch = put.ETag }, "PreconditionFailed", 412},
		{"If-Modified-Since", func(r *oss.CopyObjectRequest) { r.IfModifiedSince = oss.Ptr("Wed, 30 Nov 2016 20:21:38 GMT") }, "NotImplemented", 501},
		{"bad directive", func(r *oss.CopyObjectRequest) { r.MetadataDirective = oss.Ptr("Copy") }, "InvalidArgument", 400},
		{"another bucket", func(r *oss.CopyObjectRequest) { r.SourceBucket = oss.Ptr("other-bucket") }, "NoSuchBucket", 404},
		{"missing source", func(r *oss.CopyObjectRequest) { r.SourceKey = oss.Ptr("none.png") }, "NoSuchKey", 404},
		{"a version", func(r *oss.CopyObjectRequest) { r.SourceVersionId = oss.Ptr("v1") }, "NotImplemented", 501},
	} {
		_, err := copyTo("avatars/x.png", tt.edit)
		if code, status := ossSDKCode(t, err); code != tt.code || status != tt.status {
			t.Errorf("%s: %d %q; want %d %s", tt.name, status, code, tt.status, tt.code)
		}
	}
	if _, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr("avatars/x.png")}); !hasCode(t, err, "NoSuchKey", 404) {
		t.Errorf("a refused copy wrote its destination: %v", err)
	}
	b.assertNoTempFiles(t)
}

// TestOSSServerClassesAndACLs: OSS's classes are stored and reported (Standard
// too), the archive ones refuse GET until restored; OSS's ACLs decide who
// reads anonymously, the owner's signed reads always work.
func TestOSSServerClassesAndACLs(t *testing.T) {
	b := newOSSBucket(t, Config{})
	c := b.ossClient(t, testCredentials, ossClientOptions{})
	ctx := context.Background()
	for _, tt := range []struct {
		class      oss.StorageClassType
		wantHeader string
		wantGet    int
		wantCode   string
	}{
		{"", "Standard", 200, ""},
		{oss.StorageClassStandard, "Standard", 200, ""},
		{oss.StorageClassIA, "IA", 200, ""},
		{oss.StorageClassArchive, "Archive", 403, "InvalidObjectState"},
		{oss.StorageClassColdArchive, "ColdArchive", 403, "InvalidObjectState"},
		{oss.StorageClassDeepColdArchive, "DeepColdArchive", 403, "InvalidObjectState"},
	} {
		key := "class/" + string(tt.class) + ".png"
		if _, err := c.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key),
			Body: strings.NewReader("png"), StorageClass: tt.class}); err != nil {
			t.Fatalf("PutObject %s: %v", tt.class, err)
		}
		h, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
		if err != nil || deref(h.StorageClass) != tt.wantHeader {
			t.Errorf("HeadObject %s: class %q (%v); want %q", tt.class, deref(h.StorageClass), err, tt.wantHeader)
		}
		_, err = c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
		if code, status := ossSDKCode(t, err); tt.wantCode != "" && (code != tt.wantCode || status != tt.wantGet) || tt.wantCode == "" && err != nil {
			t.Errorf("GetObject %s: %d %q; want %d %q", tt.class, status, code, tt.wantGet, tt.wantCode)
		}
	}
	for _, tt := range []struct {
		acl        oss.ObjectACLType
		wantStatus int
		wantCode   string
	}{
		{"", 200, ""},
		{oss.ObjectACLDefault, 200, ""},
		{oss.ObjectACLPublicRead, 200, ""},
		{oss.ObjectACLPublicReadWrite, 200, ""},
		{oss.ObjectACLPrivate, 403, "AccessDenied"},
	} {
		key := "acl/" + string(tt.acl) + ".png"
		if _, err := c.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key),
			Body: strings.NewReader("png"), Acl: tt.acl}); err != nil {
			t.Fatalf("PutObject x-oss-object-acl %q: %v", tt.acl, err)
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp := testutil.Do(t, testutil.MustRequest(t, method, b.objectURL(key), nil))
			if code := ossErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
				t.Errorf("anonymous %s of x-oss-object-acl %q: %d %q; want %d %q", method, tt.acl, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
			}
		}
		res, err := c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
		if err != nil {
			t.Fatalf("signed GET of x-oss-object-acl %q: %v", tt.acl, err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(got) != "png" {
			t.Errorf("signed GET of x-oss-object-acl %q: %q; want png", tt.acl, got)
		}
	}
	for _, tt := range []struct {
		name   string
		req    oss.PutObjectRequest
		code   string
		status int
	}{
		{"S3's class name", oss.PutObjectRequest{StorageClass: "STANDARD"}, "InvalidArgument", 400},
		{"an S3 ACL", oss.PutObjectRequest{Acl: "authenticated-read"}, "InvalidArgument", 400},
		{"user metadata over 8 KB", oss.PutObjectRequest{Metadata: map[string]string{"big": strings.Repeat("x", 8<<10)}}, "MetadataTooLarge", 400},
	} {
		tt.req.Bucket, tt.req.Key, tt.req.Body = oss.Ptr(testBucketName), oss.Ptr("refused.png"), strings.NewReader("png")
		_, err := c.PutObject(ctx, &tt.req)
		if code, status := ossSDKCode(t, err); code != tt.code || status != tt.status {
			t.Errorf("%s: %d %q; want %d %s", tt.name, status, code, tt.status, tt.code)
		}
	}
	_, err := c.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr("meta.png"), Body: strings.NewReader("png"),
		Metadata: map[string]string{"big": strings.Repeat("x", 8<<10-len("big"))}})
	if err != nil {
		t.Errorf("user metadata of exactly 8 KB: %v", err)
	}
	b.assertNoTempFiles(t)
}

// TestOSSServerPresignedPut: the SDK's presigned PUT signing the exact
// Content-Length (x-oss-additional-headers=content-length), the type, a
// private ACL and Standard, uploaded with plain net/http, stores exactly
// that; nothing else it was not signed for is stored.
func TestOSSServerPresignedPut(t *testing.T) {
	temporary := Key{SecretID: "STS.temporary", SecretKey: "temporary-secret", SessionToken: "sts-token"}
	b := newOSSBucket(t, Config{PublicPrefixes: []string{"avatars/"}}, testCredentials, temporary)
	// Signed by the real clock, its URLs sent to a server 11 minutes on.
	later := newOSSBucket(t, Config{Now: func() time.Time { return time.Now().Add(11 * time.Minute) }})
	ctx := context.Background()
	body := []byte("\x89PNG avatar bytes")
	const key = "uploads/u 1/(up1)头像.png"
	presign := func(b *testBucket, cred Key, key string, signSize bool) *oss.PresignResult {
		t.Helper()
		res, err := b.ossClient(t, cred, ossClientOptions{signContentLength: signSize}).Presign(ctx, &oss.PutObjectRequest{
			Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key), ContentType: oss.Ptr("image/png"), ContentLength: oss.Ptr(int64(len(body))),
			Acl: oss.ObjectACLPrivate, StorageClass: oss.StorageClassStandard,
		}, oss.PresignExpires(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	upload := func(res *oss.PresignResult, send []byte, edit func(*http.Request)) *http.Response {
		t.Helper()
		req := testutil.MustRequest(t, res.Method, res.URL, bytes.NewReader(send))
		for k, v := range res.SignedHeaders {
			if !strings.EqualFold(k, "Content-Length") { // the transport sends len(send)
				req.Header.Set(k, v)
			}
		}
		if edit != nil {
			edit(req)
		}
		return testutil.Do(t, req)
	}
	valid := presign(b, testCredentials, key, true)
	setHeader := func(name, value string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set(name, value) }
	}
	for _, tt := range []struct {
		name       string
		res        *oss.PresignResult
		send       []byte
		edit       func(*http.Request)
		wantStatus int
		wantCode   string
	}{
		{"other content type", valid, body, setHeader("Content-Type", "text/html"), 403, "SignatureDoesNotMatch"},
		{"one byte more", valid, append(slices.Clone(body), 'x'), nil, 403, "SignatureDoesNotMatch"},
		{"one byte less", valid, body[1:], nil, 403, "SignatureDoesNotMatch"},
		{"sent chunked, without the signed Content-Length", valid, body, func(r *http.Request) {
			r.ContentLength = -1
			r.Body = io.NopCloser(bytes.NewReader(body))
		}, 400, "InvalidArgument"},
		{"x-oss-object-acl public-read added", valid, body, setHeader("x-oss-object-acl", "public-read"), 403, "SignatureDoesNotMatch"},
		{"x-oss-storage-class Archive", valid, body, setHeader("x-oss-storage-class", "Archive"), 403, "SignatureDoesNotMatch"},
		{"x-oss-meta-owner added", valid, body, setHeader("x-oss-meta-owner", "mallory"), 403, "SignatureDoesNotMatch"},
		{"x-oss-copy-source added", valid, body, setHeader("x-oss-copy-source", "/"+testBucketName+"/avatars/a.png"), 403, "SignatureDoesNotMatch"},
		{"Cache-Control added, unsigned", valid, body, setHeader("Cache-Control", "max-age=31536000"), 403, "AccessDenied"},
		{"Content-Disposition added, unsigned", valid, body, setHeader("Content-Disposition", "attachment"), 403, "AccessDenied"},
		{"size not signed", presign(b, testCredentials, key, false), body, nil, 403, "AccessDenied"},
		{"replayed to another key", valid, body, func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "up1", "up2", 1) }, 403, "SignatureDoesNotMatch"},
		{"another secret", presign(b, Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, key, true), body, nil, 403, "SignatureDoesNotMatch"},
		{"temporary key's token stripped", func() *oss.PresignResult {
			res := presign(b, temporary, key, true)
			u, _ := url.Parse(res.URL)
			q := u.Query()
			q.Del("x-oss-security-token")
			u.RawQuery = q.Encode()
			res.URL = u.String()
			return res
		}(), body, nil, 403, "SignatureDoesNotMatch"},
		{"expired", presign(later, testCredentials, key, true), body, nil, 403, "AccessDenied"},
		{"temporary key with its token", presign(b, temporary, key, true), body, nil, 200, ""},
		{"exact", valid, body, nil, 200, ""},
	} {
		resp := upload(tt.res, tt.send, tt.edit)
		if code := ossErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%s: %d %q; want %d %q", tt.name, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
	c := b.ossClient(t, testCredentials, ossClientOptions{})
	h, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
	if err != nil || deref(h.ContentType) != "image/png" || h.ContentLength != int64(len(body)) || deref(h.StorageClass) != "Standard" ||
		h.Headers.Get("Cache-Control") != "" || len(h.Metadata) != 0 {
		t.Errorf("HeadObject of the upload: %+v, %v; want image/png, %d bytes, Standard, nothing else", h, err, len(body))
	}
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(key), nil))
	if code := ossErrorCode(t, resp); resp.StatusCode != 403 || code != "AccessDenied" {
		t.Errorf("anonymous GET of the private upload: %d %q; want 403 AccessDenied", resp.StatusCode, code)
	}
	if _, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr("uploads/u 1/(up2)头像.png")}); !hasCode(t, err, "NoSuchKey", 404) {
		t.Errorf("the key a refused upload was replayed to: %v; want NoSuchKey", err)
	}
	b.assertNoTempFiles(t)
	later.assertNoTempFiles(t)
}

// ossHandSigned signs req in its Authorization header with the test's own
// HMAC chain (as TestOSSPostSignatureHelperReproducesP1 checks it against
// Aliyun's example), claiming payload as x-oss-content-sha256, which the
// SDK never does (it signs UNSIGNED-PAYLOAD only).
func ossHandSigned(req *http.Request, cred Key, object, payload string, at time.Time) *http.Request {
	date, dateTime := at.UTC().Format("20060102"), at.UTC().Format("20060102T150405Z")
	req.Header.Set("x-oss-date", dateTime)
	req.Header.Set("x-oss-content-sha256", payload)
	var names []string
	for name := range req.Header {
		if l := strings.ToLower(name); l == "content-type" || l == "content-md5" || strings.HasPrefix(l, "x-oss-") {
			names = append(names, l)
		}
	}
	slices.Sort(names)
	var canonicalHeaders strings.Builder
	for _, n := range names {
		canonicalHeaders.WriteString(n + ":" + strings.TrimSpace(req.Header.Get(n)) + "\n")
	}
	uri := (&url.URL{Path: "/" + testBucketName + "/" + object}).EscapedPath()
	canonical := req.Method + "\n" + uri + "\n\n" + canonicalHeaders.String() + "\n\n" + payload
	sum := sha256.Sum256([]byte(canonical))
	scope := date + "/" + ossSDKRegion + "/oss/aliyun_v4_request"
	h := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	k := h(h(h(h([]byte("aliyun_v4"+cred.SecretKey), date), ossSDKRegion), "oss"), "aliyun_v4_request")
	signature := hex.EncodeToString(h(k, "OSS4-HMAC-SHA256\n"+dateTime+"\n"+scope+"\n"+hex.EncodeToString(sum[:])))
	req.Header.Set("Authorization", "OSS4-HMAC-SHA256 Credential="+cred.SecretID+"/"+scope+",Signature="+signature)
	return req
}

// TestOSSServerPayloadHashClaim: a signed x-oss-content-sha256 is held against
// the bytes while they are stored; a body that is not what it claims is
// refused and nothing is stored.
func TestOSSServerPayloadHashClaim(t *testing.T) {
	b := newOSSBucket(t, Config{})
	data := []byte("avatar bytes")
	emptyHash := hexSum(nil)
	// The key needs no escaping, so the test's canonical URI is trivially right.
	const key = "h/obj.png"
	send := func(method string, body []byte, payload string) *http.Response {
		req := testutil.MustRequest(t, method, b.objectURL(key), bytes.NewReader(body))
		return testutil.Do(t, ossHandSigned(req, testCredentials, key, payload, time.Now()))
	}
	for _, tt := range []struct {
		name       string
		method     string
		body       []byte
		payload    string
		wantStatus int
		wantCode   string
	}{
		{"PUT, another body's hash", http.MethodPut, data, hexSum([]byte("other")), 400, "InvalidArgument"},
		{"PUT, a byte more than hashed", http.MethodPut, append(slices.Clone(data), 'x'), hexSum(data), 400, "InvalidArgument"},
		{"PUT, hash not hex", http.MethodPut, data, "not-a-hash", 400, "InvalidArgument"},
		{"PUT, upper-case hex", http.MethodPut, data, strings.ToUpper(hexSum(data)), 400, "InvalidArgument"},
		{"DELETE, a hash of bytes it does not carry", http.MethodDelete, nil, hexSum(data), 400, "InvalidArgument"},
		{"PUT, the body's hash", http.MethodPut, data, hexSum(data), 200, ""},
	} {
		resp := send(tt.method, tt.body, tt.payload)
		if code := ossErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%s: %d %q; want %d %q", tt.name, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
		if tt.wantStatus != 200 {
			resp := testutil.Do(t, testutil.MustRequest(t, http.MethodHead, b.objectURL(key), nil))
			if code := ossErrorCode(t, resp); resp.StatusCode != 404 {
				t.Errorf("after %s: HEAD %d %q; want 404, nothing stored", tt.name, resp.StatusCode, code)
			}
		}
	}
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(key), nil))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Errorf("GET after the matching PUT: %d %q; want 200 %q", resp.StatusCode, got, data)
	}
	resp = send(http.MethodDelete, nil, emptyHash)
	if code := ossErrorCode(t, resp); resp.StatusCode != 204 {
		t.Errorf("DELETE with the empty body's hash: %d %q; want 204", resp.StatusCode, code)
	}
	resp = send(http.MethodPut, []byte("unsigned"), "UNSIGNED-PAYLOAD")
	if code := ossErrorCode(t, resp); resp.StatusCode != 200 {
		t.Errorf("PUT with UNSIGNED-PAYLOAD: %d %q; want 200", resp.StatusCode, code)
	}
	b.assertNoTempFiles(t)
}

// ossForm is a PostObject form for fields as Aliyun documents one, signed
// by the test's own HMAC (ossPostSignature), each field pinned by an eq
// condition unless left out of the policy by skip, with 1 to 1024 bytes.
func ossForm(t *testing.T, cred Key, now time.Time, fields []formField, skip ...string) map[string]string {
	t.Helper()
	date := now.UTC().Format("20060102T150405Z")
	credential := cred.SecretID + "/" + date[:8] + "/" + ossSDKRegion + "/oss/aliyun_v4_request"
	all := append(slices.Clone(fields),
		formField{"x-oss-signature-version", "OSS4-HMAC-SHA256"},
		formField{"x-oss-credential", credential},
		formField{"x-oss-date", date})
	if cred.SessionToken != "" {
		all = append(all, formField{"x-oss-security-token", cred.SessionToken})
	}
	conditions := []any{map[string]string{"bucket": testBucketName}, []any{"content-length-range", 1, 1024}}
	form := map[string]string{}
	for _, f := range all {
		form[f.name] = f.value
		if !slices.Contains(skip, f.name) {
			conditions = append(conditions, []string{"eq", "$" + f.name, f.value})
		}
	}
	policy, err := json.Marshal(map[string]any{"expiration": now.Add(10 * time.Minute).UTC().Format(s3Time), "conditions": conditions})
	if err != nil {
		t.Fatal(err)
	}
	form["policy"] = base64.StdEncoding.EncodeToString(policy)
	form["x-oss-signature"] = ossPostSignature(cred.SecretKey, date[:8], ossSDKRegion, form["policy"])
	return form
}

// postOSSForm posts form's fields, then the file part, whose own
// Content-Type is fileType (none when empty), to the bucket.
func postOSSForm(t *testing.T, b *testBucket, form map[string]string, fileType string, file []byte) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, name := range slices.Sorted(maps.Keys(form)) {
		if err := mw.WriteField(name, form[name]); err != nil {
			t.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{"Content-Disposition": {`form-data; name="file"; filename="upload.png"`}}
	if fileType != "" {
		h.Set("Content-Type", fileType)
	}
	fw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req := testutil.MustRequest(t, http.MethodPost, b.postURL(), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return testutil.Do(t, req)
}

// TestOSSServerPostObject: a PostObject form is held to its policy (fields as
// sent, the size while streaming), stores the type in OSS's order and the
// ACL, class and metadata it names, and answers as OSS does.
func TestOSSServerPostObject(t *testing.T) {
	b := newOSSBucket(t, Config{PublicPrefixes: []string{"avatars/"}})
	c := b.ossClient(t, testCredentials, ossClientOptions{})
	ctx := context.Background()
	now := time.Now()
	png := bytes.Repeat([]byte("p"), 100)
	base := []formField{{"key", "uploads/u1/up1.png"}, {"Content-Type", "image/png"}, {"x-oss-content-type", "image/png"},
		{"x-oss-object-acl", "private"}, {"x-oss-storage-class", "Standard"}, {"success_action_status", "204"}}
	with := func(form map[string]string, name, value string) map[string]string {
		out := make(map[string]string, len(form)+1)
		for k, v := range form {
			out[k] = v
		}
		out[name] = value
		return out
	}
	valid := ossForm(t, testCredentials, now, base)
	typeOf := func(key string) string {
		t.Helper()
		h, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(key)})
		if err != nil {
			t.Fatalf("HeadObject %s: %v", key, err)
		}
		return deref(h.ContentType)
	}
	for _, tt := range []struct {
		name       string
		form       map[string]string
		fileType   string
		file       []byte
		wantStatus int
		wantCode   string
	}{
		{"one byte more than the range", valid, "image/png", bytes.Repeat([]byte("p"), 1025), 400, "EntityTooLarge"},
		{"empty", valid, "image/png", []byte{}, 400, "EntityTooSmall"},
		{"another key", with(valid, "key", "uploads/u2/up1.png"), "image/png", png, 403, "AccessDenied"},
		{"${filename} in the key", with(valid, "key", "uploads/u1/${filename}"), "image/png", png, 403, "AccessDenied"},
		{"another x-oss-content-type", with(valid, "x-oss-content-type", "text/html"), "image/png", png, 403, "AccessDenied"},
		{"x-oss-object-acl public-read", with(valid, "x-oss-object-acl", "public-read"), "image/png", png, 403, "AccessDenied"},
		{"x-oss-storage-class Archive", with(valid, "x-oss-storage-class", "Archive"), "image/png", png, 403, "AccessDenied"},
		{"another secret", ossForm(t, Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, now, base), "image/png", png, 403, "SignatureDoesNotMatch"},
		{"an unknown key", ossForm(t, Key{SecretID: "LTAIunknown", SecretKey: "x"}, now, base), "image/png", png, 403, "InvalidAccessKeyId"},
		{"unsigned", map[string]string{"key": "uploads/u1/up1.png"}, "image/png", png, 403, "AccessDenied"},
		{"V1 signature", map[string]string{"key": "uploads/u1/up1.png", "OSSAccessKeyId": "LTAI", "policy": "e30=", "Signature": "x"}, "image/png", png, 400, "InvalidArgument"},
		// OSS accepts the form: x-oss-content-type, which the policy pins,
		// decides the stored type whatever the file part says.
		{"a text/html file part", valid, "text/html", png, 204, ""},
	} {
		resp := postOSSForm(t, b, tt.form, tt.fileType, tt.file)
		if code := ossErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%s: %d %q; want %d %q", tt.name, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
	if got := typeOf("uploads/u1/up1.png"); got != "image/png" {
		t.Errorf("stored type after a text/html file part: %q; want image/png", got)
	}
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL("uploads/u1/up1.png"), nil))
	if code := ossErrorCode(t, resp); resp.StatusCode != 403 || code != "AccessDenied" {
		t.Errorf("anonymous GET of the private upload: %d %q; want 403", resp.StatusCode, code)
	}
	for _, k := range []string{"uploads/u2/up1.png", "uploads/u1/upload.png"} {
		if _, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr(k)}); !hasCode(t, err, "NoSuchKey", 404) {
			t.Errorf("%s after refused forms: %v; want NoSuchKey", k, err)
		}
	}

	// Without x-oss-content-type, the file part's own type wins over the
	// Content-Type field, and the field is taken only when the part has
	// none: PostObject's documented order.
	for _, tt := range []struct {
		key, fileType, want string
	}{
		{"order/part.png", "image/webp", "image/webp"},
		{"order/field.png", "", "image/png"},
	} {
		form := ossForm(t, testCredentials, now, []formField{{"key", tt.key}, {"Content-Type", "image/png"}})
		resp := postOSSForm(t, b, form, tt.fileType, png)
		if code := ossErrorCode(t, resp); resp.StatusCode != 204 {
			t.Fatalf("POST %s: %d %q", tt.key, resp.StatusCode, code)
		}
		if got := typeOf(tt.key); got != tt.want {
			t.Errorf("%s, file part %q, Content-Type field image/png: stored %q; want %q", tt.key, tt.fileType, got, tt.want)
		}
	}

	// What a form names is stored, and 201 answers a PostResponse.
	form := ossForm(t, testCredentials, now, []formField{{"key", "avatars/attrs.png"}, {"x-oss-content-type", "image/png"},
		{"x-oss-object-acl", "public-read"}, {"x-oss-storage-class", "IA"}, {"x-oss-meta-owner", "u1"},
		{"Content-Disposition", "inline"}, {"success_action_status", "201"}})
	resp = postOSSForm(t, b, form, "application/octet-stream", png)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct {
		XMLName                     xml.Name `xml:"PostResponse"`
		Location, Bucket, Key, ETag string
	}
	if err := xml.Unmarshal(raw, &doc); err != nil || resp.StatusCode != 201 || doc.Bucket != testBucketName || doc.Key != "avatars/attrs.png" ||
		doc.ETag != b.etagOf(png) || doc.Location != b.objectURL("avatars/attrs.png") || resp.Header.Get("x-oss-hash-crc64ecma") != sdkCRC64(png) {
		t.Errorf("201 answer: %d %s (%v), CRC %q; want a PostResponse for avatars/attrs.png with ETag %s", resp.StatusCode, raw, err,
			resp.Header.Get("x-oss-hash-crc64ecma"), b.etagOf(png))
	}
	h, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucketName), Key: oss.Ptr("avatars/attrs.png")})
	if err != nil || deref(h.StorageClass) != "IA" || h.Metadata["owner"] != "u1" || h.Headers.Get("Content-Disposition") != "inline" ||
		deref(h.ContentType) != "image/png" {
		t.Errorf("HeadObject of the form's upload: %+v, %v; want IA, owner u1, inline, image/png", h, err)
	}

	// An expired policy, and a form dated ahead of the server's clock.
	late := newOSSBucket(t, Config{Now: func() time.Time { return now.Add(11 * time.Minute) }})
	early := newOSSBucket(t, Config{Now: func() time.Time { return now.Add(-16 * time.Minute) }})
	for name, tb := range map[string]*testBucket{"expired": late, "dated ahead": early} {
		resp := postOSSForm(t, tb, valid, "image/png", png)
		want := map[string]string{"expired": "AccessDenied", "dated ahead": "RequestTimeTooSkewed"}[name]
		if code := ossErrorCode(t, resp); resp.StatusCode != 403 || code != want {
			t.Errorf("%s form: %d %q; want 403 %s", name, resp.StatusCode, code, want)
		}
		tb.assertNoTempFiles(t)
	}
	b.assertNoTempFiles(t)
}

// TestOSSServerLogsNoSecrets: the OSS refusals are logged with their codes, and
// no secret, token or signature reaches the log.
func TestOSSServerLogsNoSecrets(t *testing.T) {
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	temporary := Key{SecretID: "STS.temporary", SecretKey: "temporary-secret-key", SessionToken: "sts-secret-token"}
	b := newOSSBucket(t, Config{Logger: logger}, temporary)
	ctx := context.Background()
	if _, err := b.ossClient(t, temporary, ossClientOptions{}).PutObject(ctx, &oss.PutObjectRequest{
		Bucket: oss.Ptr(testBucketName), Key: oss.Ptr("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	wrong := temporary
	wrong.SessionToken = "sts-secret-other"
	_, _ = b.ossClient(t, wrong, ossClientOptions{}).PutObject(ctx, &oss.PutObjectRequest{
		Bucket: oss.Ptr(testBucketName), Key: oss.Ptr("k"), Body: strings.NewReader("x")})
	res, err := b.ossClient(t, wrong, ossClientOptions{signContentLength: true}).Presign(ctx, &oss.PutObjectRequest{
		Bucket: oss.Ptr(testBucketName), Key: oss.Ptr("k"), ContentLength: oss.Ptr(int64(1))})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(res.URL)
	sig := u.Query().Get("x-oss-signature")
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodPut, res.URL, strings.NewReader("x")))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || bytes.Contains(body, []byte(sig)) || bytes.Contains(body, []byte("sts-secret")) {
		t.Errorf("presigned PUT with another token: %d %s; want 403 without the signature or a token", resp.StatusCode, body)
	}
	forged := strings.Replace(res.URL, sig, strings.Repeat("feedface", 8), 1)
	testutil.Do(t, testutil.MustRequest(t, http.MethodPut, forged, strings.NewReader("x"))).Body.Close()
	form := ossForm(t, wrong, time.Now(), []formField{{"key", "k"}})
	postOSSForm(t, b, form, "image/png", []byte("x")).Body.Close()
	b.srv.Close() // waits for every handler, so every log line is written

	out := logs.String()
	if !strings.Contains(out, "InvalidSecurityToken") || !strings.Contains(out, "SignatureDoesNotMatch") ||
		!strings.Contains(out, "protocol=oss") {
		t.Fatalf("logs lack the refusals they should record:\n%s", out)
	}
	for _, secret := range []string{"temporary-secret-key", "sts-secret", "feedface", sig, "x-oss-signature", "Credential="} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q:\n%s", secret, out)
		}
	}
}
