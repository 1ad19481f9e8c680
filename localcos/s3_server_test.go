package localcos

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/wxavatar/wxavatar/internal/testutil"
)

// The local server in its S3 dialect, driven by minio-go (the client the
// production S3 storage uses) and by raw requests minio-go would never
// send.

const testRegion = "us-east-1"

func newS3Bucket(t *testing.T, cfg Config, creds ...Key) *testBucket {
	t.Helper()
	cfg.Protocol = ProtocolS3
	return newTestBucket(t, cfg, creds...)
}

// minioClient is minio-go pointed at the bucket path-style, signing with
// cred. It does not retry: every refusal is seen as sent.
func (b *testBucket) minioClient(t *testing.T, cred Key, region string) *minio.Client {
	t.Helper()
	c, err := minio.New(b.url.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cred.SecretID, cred.SecretKey, cred.SessionToken),
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// s3Code is the S3 error code and status of a minio-go error.
func s3Code(err error) (string, int) {
	if err == nil {
		return "", 0
	}
	resp := minio.ToErrorResponse(err)
	return resp.Code, resp.StatusCode
}

// objectURL is key's URL on the bucket, addressed as its protocol does.
func (b *testBucket) objectURL(key string) string {
	path := "/" + key
	if b.protocol != ProtocolCOS {
		path = "/" + testBucketName + "/" + key
	}
	return b.srv.URL + (&url.URL{Path: path}).EscapedPath()
}

// errorCode reads the protocol's error document from resp and closes it.
func (b *testBucket) errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	switch b.protocol {
	case ProtocolCOS:
		return testutil.COSErrorCode(t, resp)
	case ProtocolOSS:
		return ossErrorCode(t, resp)
	}
	return s3ErrorCode(t, resp)
}

// etagOf is the ETag header the bucket's protocol answers for data: the
// quoted hex MD5, in upper case on OSS.
func (b *testBucket) etagOf(data []byte) string {
	sum := md5.Sum(data)
	hexSum := hex.EncodeToString(sum[:])
	if b.protocol == ProtocolOSS {
		hexSum = strings.ToUpper(hexSum)
	}
	return `"` + hexSum + `"`
}

// s3ErrorCode reads an S3 error document, checking it is one as S3 writes
// it: XML with its declaration, the request id of the header, a message.
func s3ErrorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode < 400 || resp.Request.Method == http.MethodHead {
		return ""
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/xml" {
		t.Errorf("error Content-Type: got %q; want application/xml", got)
	}
	if !bytes.HasPrefix(raw, []byte(xml.Header)) {
		t.Errorf("error body: got %q; want the XML declaration first", raw)
	}
	var doc struct {
		Code, Message, Resource string
		RequestID               string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	if id := resp.Header.Get("x-amz-request-id"); id == "" || id != doc.RequestID {
		t.Errorf("request id: header %q, body %q; want equal and non-empty", id, doc.RequestID)
	}
	if doc.Message == "" || doc.Resource != resp.Request.URL.Path {
		t.Errorf("error %s: message %q, resource %q; want a message and %q", doc.Code, doc.Message, doc.Resource, resp.Request.URL.Path)
	}
	return doc.Code
}

// s3SignedRequest signs req in its Authorization header with minio-go's
// signer, as the production client would, with the given payload hash
// (UNSIGNED-PAYLOAD when empty).
func s3SignedRequest(req *http.Request, cred Key, payload string) *http.Request {
	if payload == "" {
		payload = unsignedPayload
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	return signer.SignV4(*req, cred.SecretID, cred.SecretKey, cred.SessionToken, testRegion)
}

func hexSum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestS3MinioRoundTrip: what minio-go writes (over plain HTTP, as aws-chunked
// with chunk signatures), it reads back whole and by range, anyone may read
// it, and it is gone once removed.
func TestS3MinioRoundTrip(t *testing.T) {
	b := newS3Bucket(t, Config{})
	c := b.minioClient(t, testCredentials, testRegion)
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
		strings.Repeat("k", 1024),
	}
	for i, key := range keys {
		t.Run(key[:min(len(key), 32)], func(t *testing.T) {
			// More than minio-go's 64 KiB chunk, so the body has several.
			data := bytes.Repeat([]byte{byte(i), 0xff, '\n', 0}, 20000+i)
			info, err := c.PutObject(ctx, testBucketName, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
				ContentType: "image/png", UserMetadata: map[string]string{"owner": "u1"},
			})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			sum := md5.Sum(data)
			wantETag := hex.EncodeToString(sum[:])
			if info.ETag != wantETag {
				t.Errorf("PutObject ETag: got %q; want %q", info.ETag, wantETag)
			}

			st, err := c.StatObject(ctx, testBucketName, key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatalf("StatObject: %v", err)
			}
			if st.Size != int64(len(data)) || st.ContentType != "image/png" || st.ETag != wantETag ||
				st.UserMetadata["Owner"] != "u1" || st.Metadata.Get("Content-Encoding") != "" {
				t.Errorf("StatObject: size %d, type %q, ETag %q, owner %q, Content-Encoding %q; want %d, image/png, %s, u1, none",
					st.Size, st.ContentType, st.ETag, st.UserMetadata["Owner"], st.Metadata.Get("Content-Encoding"), len(data), wantETag)
			}

			obj, err := c.GetObject(ctx, testBucketName, key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			obj.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("GetObject: %d bytes (%v); want the %d bytes put", len(got), err, len(data))
			}

			opts := minio.GetObjectOptions{}
			if err := opts.SetRange(10, 19); err != nil {
				t.Fatal(err)
			}
			obj, err = c.GetObject(ctx, testBucketName, key, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err = io.ReadAll(obj)
			obj.Close()
			if err != nil || !bytes.Equal(got, data[10:20]) {
				t.Errorf("GetObject range 10-19: %q (%v); want %q", got, err, data[10:20])
			}

			// Objects are public: a plain unsigned GET of the path-style URL works.
			resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(key), nil))
			got, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
				t.Errorf("public GET: %d, %d bytes; want 200, %d bytes", resp.StatusCode, len(got), len(data))
			}

			if err := c.RemoveObject(ctx, testBucketName, key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatalf("RemoveObject: %v", err)
			}
			_, err = c.StatObject(ctx, testBucketName, key, minio.StatObjectOptions{})
			if code, status := s3Code(err); code != "NoSuchKey" || status != http.StatusNotFound {
				t.Errorf("StatObject after RemoveObject: %d %q; want 404 NoSuchKey", status, code)
			}
			// Removing what is gone still succeeds, as on S3.
			if err := c.RemoveObject(ctx, testBucketName, key, minio.RemoveObjectOptions{}); err != nil {
				t.Errorf("second RemoveObject: %v; want success", err)
			}
		})
	}
	b.assertNoTempFiles(t)
}

func TestS3MinioBucketExists(t *testing.T) {
	b := newS3Bucket(t, Config{})
	ctx := context.Background()
	c := b.minioClient(t, testCredentials, testRegion)
	if ok, err := c.BucketExists(ctx, testBucketName); !ok || err != nil {
		t.Errorf("BucketExists(%s): %v, %v; want true", testBucketName, ok, err)
	}
	if ok, err := c.BucketExists(ctx, "other-bucket"); ok || err != nil {
		t.Errorf("BucketExists(other-bucket): %v, %v; want false, no error", ok, err)
	}
	_, err := b.minioClient(t, Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, testRegion).BucketExists(ctx, testBucketName)
	if _, status := s3Code(err); status != http.StatusForbidden {
		t.Errorf("BucketExists with a wrong secret: %v; want 403", err)
	}
	// A client not told the region asks the bucket's location first.
	c = b.minioClient(t, testCredentials, "")
	if _, err := c.PutObject(ctx, testBucketName, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Errorf("PutObject by a client that looked the region up: %v", err)
	}
	// Another bucket's objects do not exist here.
	_, err = c.PutObject(ctx, "other-bucket", "k", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	if code, status := s3Code(err); code != "NoSuchBucket" || status != http.StatusNotFound {
		t.Errorf("PutObject to another bucket: %d %q; want 404 NoSuchBucket", status, code)
	}
}

func TestS3MinioCredentials(t *testing.T) {
	temporary := Key{SecretID: "ASIAtemporary", SecretKey: "temporary-key", SessionToken: "sts-token"}
	older := Key{SecretID: "AKIDolder", SecretKey: "older-key"}
	b := newS3Bucket(t, Config{}, testCredentials, temporary, older)
	ctx := context.Background()
	put := func(cred Key) error {
		_, err := b.minioClient(t, cred, testRegion).PutObject(ctx, testBucketName, "written.txt",
			strings.NewReader("data"), 4, minio.PutObjectOptions{})
		return err
	}
	for _, tt := range []struct {
		name       string
		cred       Key
		wantCode   string
		wantStatus int
	}{
		{"permanent key", testCredentials, "", 0},
		{"older key while both are valid", older, "", 0},
		{"temporary key with its token", temporary, "", 0},
		{"wrong secret", Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, "SignatureDoesNotMatch", 403},
		{"unknown key", Key{SecretID: "AKIDunknown", SecretKey: "x"}, "InvalidAccessKeyId", 403},
		{"temporary key without token", Key{SecretID: temporary.SecretID, SecretKey: temporary.SecretKey}, "AccessDenied", 403},
		{"temporary key, another token", Key{SecretID: temporary.SecretID, SecretKey: temporary.SecretKey, SessionToken: "old"}, "InvalidToken", 400},
		{"permanent key with a token", Key{SecretID: testCredentials.SecretID, SecretKey: testCredentials.SecretKey, SessionToken: "sts-token"}, "InvalidToken", 400},
	} {
		if code, status := s3Code(put(tt.cred)); code != tt.wantCode || status != tt.wantStatus {
			t.Errorf("%s: %d %q; want %d %q", tt.name, status, code, tt.wantStatus, tt.wantCode)
		}
	}
	b.creds.Store(&[]Key{testCredentials}) // the older key is retired
	if code, _ := s3Code(put(older)); code != "InvalidAccessKeyId" {
		t.Errorf("a retired key: %q; want InvalidAccessKeyId", code)
	}
}

// sendPresigned sends body to a presigned URL with the given headers; an
// unknown length (-1) is sent chunked, without Content-Length.
func sendPresigned(t *testing.T, method, target string, header http.Header, body []byte, length int64) *http.Response {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if length < 0 {
		r = io.MultiReader(r)
	}
	req := testutil.MustRequest(t, method, target, r)
	req.ContentLength = length
	for k, vs := range header {
		req.Header[k] = vs
	}
	return testutil.Do(t, req)
}

// TestS3MinioPresignedPut: minio-go's presigned PUT URLs work, and a URL
// signing the exact Content-Type, Content-Length, ACL and storage class (as
// the production signer signs them) takes nothing else.
func TestS3MinioPresignedPut(t *testing.T) {
	temporary := Key{SecretID: "ASIAtemporary", SecretKey: "temporary-key", SessionToken: "sts-token"}
	b := newS3Bucket(t, Config{}, testCredentials, temporary)
	ctx := context.Background()
	c := b.minioClient(t, testCredentials, testRegion)

	u, err := c.PresignedPutObject(ctx, testBucketName, "plain/any.bin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp := sendPresigned(t, http.MethodPut, u.String(), nil, []byte("any bytes"), 9)
	if code := s3ErrorCode(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("PresignedPutObject PUT: %d %q; want 200", resp.StatusCode, code)
	}

	const key = "uploads/u 1/(up1)腾讯.png"
	png := []byte("png bytes")
	signed := http.Header{
		"Content-Type":        {"image/png"},
		"Content-Length":      {fmt.Sprint(len(png))},
		"X-Amz-Acl":           {"private"},
		"X-Amz-Storage-Class": {"STANDARD"},
	}
	presign := func(t *testing.T, cred Key, key string, expires time.Duration) string {
		t.Helper()
		u, err := b.minioClient(t, cred, testRegion).PresignHeader(ctx, http.MethodPut, testBucketName, key, expires, nil, signed)
		if err != nil {
			t.Fatal(err)
		}
		return u.String()
	}
	with := func(edit func(h http.Header)) http.Header {
		h := signed.Clone()
		h.Del("Content-Length") // the client sends the body's
		edit(h)
		return h
	}
	same := with(func(http.Header) {})
	valid := presign(t, testCredentials, key, time.Hour)
	for _, tt := range []struct {
		name       string
		url        string
		header     http.Header
		body       []byte
		length     int64
		wantStatus int
		wantCode   string
	}{
		{"wrong Content-Type", valid, with(func(h http.Header) { h.Set("Content-Type", "text/html") }), png, 9, 403, "SignatureDoesNotMatch"},
		{"too large", valid, same, append(png, 'x'), 10, 403, "SignatureDoesNotMatch"},
		{"too small", valid, same, png[:8], 8, 403, "SignatureDoesNotMatch"},
		{"no Content-Length (chunked)", valid, same, png, -1, 403, "SignatureDoesNotMatch"},
		{"public ACL", valid, with(func(h http.Header) { h.Set("X-Amz-Acl", "public-read") }), png, 9, 403, "SignatureDoesNotMatch"},
		{"unsigned Cache-Control", valid, with(func(h http.Header) { h.Set("Cache-Control", "max-age=31536000") }), png, 9, 403, "AccessDenied"},
		{"unsigned x-amz-meta-", valid, with(func(h http.Header) { h.Set("X-Amz-Meta-Owner", "mallory") }), png, 9, 403, "AccessDenied"},
		{"unsigned x-amz-tagging", valid, with(func(h http.Header) { h.Set("X-Amz-Tagging", "a=b") }), png, 9, 403, "AccessDenied"},
		{"replayed to another key", strings.Replace(valid, "up1", "up2", 1), same, png, 9, 403, "SignatureDoesNotMatch"},
		{"another key's signature", presign(t, Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, key, time.Hour), same, png, 9, 403, "SignatureDoesNotMatch"},
		{"temporary key's token stripped", func() string {
			u, _ := url.Parse(presign(t, temporary, key, time.Hour))
			q := u.Query()
			q.Del("X-Amz-Security-Token")
			u.RawQuery = q.Encode()
			return u.String()
		}(), same, png, 9, 403, "SignatureDoesNotMatch"},
		{"temporary key with its token", presign(t, temporary, key, time.Hour), same, png, 9, 200, ""},
		{"exact", valid, same, png, 9, 200, ""},
	} {
		resp := sendPresigned(t, http.MethodPut, tt.url, tt.header, tt.body, tt.length)
		if code := s3ErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%s: %d %q; want %d %q", tt.name, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
	// The upload is private, of the signed type.
	st, err := c.StatObject(ctx, testBucketName, key, minio.StatObjectOptions{})
	if err != nil || st.ContentType != "image/png" || st.Size != 9 {
		t.Errorf("StatObject: %+v, %v; want image/png, 9 bytes", st, err)
	}
	resp = testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(key), nil))
	if code := s3ErrorCode(t, resp); resp.StatusCode != 403 || code != "AccessDenied" {
		t.Errorf("anonymous GET of a private upload: %d %q; want 403 AccessDenied", resp.StatusCode, code)
	}
	for _, k := range []string{"uploads/u 1/(up2)腾讯.png"} {
		if _, err := c.StatObject(ctx, testBucketName, k, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Errorf("StatObject %s after refused uploads: %v; want NoSuchKey", k, err)
		}
	}

	// Expired: the same URL to a server whose clock is two hours on.
	later := newS3Bucket(t, Config{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	expired, err := later.minioClient(t, testCredentials, testRegion).PresignHeader(ctx, http.MethodPut, testBucketName, key, time.Hour, nil, signed)
	if err != nil {
		t.Fatal(err)
	}
	resp = sendPresigned(t, http.MethodPut, expired.String(), same, png, 9)
	code, message := s3CodeMessage(t, resp)
	if resp.StatusCode != 403 || code != "AccessDenied" || message != "Request has expired." {
		t.Errorf("expired URL: %d %q %q; want 403 AccessDenied Request has expired.", resp.StatusCode, code, message)
	}
	b.assertNoTempFiles(t)
}

func s3CodeMessage(t *testing.T, resp *http.Response) (string, string) {
	t.Helper()
	defer resp.Body.Close()
	var doc struct{ Code, Message string }
	raw, _ := io.ReadAll(resp.Body)
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	return doc.Code, doc.Message
}

// postS3Form posts formData and then the file to target.
func postS3Form(t *testing.T, target string, formData map[string]string, file []byte) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range formData {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", "upload.png")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req := testutil.MustRequest(t, http.MethodPost, target, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return testutil.Do(t, req)
}

// TestS3MinioPresignedPostPolicy: minio-go's POST policy, pinned to one key,
// one Content-Type and 1 to 1024 bytes, uploads; nothing else it was not
// signed for does.
func TestS3MinioPresignedPostPolicy(t *testing.T) {
	temporary := Key{SecretID: "ASIAtemporary", SecretKey: "temporary-key", SessionToken: "sts-token"}
	b := newS3Bucket(t, Config{}, testCredentials, temporary)
	ctx := context.Background()
	const key = "uploads/u1/up1.png"
	sign := func(t *testing.T, b *testBucket, cred Key, expires time.Time, edit func(p *minio.PostPolicy)) (string, map[string]string) {
		t.Helper()
		p := minio.NewPostPolicy()
		for _, err := range []error{
			p.SetBucket(testBucketName), p.SetKey(key), p.SetContentType("image/png"),
			p.SetContentLengthRange(1, 1024), p.SetExpires(expires),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if edit != nil {
			edit(p)
		}
		u, form, err := b.minioClient(t, cred, testRegion).PresignedPostPolicy(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return u.String(), form
	}
	in := time.Now().Add(10 * time.Minute)
	target, valid := sign(t, b, testCredentials, in, nil)
	with := func(form map[string]string, name, value string) map[string]string {
		out := make(map[string]string, len(form)+1)
		for k, v := range form {
			out[k] = v
		}
		out[name] = value
		return out
	}
	png := bytes.Repeat([]byte("p"), 100)
	_, tempForm := sign(t, b, temporary, in, nil)
	_, wrongForm := sign(t, b, Key{SecretID: testCredentials.SecretID, SecretKey: "wrong"}, in, nil)
	_, unknownForm := sign(t, b, Key{SecretID: "AKIDunknown", SecretKey: "x"}, in, nil)
	_, form201 := sign(t, b, testCredentials, in, func(p *minio.PostPolicy) {
		if err := p.SetSuccessStatusAction("201"); err != nil {
			t.Fatal(err)
		}
	})
	for _, tt := range []struct {
		name       string
		target     string
		form       map[string]string
		file       []byte
		wantStatus int
		wantCode   string
	}{
		{"wrong Content-Type", target, with(valid, "Content-Type", "text/html"), png, 403, "AccessDenied"},
		{"too large", target, valid, bytes.Repeat([]byte("p"), 1025), 400, "EntityTooLarge"},
		{"empty", target, valid, []byte{}, 400, "EntityTooSmall"},
		{"replayed to another key", target, with(valid, "key", "uploads/u2/up1.png"), png, 403, "AccessDenied"},
		{"a public ACL added", target, with(valid, "acl", "public-read"), png, 403, "AccessDenied"},
		{"another key's signature", target, wrongForm, png, 403, "SignatureDoesNotMatch"},
		{"unknown key", target, unknownForm, png, 403, "InvalidAccessKeyId"},
		{"temporary key, another token", target, with(tempForm, "x-amz-security-token", "old"), png, 400, "InvalidToken"},
		{"temporary key, token dropped", target, with(tempForm, "x-amz-security-token", ""), png, 403, "AccessDenied"},
		{"another bucket", strings.Replace(target, testBucketName, "other-bucket", 1), valid, png, 404, "NoSuchBucket"},
		{"temporary key with its token", target, tempForm, png, 204, ""},
		{"success_action_status 201", target, form201, png, 201, ""},
		{"to the bucket without its slash", strings.TrimSuffix(target, "/"), valid, png, 204, ""},
		{"valid", target, valid, png, 204, ""},
	} {
		resp := postS3Form(t, tt.target, tt.form, tt.file)
		if code := s3ErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%s: %d %q; want %d %q", tt.name, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
	// A 201 answers S3's PostResponse, locating the object path-style.
	resp := postS3Form(t, target, form201, png)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct {
		XMLName                     xml.Name `xml:"PostResponse"`
		Location, Bucket, Key, ETag string
	}
	sum := md5.Sum(png)
	if err := xml.Unmarshal(raw, &doc); err != nil || doc.Location != b.objectURL(key) || doc.Bucket != testBucketName ||
		doc.Key != key || doc.ETag != `"`+hex.EncodeToString(sum[:])+`"` || resp.Header.Get("Location") != b.objectURL(key) {
		t.Errorf("201 answer: %s (%v), Location %q; want a PostResponse for %s", raw, err, resp.Header.Get("Location"), b.objectURL(key))
	}
	c := b.minioClient(t, testCredentials, testRegion)
	st, err := c.StatObject(ctx, testBucketName, key, minio.StatObjectOptions{})
	if err != nil || st.ContentType != "image/png" || st.Size != int64(len(png)) {
		t.Errorf("StatObject of the upload: %+v, %v; want image/png, %d bytes", st, err, len(png))
	}
	if _, err := c.StatObject(ctx, testBucketName, "uploads/u2/up1.png", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("the key a refused form named: %v; want NoSuchKey", err)
	}

	// An expired policy, and one whose time the server's clock has passed.
	later := newS3Bucket(t, Config{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	target, form := sign(t, later, testCredentials, in, nil)
	resp = postS3Form(t, target, form, png)
	if code := s3ErrorCode(t, resp); resp.StatusCode != 403 || code != "AccessDenied" {
		t.Errorf("expired policy: %d %q; want 403 AccessDenied", resp.StatusCode, code)
	}
	b.assertNoTempFiles(t)
}

// TestS3HeaderSignedHostile: requests signed in the Authorization header that
// minio-go would not send.
func TestS3HeaderSignedHostile(t *testing.T) {
	b := newS3Bucket(t, Config{})
	skewed := newS3Bucket(t, Config{Now: func() time.Time { return time.Now().Add(20 * time.Minute) }})
	put := func(b *testBucket, path string, body []byte, payload string, before, after map[string]string) *http.Response {
		req := testutil.MustRequest(t, http.MethodPut, b.srv.URL+path, bytes.NewReader(body))
		for k, v := range before {
			req.Header.Set(k, v)
		}
		req = s3SignedRequest(req, testCredentials, payload)
		for k, v := range after {
			req.Header.Set(k, v)
		}
		return testutil.Do(t, req)
	}
	obj := "/" + testBucketName + "/h/obj.txt"
	data := []byte("data")
	for _, tt := range []struct {
		name          string
		b             *testBucket
		path          string
		payload       string
		before, after map[string]string
		wantStatus    int
		wantCode      string
	}{
		{name: "body unlike its signed hash", b: b, path: obj, payload: hexSum([]byte("other")), wantStatus: 400, wantCode: "XAmzContentSHA256Mismatch"},
		{name: "hash not hex", b: b, path: obj, payload: "not-a-hash", wantStatus: 400, wantCode: "InvalidArgument"},
		{name: "trailer streaming", b: b, path: obj, payload: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", wantStatus: 501, wantCode: "NotImplemented"},
		{name: "clock 20 minutes apart", b: skewed, path: obj, payload: hexSum(data), wantStatus: 403, wantCode: "RequestTimeTooSkewed"},
		{name: "x-amz-acl added after signing", b: b, path: obj, payload: hexSum(data), after: map[string]string{"X-Amz-Acl": "public-read"}, wantStatus: 403, wantCode: "AccessDenied"},
		{name: "Cache-Control added after signing", b: b, path: obj, payload: hexSum(data), after: map[string]string{"Cache-Control": "max-age=1"}, wantStatus: 403, wantCode: "AccessDenied"},
		{name: "another bucket", b: b, path: "/other-bucket/h/obj.txt", payload: hexSum(data), wantStatus: 404, wantCode: "NoSuchBucket"},
		{name: "key too long", b: b, path: "/" + testBucketName + "/" + strings.Repeat("k", 1025), payload: hexSum(data), wantStatus: 400, wantCode: "KeyTooLongError"},
		{name: "COS storage class", b: b, path: obj, payload: hexSum(data), before: map[string]string{"X-Amz-Storage-Class": "ARCHIVE"}, wantStatus: 400, wantCode: "InvalidStorageClass"},
		{name: "COS default ACL", b: b, path: obj, payload: hexSum(data), before: map[string]string{"X-Amz-Acl": "default"}, wantStatus: 400, wantCode: "InvalidArgument"},
		{name: "user metadata over 2 KB", b: b, path: obj, payload: hexSum(data), before: map[string]string{"X-Amz-Meta-Big": strings.Repeat("x", 2049)}, wantStatus: 400, wantCode: "MetadataTooLarge"},
	} {
		resp := put(tt.b, tt.path, data, tt.payload, tt.before, tt.after)
		if code := s3ErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%s: %d %q; want %d %q", tt.name, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
	// Nothing a refusal touched was stored.
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodHead, b.srv.URL+obj, nil))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD after refused writes: %d; want 404", resp.StatusCode)
	}
	// The body whose hash was signed is stored.
	resp = put(b, obj, data, hexSum(data), nil, nil)
	if code := s3ErrorCode(t, resp); resp.StatusCode != 200 {
		t.Errorf("PUT with the body's hash: %d %q; want 200", resp.StatusCode, code)
	}

	for _, tt := range []struct {
		method, path string
		signed       bool
		wantStatus   int
		wantCode     string
	}{
		{http.MethodGet, "/" + testBucketName, true, 501, "NotImplemented"},
		{http.MethodHead, "/" + testBucketName, true, 200, ""},
		{http.MethodHead, "/" + testBucketName + "/", true, 200, ""},
		{http.MethodGet, "/", true, 501, "NotImplemented"},
		{http.MethodGet, "/" + testBucketName + "?location", false, 403, "AccessDenied"},
		{http.MethodHead, "/" + testBucketName, false, 403, ""},
		{http.MethodPut, obj, false, 403, "AccessDenied"},
		{http.MethodDelete, obj, false, 403, "AccessDenied"},
		{http.MethodPost, "/" + testBucketName + "/", false, 400, "MalformedPOSTRequest"},
		{http.MethodPatch, obj, false, 405, "MethodNotAllowed"},
		{http.MethodGet, "/other-bucket/k", false, 404, "NoSuchBucket"},
		{http.MethodGet, "/" + testBucketName + "/missing", false, 404, "NoSuchKey"},
		{http.MethodGet, obj + "?AWSAccessKeyId=AKID&Signature=x&Expires=1", false, 400, "InvalidRequest"},
	} {
		req := testutil.MustRequest(t, tt.method, b.srv.URL+tt.path, nil)
		if tt.signed {
			req = s3SignedRequest(req, testCredentials, "")
		}
		resp := testutil.Do(t, req)
		if code := s3ErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%s %s: %d %q; want %d %q", tt.method, tt.path, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
	b.assertNoTempFiles(t)
}

// TestS3ChunkedVectorThroughServer replays AWS's own chunked upload (C1)
// against the server, then reads back what it stored.
func TestS3ChunkedVectorThroughServer(t *testing.T) {
	b := newTestBucket(t, Config{Protocol: ProtocolS3, Region: "us-east-1", Now: func() time.Time { return may24 }}, awsDocKey)
	// newTestBucket names its own bucket; C1 addresses examplebucket.
	s, err := New(Config{Protocol: ProtocolS3, Region: "us-east-1", Dir: b.dir, Bucket: "examplebucket",
		Credentials: func() []Key { return []Key{awsDocKey} }, Now: func() time.Time { return may24 }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		body       []byte
		wantStatus int
		wantCode   string
	}{
		{"a data byte changed", func() []byte { c := c1Body(c1Final); c[300] = 'b'; return c }(), 403, "SignatureDoesNotMatch"},
		{"AWS's body", c1Body(c1Final), 200, ""},
	} {
		req := c1Request("http://s3.amazonaws.com/examplebucket/chunkObject.txt", tt.body)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantCode) {
			t.Errorf("%s: %d %s; want %d %s", tt.name, rec.Code, rec.Body.String(), tt.wantStatus, tt.wantCode)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/examplebucket/chunkObject.txt", nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), bytes.Repeat([]byte("a"), 66560)) ||
		rec.Header().Get("x-amz-storage-class") != "REDUCED_REDUNDANCY" || rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("GET chunkObject.txt: %d, %d bytes, class %q, Content-Encoding %q; want 200, 66560 × a, REDUCED_REDUNDANCY, none",
			rec.Code, rec.Body.Len(), rec.Header().Get("x-amz-storage-class"), rec.Header().Get("Content-Encoding"))
	}
	b.assertNoTempFiles(t)
}

// TestS3StorageClassAndACL: S3's classes are stored and reported, the
// archive ones refuse GET until restored; S3's canned ACLs decide who reads.
func TestS3StorageClassAndACL(t *testing.T) {
	b := newS3Bucket(t, Config{})
	ctx := context.Background()
	c := b.minioClient(t, testCredentials, testRegion)
	for _, tt := range []struct {
		class, wantHeader string
		wantGet           int
		wantCode          string
	}{
		{"", "", 200, ""},
		{"STANDARD", "", 200, ""},
		{"REDUCED_REDUNDANCY", "REDUCED_REDUNDANCY", 200, ""},
		{"STANDARD_IA", "STANDARD_IA", 200, ""},
		{"ONEZONE_IA", "ONEZONE_IA", 200, ""},
		{"INTELLIGENT_TIERING", "INTELLIGENT_TIERING", 200, ""},
		{"GLACIER_IR", "GLACIER_IR", 200, ""},
		{"GLACIER", "GLACIER", 403, "InvalidObjectState"},
		{"DEEP_ARCHIVE", "DEEP_ARCHIVE", 403, "InvalidObjectState"},
	} {
		key := "class/" + tt.class + ".png"
		if _, err := c.PutObject(ctx, testBucketName, key, strings.NewReader("png"), 3,
			minio.PutObjectOptions{ContentType: "image/png", StorageClass: tt.class}); err != nil {
			t.Fatalf("PutObject %s: %v", tt.class, err)
		}
		st, err := c.StatObject(ctx, testBucketName, key, minio.StatObjectOptions{})
		if err != nil || st.Metadata.Get("x-amz-storage-class") != tt.wantHeader {
			t.Errorf("StatObject %s: x-amz-storage-class %q (%v); want %q", tt.class, st.Metadata.Get("x-amz-storage-class"), err, tt.wantHeader)
		}
		resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL(key), nil))
		if code := s3ErrorCode(t, resp); resp.StatusCode != tt.wantGet || code != tt.wantCode {
			t.Errorf("GET %s: %d %q; want %d %q", tt.class, resp.StatusCode, code, tt.wantGet, tt.wantCode)
		}
	}
	for _, tt := range []struct {
		acl        string
		wantStatus int
		wantCode   string
	}{
		{"", 200, ""},
		{"public-read", 200, ""},
		{"public-read-write", 200, ""},
		{"private", 403, "AccessDenied"},
		{"bucket-owner-full-control", 403, "AccessDenied"},
		{"authenticated-read", 403, "AccessDenied"},
	} {
		key := "acl/" + tt.acl + ".png"
		req := testutil.MustRequest(t, http.MethodPut, b.objectURL(key), strings.NewReader("png"))
		if tt.acl != "" {
			req.Header.Set("X-Amz-Acl", tt.acl)
		}
		resp := testutil.Do(t, s3SignedRequest(req, testCredentials, hexSum([]byte("png"))))
		if code := s3ErrorCode(t, resp); resp.StatusCode != 200 {
			t.Fatalf("PUT x-amz-acl %q: %d %q", tt.acl, resp.StatusCode, code)
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp := testutil.Do(t, testutil.MustRequest(t, method, b.objectURL(key), nil))
			wantCode := tt.wantCode
			if method == http.MethodHead {
				wantCode = "" // a HEAD answer has no body
			}
			if code := s3ErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != wantCode {
				t.Errorf("anonymous %s of x-amz-acl %q: %d %q; want %d %q", method, tt.acl, resp.StatusCode, code, tt.wantStatus, wantCode)
			}
		}
		// The owner's signed reads always work.
		obj, err := c.GetObject(ctx, testBucketName, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if string(got) != "png" || err != nil {
			t.Errorf("signed GET of x-amz-acl %q: %q, %v; want png", tt.acl, got, err)
		}
	}
}

// TestS3MinioCopy: CopyObject keeps or replaces metadata, honours its ETag
// condition, and takes the ACL and class of its own request.
func TestS3MinioCopy(t *testing.T) {
	b := newS3Bucket(t, Config{})
	ctx := context.Background()
	c := b.minioClient(t, testCredentials, testRegion)
	info, err := c.PutObject(ctx, testBucketName, "src.png", strings.NewReader("source bytes"), 12, minio.PutObjectOptions{
		ContentType: "image/png", CacheControl: "no-cache", UserMetadata: map[string]string{"owner": "mallory"}, StorageClass: "STANDARD_IA",
	})
	if err != nil {
		t.Fatal(err)
	}
	src := minio.CopySrcOptions{Bucket: testBucketName, Object: "src.png", MatchETag: info.ETag}
	if _, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: testBucketName, Object: "kept.png"}, src); err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	st, err := c.StatObject(ctx, testBucketName, "kept.png", minio.StatObjectOptions{})
	if err != nil || st.ContentType != "image/png" || st.Metadata.Get("Cache-Control") != "no-cache" ||
		st.UserMetadata["Owner"] != "mallory" || st.Metadata.Get("x-amz-storage-class") != "" || st.ETag != info.ETag {
		t.Errorf("copy with COPY: %+v, %v; want the source's metadata and bytes, STANDARD", st, err)
	}
	dst := minio.CopyDestOptions{Bucket: testBucketName, Object: "replaced.png", ReplaceMetadata: true,
		UserMetadata: map[string]string{"Content-Type": "image/webp"}}
	if _, err := c.CopyObject(ctx, dst, src); err != nil {
		t.Fatalf("CopyObject REPLACE: %v", err)
	}
	st, err = c.StatObject(ctx, testBucketName, "replaced.png", minio.StatObjectOptions{})
	if err != nil || st.ContentType != "image/webp" || st.UserMetadata["Owner"] != "" || st.Metadata.Get("Cache-Control") != "" {
		t.Errorf("copy with REPLACE: type %q, owner %q, Cache-Control %q (%v); want image/webp and nothing else",
			st.ContentType, st.UserMetadata["Owner"], st.Metadata.Get("Cache-Control"), err)
	}
	_, err = c.CopyObject(ctx, minio.CopyDestOptions{Bucket: testBucketName, Object: "x.png"},
		minio.CopySrcOptions{Bucket: testBucketName, Object: "src.png", MatchETag: "0123"})
	if code, status := s3Code(err); code != "PreconditionFailed" || status != 412 {
		t.Errorf("CopyObject with another ETag: %d %q; want 412 PreconditionFailed", status, code)
	}
	_, err = c.CopyObject(ctx, minio.CopyDestOptions{Bucket: testBucketName, Object: "x.png"},
		minio.CopySrcOptions{Bucket: testBucketName, Object: "none.png"})
	if code, status := s3Code(err); code != "NoSuchKey" || status != 404 {
		t.Errorf("CopyObject of a missing source: %d %q; want 404 NoSuchKey", status, code)
	}
}

func TestNewProtocolConfig(t *testing.T) {
	creds := func() []Key { return []Key{testCredentials} }
	dir := t.TempDir()
	for _, tt := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"s3 without a region", Config{Protocol: ProtocolS3, Dir: dir, Bucket: "b-1", Credentials: creds}, "Region"},
		{"s3 with a bucket S3 would refuse", Config{Protocol: ProtocolS3, Region: "us-east-1", Dir: dir, Bucket: "Bad_Bucket", Credentials: creds}, "bucket name"},
		{"oss without a region", Config{Protocol: ProtocolOSS, Dir: dir, Bucket: "b-1", Credentials: creds}, "Region"},
		{"oss with an endpoint's name for a region", Config{Protocol: ProtocolOSS, Region: "oss-cn-hangzhou", Dir: dir, Bucket: "b-1", Credentials: creds}, "region id"},
		{"oss with a bucket OSS would refuse", Config{Protocol: ProtocolOSS, Region: "cn-hangzhou", Dir: dir, Bucket: "b.1", Credentials: creds}, "bucket name"},
		{"oss", Config{Protocol: ProtocolOSS, Region: "cn-hangzhou", Dir: dir, Bucket: "b-1", Credentials: creds}, ""},
		{"an unknown protocol", Config{Protocol: "gcs", Dir: dir, Bucket: "b-1", Credentials: creds}, "unknown protocol"},
		{"cos with a region", Config{Region: "us-east-1", Dir: dir, Bucket: "b-1", Credentials: creds}, "Region"},
		{"s3", Config{Protocol: ProtocolS3, Region: "us-east-1", Dir: dir, Bucket: "b-1", Credentials: creds}, ""},
		{"cos by name", Config{Protocol: ProtocolCOS, Dir: dir, Bucket: "b-1", Credentials: creds}, ""},
	} {
		s, err := New(tt.cfg)
		switch {
		case tt.wantErr == "" && (err != nil || s == nil):
			t.Errorf("%s: %v; want a server", tt.name, err)
		case tt.wantErr != "" && (err == nil || s != nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: %v, %v; want nil and an error naming %q", tt.name, s, err, tt.wantErr)
		}
	}
}

// protocols are the protocols a shared test runs against.
var protocols = []Protocol{ProtocolCOS, ProtocolS3, ProtocolOSS}

// newProtocolBucket is a test bucket speaking proto.
func newProtocolBucket(t *testing.T, proto Protocol, cfg Config, creds ...Key) *testBucket {
	t.Helper()
	cfg.Protocol = proto
	return newTestBucket(t, cfg, creds...)
}

// signedPut is a PUT of data to key, signed in its Authorization header as
// the bucket's protocol signs, with header signed too.
func (b *testBucket) signedPut(t *testing.T, key string, data []byte, header http.Header) *http.Request {
	t.Helper()
	req := testutil.MustRequest(t, http.MethodPut, b.objectURL(key), bytes.NewReader(data))
	for k, vs := range header {
		req.Header[k] = vs
	}
	switch b.protocol {
	case ProtocolCOS:
		cosAddAuthorization(req)
		return req
	case ProtocolOSS:
		return ossSignedRequest(t, req, testCredentials, key)
	}
	return s3SignedRequest(req, testCredentials, hexSum(data))
}

// signedGet is a GET of key (HEAD with method), signed in its
// Authorization header as the bucket's protocol signs.
func (b *testBucket) signedGet(t *testing.T, method, key string) *http.Request {
	t.Helper()
	req := testutil.MustRequest(t, method, b.objectURL(key), nil)
	switch b.protocol {
	case ProtocolCOS:
		cosAddAuthorization(req)
		return req
	case ProtocolOSS:
		return ossSignedRequest(t, req, testCredentials, key)
	}
	return s3SignedRequest(req, testCredentials, "")
}

// put stores data under key, failing the test if it cannot.
func (b *testBucket) put(t *testing.T, key string, data []byte, header http.Header) {
	t.Helper()
	resp := testutil.Do(t, b.signedPut(t, key, data, header))
	if code := b.errorCode(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: %d %q; want 200", key, resp.StatusCode, code)
	}
}

// postURL is where the bucket's POST forms go.
func (b *testBucket) postURL() string {
	if b.protocol == ProtocolCOS {
		return b.srv.URL + "/"
	}
	return b.srv.URL + "/" + testBucketName + "/"
}

func TestS3LogsNoSecrets(t *testing.T) {
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	temporary := Key{SecretID: "ASIAtemporary", SecretKey: "temporary-secret-key", SessionToken: "sts-secret-token"}
	b := newS3Bucket(t, Config{Logger: logger}, temporary)
	ctx := context.Background()
	if _, err := b.minioClient(t, temporary, testRegion).PutObject(ctx, testBucketName, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	wrong := temporary
	wrong.SessionToken = "sts-secret-other"
	_, _ = b.minioClient(t, wrong, testRegion).PutObject(ctx, testBucketName, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	u, err := b.minioClient(t, wrong, testRegion).PresignedPutObject(ctx, testBucketName, "k", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp := sendPresigned(t, http.MethodPut, u.String(), nil, []byte("x"), 1)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sig := u.Query().Get("X-Amz-Signature")
	if resp.StatusCode != 400 || bytes.Contains(body, []byte(sig)) || bytes.Contains(body, []byte("sts-secret")) {
		t.Errorf("presigned PUT with another token: %d %s; want 400 without the signature or a token", resp.StatusCode, body)
	}
	forged := strings.Replace(u.String(), sig, strings.Repeat("feedface", 8), 1)
	sendPresigned(t, http.MethodPut, forged, nil, []byte("x"), 1).Body.Close()
	b.srv.Close() // waits for every handler, so every log line is written

	out := logs.String()
	if !strings.Contains(out, "it does not match the request") || !strings.Contains(out, "InvalidToken") ||
		!strings.Contains(out, "protocol=s3") {
		t.Fatalf("logs lack the refusals they should record:\n%s", out)
	}
	for _, secret := range []string{"temporary-secret-key", "sts-secret", "feedface", sig, "X-Amz-Signature", "Credential="} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q:\n%s", secret, out)
		}
	}
}

// s3Form is a POST form for key as AWS documents one, signed by the test's
// own HMAC (testPostSignature): fields, then the policy's own, every one
// named by a condition unless left out of covered.
func s3Form(t *testing.T, cred Key, now time.Time, fields []formField, skip ...string) map[string]string {
	t.Helper()
	date := now.UTC().Format(iso8601Basic)
	all := append(fields,
		formField{"x-amz-algorithm", "AWS4-HMAC-SHA256"},
		formField{"x-amz-credential", cred.SecretID + "/" + date[:8] + "/" + testRegion + "/s3/aws4_request"},
		formField{"x-amz-date", date})
	if cred.SessionToken != "" {
		all = append(all, formField{"x-amz-security-token", cred.SessionToken})
	}
	conditions := []any{map[string]string{"bucket": testBucketName}}
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
	form["x-amz-signature"] = testPostSignature(cred.SecretKey, date[:8], form["policy"])
	return form
}

// TestS3PostStoresAttributes: a form's acl, x-amz-storage-class and metadata
// fields, once its policy names them, are stored as a PUT's headers are;
// a field the policy does not name is refused, x-amz-date included, as AWS
// requires the policy to name it.
func TestS3PostStoresAttributes(t *testing.T) {
	b := newS3Bucket(t, Config{})
	now := time.Now()
	fields := []formField{{"key", "post/attrs.png"}, {"Content-Type", "image/png"}, {"acl", "private"},
		{"x-amz-storage-class", "STANDARD_IA"}, {"Content-Disposition", "inline"}, {"x-amz-meta-owner", "u1"}}
	for _, tt := range []struct {
		name       string
		form       map[string]string
		wantStatus int
		wantCode   string
	}{
		{"x-amz-date not named", s3Form(t, testCredentials, now, fields, "x-amz-date"), 403, "AccessDenied"},
		{"x-amz-meta-owner not named", s3Form(t, testCredentials, now, fields, "x-amz-meta-owner"), 403, "AccessDenied"},
		{"a COS class", s3Form(t, testCredentials, now, []formField{{"key", "post/attrs.png"}, {"x-amz-storage-class", "ARCHIVE"}}), 400, "InvalidStorageClass"},
		{"x-ignore- fields need no condition", s3Form(t, testCredentials, now, append(fields[:len(fields):len(fields)], formField{"x-ignore-note", "1"}), "x-ignore-note"), 204, ""},
	} {
		resp := postS3Form(t, b.postURL(), tt.form, []byte("png bytes"))
		if code := s3ErrorCode(t, resp); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%s: %d %q; want %d %q", tt.name, resp.StatusCode, code, tt.wantStatus, tt.wantCode)
		}
	}
	resp := testutil.Do(t, testutil.MustRequest(t, http.MethodGet, b.objectURL("post/attrs.png"), nil))
	if code := s3ErrorCode(t, resp); resp.StatusCode != 403 || code != "AccessDenied" {
		t.Errorf("anonymous GET of a private upload: %d %q; want 403 AccessDenied", resp.StatusCode, code)
	}
	st, err := b.minioClient(t, testCredentials, testRegion).StatObject(context.Background(), testBucketName, "post/attrs.png", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"x-amz-storage-class": "STANDARD_IA", "Content-Disposition": "inline",
		"x-amz-meta-owner": "u1", "Content-Type": "image/png"} {
		if got := st.Metadata.Get(name); got != want {
			t.Errorf("HEAD %s: %q; want %q", name, got, want)
		}
	}
}
