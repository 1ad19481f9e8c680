// Package oss is Aliyun OSS as the service's object storage, signed with
// OSS's V4 signature (OSS4-HMAC-SHA256) throughout: the client, built on
// Aliyun's own SDK (alibabacloud-oss-go-sdk-v2), which also writes the
// presigned PUT, and the PostObject form signer the SDK lacks. The local
// object server that `serve --dev` and the tests run, with its own OSS
// signature verifier, is package localcos.
package oss

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/wxavatar/wxavatar/storage"
)

// Config describes one bucket.
type Config struct {
	// Endpoint is the region's endpoint, e.g.
	// https://oss-cn-hangzhou.aliyuncs.com (or its -internal twin), or
	// http://127.0.0.1:port for the local object server; no path.
	Endpoint *url.URL
	Bucket   string
	// Region is the V4 signing region, e.g. cn-hangzhou (not oss-cn-hangzhou).
	Region string
	// PathStyle addresses the bucket as endpoint/bucket/key (the local
	// object server); false addresses it as bucket.endpoint-host/key.
	PathStyle bool
	// PublicBaseURL is the base of permanent object URLs (a CDN or bound
	// domain); nil → the object's URL on the endpoint, addressed as above.
	PublicBaseURL *url.URL
	// Credentials are the AccessKey ID, the AccessKey secret and, for STS
	// credentials, the SecurityToken.
	Credentials storage.Credentials
	// Timeout bounds one storage call, retries included; default 5s.
	Timeout time.Duration
	// Transport carries the requests; nil → a dedicated one (storage.Transport).
	Transport http.RoundTripper
	// Instrument, if set, wraps the transport (metrics).
	Instrument func(http.RoundTripper) http.RoundTripper
}

// Client talks to one OSS bucket through Aliyun's SDK. Its credentials can
// be swapped at run time; each call uses the credentials pinned in its
// context, or else those in force when it began.
type Client struct {
	cfg     Config
	host    string // the bucket's host: bucket.endpoint-host, or the endpoint's host (path style)
	postURL string // where PostObject forms go
	http    *http.Client
	// keys pairs the credentials in force with the SDK client that signs
	// with them. A new SDK client per credential set is a few allocations,
	// and lets a call (and Pin) hold the pair it began with while the keys
	// rotate.
	keys *storage.Keys[*osssdk.Client]
}

// maxAttempts is the SDK's attempts per call: one retry rides out a dropped
// keep-alive connection or a passing 5xx, after a wait of up to 0.8 s (the
// SDK's full jitter on 200 ms × 2²); more would only push the caller past
// its deadline (Timeout bounds them all).
const maxAttempts = 2

// presignAdditionalHeaders are the headers beyond V4's default (x-oss-*,
// Content-Type, Content-MD5) that the SDK signs when the request carries
// them, named in the Authorization header's AdditionalHeaders or the
// presigned URL's x-oss-additional-headers: the presigned PUT carries both
// (presign.go), so its signature covers the exact Content-Length and the
// bucket's host. Requests the service sends itself carry no Host header
// in the SDK's header map, and a Content-Length only on Put, whose
// signature then covers its length too.
var presignAdditionalHeaders = []string{"content-length", "host"}

// New checks cfg and builds a client; it makes no network call.
func New(cfg Config) (*Client, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	if err := cfg.Credentials.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = storage.DefaultTimeout
	}
	cfg.Transport = storage.Transport(cfg.Transport, cfg.Timeout, cfg.Instrument)
	cfg.Endpoint = storage.WithoutDefaultPort(cfg.Endpoint)
	c := &Client{cfg: cfg, http: &http.Client{
		Transport: cfg.Transport,
		// A redirect would carry a signed request to a host nobody
		// configured; OSS answers with errors, not redirects, to API calls.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	bucket := storage.BucketURL(cfg.Endpoint, cfg.Bucket, cfg.PathStyle)
	c.host, c.postURL = bucket.Host, bucket.String()
	if !cfg.PathStyle {
		c.postURL += "/" // the bucket's root
	}
	if c.cfg.PublicBaseURL == nil {
		c.cfg.PublicBaseURL = bucket
	}
	keys, err := storage.NewKeys(cfg.Credentials, c.newSDK)
	if err != nil {
		return nil, err
	}
	c.keys = keys
	return c, nil
}

// validate refuses a configuration that would sign for, or send to, a
// bucket other than the one named, one problem at a time.
func validate(cfg Config) error {
	switch e := cfg.Endpoint; {
	case e == nil || e.Host == "":
		return errors.New("storage: OSS endpoint without host")
	case e.Scheme != "http" && e.Scheme != "https":
		return fmt.Errorf("storage: OSS endpoint scheme %q; want https (or http for a local server)", e.Scheme)
	case e.User != nil || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.Fragment != "":
		return errors.New("storage: OSS endpoint with user, path, query or fragment; want scheme://host[:port]")
	case !validBucketName(cfg.Bucket):
		return fmt.Errorf("storage: OSS bucket name %q: want 3-63 lower-case letters, digits and hyphens, starting and ending with a letter or digit", cfg.Bucket)
	case cfg.Region == "" || strings.TrimSpace(cfg.Region) != cfg.Region || strings.ContainsAny(cfg.Region, "/ "):
		return fmt.Errorf("storage: OSS region %q: want a region id such as cn-hangzhou", cfg.Region)
	case strings.HasPrefix(cfg.Region, "oss-"):
		// The V4 scope names the region id; the endpoint's host is what
		// says oss-cn-hangzhou. Every signature would fail with it.
		return fmt.Errorf("storage: OSS region %q: want the region id (%s), not the endpoint's name", cfg.Region, strings.TrimPrefix(cfg.Region, "oss-"))
	case !cfg.PathStyle && net.ParseIP(e.Hostname()) != nil:
		// The SDK addresses an IP endpoint by path whatever it is told,
		// and bucket.<ip> is no host: the URLs handed out would not be the
		// ones the SDK signs for.
		return errors.New("storage: OSS endpoint is an IP address; virtual-host addressing needs a host name (set path style for a local server)")
	}
	return nil
}

// validBucketName is OSS's naming rule: 3-63 characters of lower-case
// letters, digits and hyphens, starting and ending with a letter or digit.
// It also keeps the name safe in a host name and a policy.
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 || b[0] == '-' || b[len(b)-1] == '-' {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// newSDK builds the SDK client that signs with cred.
func (c *Client) newSDK(cred storage.Credentials) (*osssdk.Client, error) {
	cfg := osssdk.NewConfig(). // not LoadDefaultConfig: it reads the environment
					WithRegion(c.cfg.Region).
					WithEndpoint(c.cfg.Endpoint.Scheme + "://" + c.cfg.Endpoint.Host).
					WithUsePathStyle(c.cfg.PathStyle).
					WithSignatureVersion(osssdk.SignatureVersionV4).
					WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cred.SecretID, cred.SecretKey, cred.SessionToken)).
					WithRetryMaxAttempts(maxAttempts).
					WithAdditionalHeaders(presignAdditionalHeaders)
	cfg.HttpClient = c.http
	return osssdk.NewClient(cfg, func(o *osssdk.Options) {
		// The SDK corrects for a skewed clock by writing the offset OSS
		// reports into the client, unsynchronised, from whichever request
		// saw it; concurrent calls would race on it. The service's clock
		// dates the signatures it hands out too, so a skewed clock is a
		// fault to fix on the host, not to hide in one client.
		o.FeatureFlags &^= osssdk.FeatureCorrectClockSkew
	}), nil
}

// Credentials returns the credentials in force.
func (c *Client) Credentials() storage.Credentials { return c.keys.Current() }

// SetCredentials swaps the credentials atomically; calls already under way
// finish with the ones they started with.
func (c *Client) SetCredentials(cred storage.Credentials) error {
	return c.keys.Set(cred)
}

// Pin returns a context whose storage calls all use the credentials in force
// now (storage.Keys.Pin).
func (c *Client) Pin(ctx context.Context) context.Context { return c.keys.Pin(ctx) }

// ObjectURL is the permanent public URL of key.
func (c *Client) ObjectURL(key string) string {
	return storage.JoinKey(c.cfg.PublicBaseURL, key)
}

// SignUpload signs a PostObject form and, when spec declares a size, a
// presigned PUT URL for spec. Both end at spec.Expires and pin the key, the
// Content-Type, a private ACL and the Standard storage class; the form's
// policy bounds the size, the PUT URL signs the declared Content-Length.
// PutHeaders are the headers the PUT must carry (besides Host, which its URL
// names). Without a declared size PutURL is empty: a PUT URL that signs no
// Content-Length lets its holder store any size up to OSS's 5 GB limit.
func (c *Client) SignUpload(ctx context.Context, spec storage.UploadSpec) (storage.SignedUpload, error) {
	k := c.keys.For(ctx)
	form, err := signPostForm(k.Credentials, c.cfg.Bucket, c.cfg.Region, spec)
	if err != nil {
		return storage.SignedUpload{}, err
	}
	signed := storage.SignedUpload{PostURL: c.postURL, PostForm: form}
	if spec.Size > 0 {
		if signed.PutURL, signed.PutHeaders, err = c.presignPut(ctx, k, spec); err != nil {
			return storage.SignedUpload{}, err
		}
	}
	return signed, nil
}

// Peek reads up to n bytes from the start of key with one ranged GET, and
// what that answer tells of the whole object: its size (Content-Range), type,
// ETag and storage class, all of one version; an answer without size or ETag
// is storage.ErrUnavailable. The GET asks for OSS's standard range
// behaviour (x-oss-range-behavior: standard): without it OSS answers a range
// past the end with the whole object and 200, with it 416. An empty object
// has no byte to range over; OSS answers 416 and Peek reports Size 0 with no
// bytes.
func (c *Client) Peek(ctx context.Context, key string, n int) (storage.ObjectInfo, []byte, error) {
	if n < 1 {
		return storage.ObjectInfo{}, nil, errors.New("storage: peek at fewer than 1 byte")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	res, err := c.keys.For(ctx).Client.GetObject(ctx, &osssdk.GetObjectRequest{
		Bucket:        &c.cfg.Bucket,
		Key:           &key,
		Range:         osssdk.Ptr("bytes=0-" + strconv.Itoa(n-1)),
		RangeBehavior: osssdk.Ptr("standard"),
	})
	if err != nil {
		var serr *osssdk.ServiceError
		if errors.As(err, &serr) && serr.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return storage.ObjectInfo{}, nil, nil
		}
		return storage.ObjectInfo{}, nil, translate("get", err)
	}
	defer res.Body.Close()
	info := storage.ObjectInfo{
		Size:         -1,
		ContentType:  deref(res.ContentType),
		ETag:         strings.Trim(deref(res.ETag), `"`),
		StorageClass: deref(res.StorageClass),
	}
	if info.StorageClass == stagingStorageClass { // OSS's "Standard"
		info.StorageClass = storage.StandardClass
	}
	switch {
	case res.StatusCode == http.StatusPartialContent:
		info.Size = storage.TotalSize(deref(res.ContentRange))
	case res.Headers.Get("Content-Length") != "":
		// A server that ignores Range sends the whole object. The SDK
		// reports a missing Content-Length as 0, so its presence is read
		// from the answer itself.
		info.Size = res.ContentLength
	}
	return storage.ReadPeek(info, res.Body, n)
}

// Put stores data under key in the Standard class, with spec's Content-Type
// and Cache-Control as its only metadata, replacing whatever the key held.
// It names no ACL, so the object has the bucket's (and its policy's)
// permissions, like every object under avatars/. The SDK checks the stored
// bytes' CRC-64 against the one OSS answers with.
func (c *Client) Put(ctx context.Context, key string, data []byte, spec storage.PutSpec) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req := &osssdk.PutObjectRequest{
		Bucket:        &c.cfg.Bucket,
		Key:           &key,
		ContentType:   &spec.ContentType,
		ContentLength: osssdk.Ptr(int64(len(data))),
		StorageClass:  osssdk.StorageClassStandard,
		Body:          bytes.NewReader(data),
	}
	if spec.CacheControl != "" {
		req.CacheControl = &spec.CacheControl
	}
	if _, err := c.keys.For(ctx).Client.PutObject(ctx, req); err != nil {
		return translate("put", err)
	}
	return nil
}

// Delete removes key; deleting a missing object succeeds (OSS answers 204
// for it; a 404 NoSuchKey from a server that says so is success too).
func (c *Client) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	_, err := c.keys.For(ctx).Client.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: &c.cfg.Bucket, Key: &key})
	if err != nil && !errors.Is(translate("delete", err), storage.ErrNotFound) {
		return translate("delete", err)
	}
	return nil
}

// Ping checks that the bucket answers and accepts the credentials, with
// GetBucketInfo (RAM action oss:GetBucketInfo).
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if _, err := c.keys.For(ctx).Client.GetBucketInfo(ctx, &osssdk.GetBucketInfoRequest{Bucket: &c.cfg.Bucket}); err != nil {
		return translate("get bucket info", err)
	}
	return nil
}

// translate maps SDK and network errors onto package storage's vocabulary,
// once. A 404 is the object missing, except NoSuchBucket, which is the
// configuration's fault; InvalidObjectState is an archived object OSS will
// not read until it is restored. The SDK's own error text names the
// request's URL (never a secret: the service's requests are signed in a
// header) and OSS's message; only the status and code are kept, and the
// cause of a network error.
func translate(op string, err error) error {
	var serr *osssdk.ServiceError
	if !errors.As(err, &serr) {
		return fmt.Errorf("storage: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	switch {
	case serr.Code == "NoSuchKey" || serr.StatusCode == http.StatusNotFound && serr.Code != "NoSuchBucket":
		return fmt.Errorf("storage: %s: %w", op, storage.ErrNotFound)
	case serr.Code == "InvalidObjectState":
		return fmt.Errorf("storage: %s: %w", op, storage.ErrArchived)
	case op == "get" && serr.StatusCode == http.StatusBadRequest && serr.Code == "InvalidRequest":
		// A plain GET is malformed only for an object whose reading needs
		// what the request cannot give (an encryption key of the
		// uploader's).
		return fmt.Errorf("storage: %s: %w: status %d %s", op, storage.ErrUnreadable, serr.StatusCode, serr.Code)
	}
	return fmt.Errorf("storage: %s: %w: status %d %s", op, storage.ErrUnavailable, serr.StatusCode, serr.Code)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
