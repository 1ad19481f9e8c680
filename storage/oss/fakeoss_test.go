package oss_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"mime"
	"mime/multipart"
	"net"
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
	"github.com/wxavatar/wxavatar/storage/oss"
)

// fakeOSS is a bucket on loopback that speaks as much of OSS as the client
// uses, as Aliyun documents it: V4 header signatures (the SDK's requests),
// presigned URLs and PostObject forms, all checked by the verifier of
// v4verify_test.go; ranged GETs with x-oss-range-behavior; PutObject,
// DeleteObject and GetBucketInfo; errors as OSS's XML. It takes the worst
// case where OSS's documentation is silent: a form field no policy
// condition names is applied, not refused, so what the signatures pin is
// what they pin by themselves. The full round trip against the local object
// server's OSS mode (package localcos) is tested where that is wired.
type fakeOSS struct {
	t      *testing.T
	srv    *httptest.Server
	url    *url.URL
	bucket string
	v      verifier
	keys   atomic.Pointer[[]storage.Credentials]
	// intercept, if set, answers a request before the bucket does: true
	// means it answered.
	intercept atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]

	mu       sync.Mutex
	objects  map[string]fakeObject
	requests []*http.Request // every request that reached the bucket, cloned
}

type fakeObject struct {
	data                      []byte
	contentType, cacheControl string
	storageClass, acl         string
	meta                      http.Header
}

const (
	fakeBucket = "wxavatar-test"
	fakeRegion = "cn-hangzhou"
)

var testCredentials = storage.Credentials{SecretID: "LTAItestkeyid", SecretKey: "test-secret-key"}

func newFakeOSS(t *testing.T, creds ...storage.Credentials) *fakeOSS {
	t.Helper()
	if len(creds) == 0 {
		creds = []storage.Credentials{testCredentials}
	}
	f := &fakeOSS{t: t, bucket: fakeBucket, objects: map[string]fakeObject{}}
	f.keys.Store(&creds)
	f.v = verifier{bucket: fakeBucket, region: fakeRegion, keys: func() []storage.Credentials { return *f.keys.Load() }, now: time.Now}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	f.url, _ = url.Parse(f.srv.URL)
	return f
}

// client is a Client for the bucket, path style on the server's address.
func (f *fakeOSS) client(t *testing.T, cred storage.Credentials) *oss.Client {
	t.Helper()
	c, err := oss.New(oss.Config{Endpoint: f.url, Bucket: fakeBucket, Region: fakeRegion, PathStyle: true,
		Credentials: cred, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// virtualHostClient is a Client for the bucket addressed as
// wxavatar-test.oss-test.invalid, whose connections all go to the server.
func (f *fakeOSS) virtualHostClient(t *testing.T, cred storage.Credentials) (*oss.Client, *http.Client) {
	t.Helper()
	endpoint, _ := url.Parse("http://oss-test.invalid:" + f.url.Port())
	dialer := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, f.url.Host)
	}}
	t.Cleanup(transport.CloseIdleConnections)
	c, err := oss.New(oss.Config{Endpoint: endpoint, Bucket: fakeBucket, Region: fakeRegion,
		Credentials: cred, Timeout: 2 * time.Second, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	return c, &http.Client{Transport: transport}
}

func (f *fakeOSS) object(key string) (fakeObject, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[key]
	return o, ok
}

func (f *fakeOSS) setObject(key string, o fakeObject) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = o
}

// lastRequest is the last request that reached the bucket.
func (f *fakeOSS) lastRequest() *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return nil
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakeOSS) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func etag(data []byte) string {
	sum := md5.Sum(data)
	return `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`
}

// ossError answers as OSS does: status, and the code in an XML body.
func ossError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-oss-request-id", "fake-request")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>%s</Code><Message>%s</Message><RequestId>fake-request</RequestId></Error>", code, message)
}

func (f *fakeOSS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if fn := f.intercept.Load(); fn != nil && (*fn)(w, r) {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		ossError(w, http.StatusBadRequest, "IncompleteBody", err.Error())
		return
	}
	clone := r.Clone(context.Background())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.requests = append(f.requests, clone)
	f.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))

	// The bucket and key, from the host (virtual host) or the path.
	var key string
	if host, _, _ := strings.Cut(r.Host, ":"); strings.HasPrefix(host, fakeBucket+".") {
		key = strings.TrimPrefix(r.URL.Path, "/")
	} else {
		rest, ok := strings.CutPrefix(r.URL.Path, "/"+fakeBucket)
		if !ok || rest != "" && rest[0] != '/' {
			ossError(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
			return
		}
		key = strings.TrimPrefix(rest, "/")
	}

	if r.Method == http.MethodPost && key == "" {
		f.postObject(w, r, body)
		return
	}
	var verr error
	switch {
	case r.URL.Query().Has("x-oss-signature"):
		verr = f.v.verifyQuery(r, key)
	case r.Header.Get("Authorization") != "":
		verr = f.v.verifyHeader(r, key)
	default:
		verr = errors.New("anonymous")
	}
	if verr != nil {
		code := "AccessDenied"
		if errors.Is(verr, errSignature) {
			code = "SignatureDoesNotMatch"
		}
		ossError(w, http.StatusForbidden, code, verr.Error())
		return
	}
	switch {
	case r.Method == http.MethodGet && key == "" && r.URL.Query().Has("bucketInfo"):
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><BucketInfo><Bucket><Name>%s</Name><Location>oss-%s</Location><StorageClass>Standard</StorageClass></Bucket></BucketInfo>`, fakeBucket, fakeRegion)
	case r.Method == http.MethodGet && key != "":
		f.getObject(w, r, key)
	case r.Method == http.MethodPut && key != "":
		if r.Header.Get("x-oss-copy-source") != "" {
			ossError(w, http.StatusBadRequest, "NotImplemented", "copy")
			return
		}
		f.store(w, key, body, r.Header, http.StatusOK)
	case r.Method == http.MethodDelete && key != "":
		f.mu.Lock()
		delete(f.objects, key)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		ossError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method)
	}
}

// store keeps body under key with what h says of it, the way PutObject and
// PostObject do: no ACL header is the default ACL (the bucket's), no class
// is Standard.
func (f *fakeOSS) store(w http.ResponseWriter, key string, body []byte, h http.Header, status int) {
	o := fakeObject{data: body, contentType: h.Get("Content-Type"), cacheControl: h.Get("Cache-Control"),
		storageClass: h.Get("x-oss-storage-class"), acl: h.Get("x-oss-object-acl"), meta: http.Header{}}
	if o.storageClass == "" {
		o.storageClass = "Standard"
	}
	if o.acl == "" {
		o.acl = "default"
	}
	for name, v := range h {
		if strings.HasPrefix(strings.ToLower(name), "x-oss-meta-") {
			o.meta[name] = v
		}
	}
	f.setObject(key, o)
	w.Header().Set("ETag", etag(body))
	w.Header().Set("x-oss-hash-crc64ecma", strconv.FormatUint(crc64.Checksum(body, crc64.MakeTable(crc64.ECMA)), 10))
	w.WriteHeader(status)
}

func (f *fakeOSS) getObject(w http.ResponseWriter, r *http.Request, key string) {
	o, ok := f.object(key)
	if !ok {
		ossError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	if o.storageClass == "Archive" || o.storageClass == "ColdArchive" {
		ossError(w, http.StatusForbidden, "InvalidObjectState", "The operation is not valid for the object's state")
		return
	}
	h := w.Header()
	h.Set("ETag", etag(o.data))
	h.Set("Content-Type", o.contentType)
	h.Set("x-oss-storage-class", o.storageClass)
	if o.cacheControl != "" {
		h.Set("Cache-Control", o.cacheControl)
	}
	size := len(o.data)
	rng := r.Header.Get("Range")
	start, end, ok := parseRange(rng)
	switch {
	case rng == "" || !ok:
		h.Set("Content-Length", strconv.Itoa(size))
		w.Write(o.data)
	case start >= size:
		// Past the end: OSS's standard behaviour is 416; its legacy one
		// ignores the range.
		if r.Header.Get("x-oss-range-behavior") != "standard" {
			h.Set("Content-Length", strconv.Itoa(size))
			w.Write(o.data)
			return
		}
		h.Del("ETag")
		h.Del("Content-Type")
		h.Set("Content-Range", "bytes */"+strconv.Itoa(size))
		ossError(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range cannot be satisfied.")
	default:
		end = min(end, size-1)
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
		h.Set("Content-Length", strconv.Itoa(end-start+1))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(o.data[start : end+1])
	}
}

func parseRange(s string) (start, end int, ok bool) {
	spec, found := strings.CutPrefix(s, "bytes=")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(spec, "-")
	start, err1 := strconv.Atoi(a)
	end, err2 := strconv.Atoi(b)
	return start, end, found && err1 == nil && err2 == nil && start <= end
}

// postObject is PostObject with a V4-signed policy: the fields before the
// file, the file last; the signature over the policy field; every
// condition; then the object, stored with what the fields say of it.
func (f *fakeOSS) postObject(w http.ResponseWriter, r *http.Request, body []byte) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		ossError(w, http.StatusBadRequest, "InvalidArgument", "not a form")
		return
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	fields := map[string]string{} // lower-case names: OSS reads form field names case-insensitively
	var file []byte
	var fileType string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			ossError(w, http.StatusBadRequest, "InvalidArgument", err.Error())
			return
		}
		data, _ := io.ReadAll(p)
		if p.FormName() == "file" {
			file, fileType = data, p.Header.Get("Content-Type")
			break // the file is the last field; OSS ignores what follows
		}
		fields[strings.ToLower(p.FormName())] = string(data)
	}
	if file == nil {
		ossError(w, http.StatusBadRequest, "InvalidArgument", "no file")
		return
	}
	if err := f.checkPost(fields, int64(len(file))); err != nil {
		code := "AccessDenied"
		if errors.Is(err, errSignature) {
			code = "SignatureDoesNotMatch"
		}
		ossError(w, http.StatusForbidden, code, err.Error())
		return
	}
	h := http.Header{}
	for name, v := range fields {
		h.Set(name, v)
	}
	// The stored type: x-oss-content-type, else the file part's own type,
	// else the Content-Type field, in the order PostObject documents.
	for _, t := range []string{fields["x-oss-content-type"], fileType, fields["content-type"]} {
		if t != "" {
			h.Set("Content-Type", t)
			break
		}
	}
	status := http.StatusNoContent
	if s, err := strconv.Atoi(fields["success_action_status"]); err == nil && (s == 200 || s == 201) {
		status = s
	}
	f.store(w, fields["key"], file, h, status)
}

func (f *fakeOSS) checkPost(fields map[string]string, size int64) error {
	raw, err := base64.StdEncoding.DecodeString(fields["policy"])
	if err != nil {
		return errors.New("policy is not base64")
	}
	var policy struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &policy); err != nil {
		return errors.New("policy is not JSON")
	}
	expiration, err := time.Parse("2006-01-02T15:04:05.000Z", policy.Expiration)
	if err != nil || time.Now().After(expiration) {
		return errors.New("policy expired")
	}
	if fields["x-oss-signature-version"] != v4Algorithm {
		return errors.New("x-oss-signature-version")
	}
	cred, err := parseV4Credential(fields["x-oss-credential"])
	if err != nil {
		return err
	}
	signedAt, err := time.Parse("20060102T150405Z", fields["x-oss-date"])
	if err != nil || time.Now().Before(signedAt.Add(-15*time.Minute)) || time.Now().After(signedAt.Add(7*24*time.Hour)) {
		return errors.New("x-oss-date")
	}
	k, ok := f.v.key(cred.id)
	if !ok || cred.region != fakeRegion || !strings.HasPrefix(fields["x-oss-date"], cred.day+"T") || k.SessionToken != fields["x-oss-security-token"] {
		return errors.New("credential")
	}
	want := hex.EncodeToString(v4HMAC(v4Key(k.SecretKey, cred.day, cred.region), fields["policy"]))
	if fields["x-oss-signature"] != want {
		return errSignature
	}
	// The V4 fields must be conditions of the policy, with the form's values.
	named := map[string]bool{}
	for _, c := range policy.Conditions {
		var exact map[string]string
		if json.Unmarshal(c, &exact) == nil {
			for name, v := range exact {
				name = strings.ToLower(name)
				named[name] = true
				if got := fields[name]; name == "bucket" && v != fakeBucket || name != "bucket" && got != v {
					return fmt.Errorf("Invalid according to Policy: Policy Condition failed: %s", c)
				}
			}
			continue
		}
		var list []any
		if err := json.Unmarshal(c, &list); err != nil || len(list) != 3 {
			return fmt.Errorf("condition %s", c)
		}
		op, _ := list[0].(string)
		if op == "content-length-range" {
			lo, _ := list[1].(float64)
			hi, _ := list[2].(float64)
			if size < int64(lo) || size > int64(hi) {
				return fmt.Errorf("Your proposed upload exceeds the maximum allowed size: %s", c)
			}
			continue
		}
		field, _ := list[1].(string)
		name := strings.ToLower(strings.TrimPrefix(field, "$"))
		v, _ := list[2].(string)
		named[name] = true
		got, present := fields[name]
		switch op {
		case "eq":
			if !present || got != v {
				return fmt.Errorf("Invalid according to Policy: Policy Condition failed: %s", c)
			}
		case "starts-with":
			if !present || !strings.HasPrefix(got, v) {
				return fmt.Errorf("Invalid according to Policy: Policy Condition failed: %s", c)
			}
		default:
			return fmt.Errorf("condition %s", c)
		}
	}
	for _, name := range []string{"x-oss-signature-version", "x-oss-credential", "x-oss-date"} {
		if !named[name] {
			return fmt.Errorf("the policy does not name %s", name)
		}
	}
	if fields["x-oss-security-token"] != "" && !named["x-oss-security-token"] {
		return errors.New("the policy does not name x-oss-security-token")
	}
	return nil
}

// errorCode reads the code of an OSS error answer, "" for none.
func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Code string `xml:"Code"`
	}
	xml.Unmarshal(b, &e)
	return e.Code
}
