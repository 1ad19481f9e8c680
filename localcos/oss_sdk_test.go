package localcos

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// Aliyun's own Go SDK signs, the verifier judges: requests and presigned
// URLs made by alibabacloud-oss-go-sdk-v2 reach an httptest server whose
// handler is the verifier, so this reading of the protocol and Aliyun's
// implementation of it are checked against each other. The SDK signs with
// the real clock, so the verifier's clock is the real one, moved when a
// test wants a URL to have expired.

const (
	ossSDKBucket      = "examplebucket"
	ossSDKRegion      = "cn-hangzhou"
	ossSDKAccessKeyID = "LTAI5tSDKTestKey"
	ossSDKSecret      = "sdk-test-secret"
)

// ossVerifyingServer answers as OSS would after verifying: the stored
// object's bytes for a GET, 200 for a PUT, an OSS error document for a
// refusal. It records what the last request signed.
type ossVerifyingServer struct {
	*httptest.Server

	mu      sync.Mutex
	keys    []Key
	bucket  string
	skew    time.Duration // added to the real clock
	stored  []byte
	last    ossAuth
	lastErr error
}

func newOSSVerifyingServer(t *testing.T, keys ...Key) *ossVerifyingServer {
	s := &ossVerifyingServer{keys: keys, bucket: ossSDKBucket}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *ossVerifyingServer) set(fn func(s *ossVerifyingServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

func (s *ossVerifyingServer) result() (ossAuth, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.lastErr
}

func (s *ossVerifyingServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := ossVerifier{
		credentials: func() []Key { return s.keys },
		now:         func() time.Time { return time.Now().Add(s.skew) },
		bucket:      s.bucket,
		region:      ossSDKRegion,
	}
	auth, err := v.verifyRequest(r)
	if err == nil {
		err = checkOSSStoredHeadersSigned(r, auth)
	}
	s.last, s.lastErr = auth, err
	if err != nil {
		ossWriteError(w, err)
		return
	}
	switch r.Method {
	case http.MethodPut:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.stored = body
		w.Header().Set("ETag", `"0"`)
	case http.MethodGet:
		w.Header().Set("Content-Length", strconv.Itoa(len(s.stored)))
		w.Write(s.stored)
	}
}

func ossWriteError(w http.ResponseWriter, err error) {
	var ce *codedError
	errors.As(err, &ce)
	doc, _ := xml.Marshal(struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		RequestId string
	}{Code: ce.code, Message: ce.message, RequestId: "local"})
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(ce.status)
	w.Write(append([]byte(xml.Header), doc...))
}

type ossSDKClientOptions struct {
	ak, secret, token, region string
	signContentLength         bool
	virtualHosted             bool
}

// ossSDKClient is Aliyun's client pointed at the server: path style on
// 127.0.0.1:port (the SDK addresses an IP endpoint so), or virtual-hosted
// on oss-cn-hangzhou.aliyuncs.com with every connection dialled to the
// server, so the bucket is in the Host while nothing leaves loopback.
func ossSDKClient(t *testing.T, s *ossVerifyingServer, o ossSDKClientOptions) *oss.Client {
	t.Helper()
	if o.ak == "" {
		o.ak, o.secret = ossSDKAccessKeyID, ossSDKSecret
	}
	if o.region == "" {
		o.region = ossSDKRegion
	}
	var tokens []string
	if o.token != "" {
		tokens = []string{o.token}
	}
	cfg := oss.LoadDefaultConfig().
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.ak, o.secret, tokens...)).
		WithRegion(o.region).
		WithSignatureVersion(oss.SignatureVersionV4).
		WithRetryMaxAttempts(1).
		WithDisableUploadCRC64Check(true).
		WithDisableDownloadCRC64Check(true)
	if o.virtualHosted {
		addr := s.Listener.Addr().String()
		cfg = cfg.WithEndpoint("http://oss-cn-hangzhou.aliyuncs.com").WithHttpClient(&http.Client{
			Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}},
		})
	} else {
		cfg = cfg.WithEndpoint(s.URL).WithUsePathStyle(true)
	}
	if o.signContentLength {
		cfg = cfg.WithAdditionalHeaders([]string{"content-length"})
	}
	return oss.NewClient(cfg)
}

// ossSDKErrorCode is the OSS error code and status the SDK reports for err.
func ossSDKErrorCode(err error) (string, int) {
	var se *oss.ServiceError
	if errors.As(err, &se) {
		return se.Code, se.StatusCode
	}
	if err != nil {
		return "not a service error: " + err.Error(), 0
	}
	return "", 0
}

func TestOSSSDKHeaderSignedRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name          string
		token         string
		virtualHosted bool
	}{
		{name: "path style"},
		{name: "path style with STS token", token: "sts-token"},
		{name: "virtual-hosted", virtualHosted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newOSSVerifyingServer(t, Key{SecretID: ossSDKAccessKeyID, SecretKey: ossSDKSecret, SessionToken: tc.token})
			client := ossSDKClient(t, s, ossSDKClientOptions{token: tc.token, virtualHosted: tc.virtualHosted})
			ctx := context.Background()
			key := "avatars/头 像+1 (2).png"
			body := []byte("\x89PNG not really")
			_, err := client.PutObject(ctx, &oss.PutObjectRequest{
				Bucket: oss.Ptr(ossSDKBucket), Key: oss.Ptr(key), Body: bytes.NewReader(body),
				ContentType: oss.Ptr("image/png"), Acl: oss.ObjectACLPrivate,
				Metadata: map[string]string{"user": "u1"},
			})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			auth, _ := s.result()
			if auth.presigned || auth.bucket != ossSDKBucket || auth.object != key || auth.accessKeyID != ossSDKAccessKeyID {
				t.Errorf("auth = %+v", auth)
			}
			for _, h := range []string{"content-type", "x-oss-object-acl", "x-oss-meta-user", "x-oss-date", "x-oss-content-sha256"} {
				if !auth.signs(h) {
					t.Errorf("the SDK's PUT does not sign %s: %v", h, auth.signedHeaders)
				}
			}
			if got := auth.signs("x-oss-security-token"); got != (tc.token != "") {
				t.Errorf("token signed: %v", got)
			}
			out, err := client.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(ossSDKBucket), Key: oss.Ptr(key)})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(got, body) {
				t.Errorf("GetObject body %q; want %q", got, body)
			}
		})
	}
}

func TestOSSSDKHeaderSignedRefusals(t *testing.T) {
	tests := []struct {
		name   string
		client ossSDKClientOptions
		server func(*ossVerifyingServer)
		bucket string
		code   string
		status int
	}{
		{name: "other secret", client: ossSDKClientOptions{ak: ossSDKAccessKeyID, secret: "guessed"}, code: "SignatureDoesNotMatch", status: 403},
		{name: "unknown key", client: ossSDKClientOptions{ak: "LTAI5tUnknown", secret: ossSDKSecret}, code: "InvalidAccessKeyId", status: 403},
		{name: "token the key does not have", client: ossSDKClientOptions{token: "sts-token"}, code: "InvalidSecurityToken", status: 403},
		{name: "other region", client: ossSDKClientOptions{region: "cn-beijing"}, code: "InvalidArgument", status: 400},
		{name: "other bucket", bucket: "otherbucket", code: "NoSuchBucket", status: 404},
		{name: "clock 20 minutes ahead", server: func(s *ossVerifyingServer) { s.skew = 20 * time.Minute },
			code: "RequestTimeTooSkewed", status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newOSSVerifyingServer(t, Key{SecretID: ossSDKAccessKeyID, SecretKey: ossSDKSecret})
			if tt.server != nil {
				s.set(tt.server)
			}
			bucket := tt.bucket
			if bucket == "" {
				bucket = ossSDKBucket
			}
			_, err := ossSDKClient(t, s, tt.client).PutObject(context.Background(), &oss.PutObjectRequest{
				Bucket: oss.Ptr(bucket), Key: oss.Ptr("k"), Body: strings.NewReader("x"),
			})
			if code, status := ossSDKErrorCode(err); code != tt.code || status != tt.status {
				t.Fatalf("got %q %d; want %q %d (server: %v)", code, status, tt.code, tt.status, s.lastErr)
			}
		})
	}
}

// ossPresignPut asks the SDK for a presigned PUT of body with a content type,
// a private ACL and the Standard class.
func ossPresignPut(t *testing.T, client *oss.Client, bucket, key string, size int64, expires time.Duration) *oss.PresignResult {
	t.Helper()
	res, err := client.Presign(context.Background(), &oss.PutObjectRequest{
		Bucket: oss.Ptr(bucket), Key: oss.Ptr(key),
		ContentType: oss.Ptr("image/png"), ContentLength: oss.Ptr(size),
		Acl: oss.ObjectACLPrivate, StorageClass: oss.StorageClassStandard,
	}, oss.PresignExpires(expires))
	if err != nil {
		t.Fatalf("Presign: %v", err)
	}
	return res
}

// upload PUTs body to a presigned URL with its signed headers, as a client
// given only the URL and the headers would, after edit.
func ossUpload(t *testing.T, res *oss.PresignResult, body []byte, edit func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(res.Method, res.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range res.SignedHeaders {
		req.Header.Set(k, v) // Content-Length among them: the transport sends len(body)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct{ Code string }
	raw, _ := io.ReadAll(resp.Body)
	xml.Unmarshal(raw, &doc)
	return resp.StatusCode, doc.Code
}

func TestOSSSDKPresignedPut(t *testing.T) {
	body := []byte("avatar bytes")
	for _, token := range []string{"", "sts-token"} {
		t.Run("token="+token, func(t *testing.T) {
			s := newOSSVerifyingServer(t, Key{SecretID: ossSDKAccessKeyID, SecretKey: ossSDKSecret, SessionToken: token})
			client := ossSDKClient(t, s, ossSDKClientOptions{token: token, signContentLength: true})
			res := ossPresignPut(t, client, ossSDKBucket, "uploads/a.png", int64(len(body)), 10*time.Minute)
			for _, h := range []string{"Content-Length", "Content-Type", "X-Oss-Object-Acl", "X-Oss-Storage-Class"} {
				if _, ok := res.SignedHeaders[h]; !ok {
					t.Errorf("SignedHeaders %v lacks %s", res.SignedHeaders, h)
				}
			}
			if status, code := ossUpload(t, res, body, nil); status != http.StatusOK {
				t.Fatalf("upload: %d %s (server: %v)", status, code, s.lastErr)
			}
			auth, _ := s.result()
			if !auth.presigned || auth.object != "uploads/a.png" || !auth.signs("content-length") ||
				strings.Join(auth.additionalHeaders, ";") != "content-length" {
				t.Errorf("auth = %+v", auth)
			}
			if d := time.Until(auth.expires); d < 9*time.Minute || d > 11*time.Minute {
				t.Errorf("expires in %v; want about 10m", d)
			}
			if !bytes.Equal(s.stored, body) {
				t.Errorf("stored %q", s.stored)
			}
		})
	}
}

func TestOSSSDKPresignedPutRefusals(t *testing.T) {
	body := []byte("avatar bytes")
	tests := []struct {
		name         string
		token        string // the client's
		serverKeys   []Key
		server       func(*ossVerifyingServer)
		unsignedSize bool // presign without content-length in x-oss-additional-headers
		bucket       string
		send         []byte
		edit         func(*http.Request)
		status       int
		code         string
	}{
		{name: "other content type", edit: func(r *http.Request) { r.Header.Set("Content-Type", "image/jpeg") },
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "no content type", edit: func(r *http.Request) { r.Header.Del("Content-Type") },
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "one byte more", send: append([]byte("x"), body...), status: 403, code: "SignatureDoesNotMatch"},
		{name: "one byte less", send: body[1:], status: 403, code: "SignatureDoesNotMatch"},
		{name: "public ACL", edit: func(r *http.Request) { r.Header.Set("x-oss-object-acl", "public-read") },
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "other storage class", edit: func(r *http.Request) { r.Header.Set("x-oss-storage-class", "Archive") },
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "metadata added", edit: func(r *http.Request) { r.Header.Set("x-oss-meta-owner", "me") },
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "cache control added, unsigned", edit: func(r *http.Request) { r.Header.Set("Cache-Control", "max-age=31536000") },
			status: 403, code: "AccessDenied"},
		{name: "size not signed", unsignedSize: true, status: 403, code: "AccessDenied"},
		{name: "other object", edit: func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "a.png", "b.png", 1) },
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "expired", server: func(s *ossVerifyingServer) { s.skew = 11 * time.Minute }, status: 403, code: "AccessDenied"},
		{name: "other key", serverKeys: []Key{{SecretID: "LTAI5tOther", SecretKey: ossSDKSecret}},
			status: 403, code: "InvalidAccessKeyId"},
		{name: "other secret", serverKeys: []Key{{SecretID: ossSDKAccessKeyID, SecretKey: "rotated"}},
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "wrong token", token: "sts-token", serverKeys: []Key{{SecretID: ossSDKAccessKeyID, SecretKey: ossSDKSecret, SessionToken: "sts-other"}},
			status: 403, code: "InvalidSecurityToken"},
		{name: "token dropped", token: "sts-token", serverKeys: []Key{{SecretID: ossSDKAccessKeyID, SecretKey: ossSDKSecret, SessionToken: "sts-token"}},
			edit: func(r *http.Request) {
				q := r.URL.Query()
				q.Del("x-oss-security-token")
				r.URL.RawQuery = q.Encode()
			}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "other bucket", bucket: "otherbucket", status: 404, code: "NoSuchBucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := tt.serverKeys
			if keys == nil {
				keys = []Key{{SecretID: ossSDKAccessKeyID, SecretKey: ossSDKSecret, SessionToken: tt.token}}
			}
			s := newOSSVerifyingServer(t, keys...)
			client := ossSDKClient(t, s, ossSDKClientOptions{token: tt.token, signContentLength: !tt.unsignedSize})
			bucket := tt.bucket
			if bucket == "" {
				bucket = ossSDKBucket
			}
			res := ossPresignPut(t, client, bucket, "uploads/a.png", int64(len(body)), 10*time.Minute)
			if tt.server != nil {
				s.set(tt.server)
			}
			send := tt.send
			if send == nil {
				send = body
			}
			status, code := ossUpload(t, res, send, tt.edit)
			if status != tt.status || code != tt.code {
				t.Fatalf("upload: got %d %q; want %d %q (server: %v)", status, code, tt.status, tt.code, s.lastErr)
			}
			if s.stored != nil {
				t.Errorf("a refused upload stored %q", s.stored)
			}
		})
	}
}

// A presigned GET, as the service would hand out for a private object.
func TestOSSSDKPresignedGet(t *testing.T) {
	s := newOSSVerifyingServer(t, Key{SecretID: ossSDKAccessKeyID, SecretKey: ossSDKSecret})
	s.set(func(s *ossVerifyingServer) { s.stored = []byte("private bytes") })
	client := ossSDKClient(t, s, ossSDKClientOptions{})
	res, err := client.Presign(context.Background(), &oss.GetObjectRequest{Bucket: oss.Ptr(ossSDKBucket), Key: oss.Ptr("uploads/a.png")},
		oss.PresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != "private bytes" {
		t.Fatalf("GET: %d %q (server: %v)", resp.StatusCode, got, s.lastErr)
	}
	s.set(func(s *ossVerifyingServer) { s.skew = time.Hour + time.Minute })
	resp, err = http.Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := s.result(); resp.StatusCode != http.StatusForbidden || err != ossErrExpired {
		t.Fatalf("expired GET: %d (server: %v)", resp.StatusCode, err)
	}
}
