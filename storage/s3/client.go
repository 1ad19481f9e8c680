// Package s3 is an S3-compatible object store (AWS S3, MinIO, Cloudflare
// R2) as the service's object storage, through minio-go: the client for the
// service's own reads, writes and deletes, the POST policy form and the
// presigned PUT that let a mini program upload straight to the bucket. It
// speaks only S3's protocol (AWS Signature Version 4); the local object
// server that verifies it independently is package localcos in its S3 mode.
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/wxavatar/wxavatar/storage"
)

// StandardClass is the storage class uploads are signed for and Put writes
// in; S3 spells it as package storage does.
const StandardClass = storage.StandardClass

// Config describes one bucket on an S3-compatible store.
type Config struct {
	// Endpoint is the store's S3 API endpoint, without the bucket:
	// https://s3.us-east-1.amazonaws.com, https://<account>.r2.cloudflarestorage.com,
	// http://127.0.0.1:9000 (MinIO, the local object server). It must be
	// the host minio-go talks to for Region (New checks it), since it is
	// also the host the mini program uploads to.
	Endpoint *url.URL
	Bucket   string
	// Region is the signing region: the bucket's AWS region, "auto" for R2,
	// MinIO's configured region (us-east-1 by default).
	Region string
	// PathStyle addresses the bucket in the path (https://host/bucket/key);
	// false addresses it in the host name (https://bucket.host/key).
	PathStyle bool
	// PostPolicy says the store takes POST policy form uploads. R2 does not
	// ("POST, which performs uploads via native HTML forms, is not
	// currently supported", developers.cloudflare.com/r2/api/s3/presigned-urls/):
	// then SignUpload signs only the PUT.
	PostPolicy bool
	// PublicBaseURL is the base of permanent object URLs (a CDN or custom
	// domain); nil → the object's URL on the endpoint, addressed as above.
	PublicBaseURL *url.URL
	Credentials   storage.Credentials
	// Timeout bounds one storage call, retries included; 0 → 5 s.
	Timeout time.Duration
	// Transport carries the requests; nil → a dedicated one (storage.Transport).
	Transport http.RoundTripper
	// Instrument, if set, wraps the transport (metrics).
	Instrument func(http.RoundTripper) http.RoundTripper
}

// Client talks to one bucket through minio-go. Its credentials can be
// swapped at run time; each call uses the credentials pinned in its
// context, or else those in force when it began.
type Client struct {
	cfg       Config
	bucketURL *url.URL // the bucket as its objects are addressed: base of ObjectURL without a PublicBaseURL
	postURL   string   // where POST policy forms go
	transport http.RoundTripper
	// keys pairs the credentials in force with the minio-go client that
	// signs with them. A minio-go client holds its credentials for life,
	// and one is cheap to make (no network call: New sets the region, so
	// minio-go never looks the bucket's location up), so rotation makes a
	// new one and swaps the pair atomically; a context pinned to a pair
	// keeps it whatever happens after.
	keys *storage.Keys[minio.Core]
	// now is the clock presignPut aligns with minio-go's; tests replace it.
	now func() time.Time
}

// session is one credential set and the minio-go client that signs with it.
type session = storage.Keyed[minio.Core]

// New checks cfg and builds a client; it makes no network call.
func New(cfg Config) (*Client, error) {
	if err := validate(&cfg); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = storage.DefaultTimeout
	}
	c := &Client{cfg: cfg, transport: storage.Transport(cfg.Transport, cfg.Timeout, cfg.Instrument), now: time.Now}
	// The POST URL is the bucket's with the trailing slash minio-go gives
	// it.
	c.bucketURL = storage.BucketURL(cfg.Endpoint, cfg.Bucket, cfg.PathStyle)
	c.postURL = c.bucketURL.String() + "/"
	keys, err := storage.NewKeys(cfg.Credentials, c.newCore)
	if err != nil {
		return nil, err
	}
	s := keys.For(context.Background())
	// Clients are handed the POST URL and the PUT URL's host (both what a
	// mini program's domain allow-list must name) and the service's own
	// requests go where minio-go sends them. For AWS endpoints minio-go
	// picks the host itself from the region (makeTargetURL:
	// s3.<region>.amazonaws.com, us-east-1's for a region it does not know),
	// so a configured endpoint that is not that host would sign URLs for
	// one host and call another: refuse it now.
	probe, err := s.Client.Presign(context.Background(), http.MethodGet, cfg.Bucket, "", time.Minute, nil)
	if err != nil {
		return nil, fmt.Errorf("storage: s3: %w", err)
	}
	probe.RawQuery = ""
	if probe.String() != c.postURL {
		return nil, fmt.Errorf("storage: s3 endpoint %s: minio-go addresses the bucket at %s for region %s, not at %s; configure that endpoint",
			cfg.Endpoint.Redacted(), probe.Redacted(), cfg.Region, c.postURL)
	}
	c.keys = keys
	return c, nil
}

func validate(cfg *Config) error {
	e := cfg.Endpoint
	switch {
	case e == nil || e.Host == "":
		return errors.New("storage: s3 endpoint without host")
	case e.Scheme != "https" && e.Scheme != "http":
		return fmt.Errorf("storage: s3 endpoint scheme %q; want https (or http on a trusted network)", e.Scheme)
	case e.User != nil || e.RawQuery != "" || e.Fragment != "" || strings.Trim(e.Path, "/") != "":
		// minio-go addresses buckets at the endpoint's root only.
		return errors.New("storage: s3 endpoint must be scheme://host[:port] alone, with no path, query or user")
	case cfg.Region == "" || strings.TrimSpace(cfg.Region) != cfg.Region:
		// Without a region minio-go would ask the bucket for its location
		// (a network call in every New and after every error).
		return errors.New("storage: s3 region is empty or has surrounding white space (R2: auto; MinIO: us-east-1 unless configured)")
	case cfg.PublicBaseURL != nil && (cfg.PublicBaseURL.Host == "" || (cfg.PublicBaseURL.Scheme != "https" && cfg.PublicBaseURL.Scheme != "http")):
		return errors.New("storage: s3 public base URL must be an absolute http(s) URL")
	}
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return fmt.Errorf("storage: s3 bucket %q: %w", cfg.Bucket, err)
	}
	if !cfg.PathStyle && net.ParseIP(e.Hostname()) != nil {
		return errors.New("storage: s3 endpoint is an IP address: virtual-host addressing (bucket.host) needs a DNS name; set path-style addressing")
	}
	return validateCredentials(cfg.Credentials)
}

// validateCredentials also keeps the session token out of the POST policy
// unless it is plain: minio-go writes policy values into the JSON without
// escaping them (post-policy.go, marshalJSON).
func validateCredentials(cred storage.Credentials) error {
	if err := cred.Validate(); err != nil {
		return err
	}
	if !policySafe(cred.SessionToken) || !policySafe(cred.SecretID) {
		return errors.New("storage: s3 key id or session token holds a quote, backslash or control character")
	}
	return nil
}

// newCore is the minio-go client that signs with cred; it refuses
// credentials minio-go's POST policy would write unescaped.
func (c *Client) newCore(cred storage.Credentials) (minio.Core, error) {
	if err := validateCredentials(cred); err != nil {
		return minio.Core{}, err
	}
	lookup := minio.BucketLookupDNS
	if c.cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	mc, err := minio.New(c.cfg.Endpoint.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cred.SecretID, cred.SecretKey, cred.SessionToken),
		Secure:       c.cfg.Endpoint.Scheme == "https",
		Transport:    c.transport,
		Region:       c.cfg.Region,
		BucketLookup: lookup,
		// One retry rides out a dropped keep-alive connection; minio-go's
		// default of ten, with its backoff, would only push the caller past
		// its deadline. (MaxRetries counts attempts: 1 is none.) minio-go
		// backs off up to 200 ms before the retry and, when the retry fails
		// too, up to 400 ms more before it returns (retry.go,
		// newRetryTimer sleeps after every attempt): a failing call takes
		// up to 0.6 s beyond its attempts, and never past Timeout, which
		// ends the wait.
		MaxRetries: 2,
	})
	if err != nil {
		return minio.Core{}, fmt.Errorf("storage: s3: %w", err)
	}
	// minio-go sends AWS requests to the dual-stack host by default; the
	// service talks to the host it hands its clients.
	mc.SetS3EnableDualstack(false)
	return minio.Core{Client: mc}, nil
}

// Credentials returns the credentials in force.
func (c *Client) Credentials() storage.Credentials { return c.keys.Current() }

// SetCredentials swaps the credentials atomically; calls already under way,
// and contexts pinned before, keep the ones they started with.
func (c *Client) SetCredentials(cred storage.Credentials) error {
	return c.keys.Set(cred)
}

// Pin returns a context whose storage calls all use the credentials in force
// now (storage.Keys.Pin).
func (c *Client) Pin(ctx context.Context) context.Context { return c.keys.Pin(ctx) }

// session is the pair pinned in ctx, or else the one in force.
func (c *Client) session(ctx context.Context) *session { return c.keys.For(ctx) }

// ObjectURL is the permanent public URL of key.
func (c *Client) ObjectURL(key string) string {
	if c.cfg.PublicBaseURL != nil {
		return storage.JoinKey(c.cfg.PublicBaseURL, key)
	}
	return storage.JoinKey(c.bucketURL, key)
}

// Peek reads up to n bytes from the start of key with one ranged GET, and
// what that answer tells of the whole object: its size (Content-Range), type,
// ETag and storage class, all of one version; an answer without size or ETag
// is storage.ErrUnavailable. An empty object has no byte to range over: S3
// answers 416 InvalidRange and Peek reports Size 0 with no bytes. An object
// in an archive class (GLACIER, DEEP_ARCHIVE) is storage.ErrArchived: S3
// answers 403 InvalidObjectState until it is restored (API_GetObject).
func (c *Client) Peek(ctx context.Context, key string, n int) (storage.ObjectInfo, []byte, error) {
	if n < 1 {
		return storage.ObjectInfo{}, nil, errors.New("storage: peek at fewer than 1 byte")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var opts minio.GetObjectOptions
	if err := opts.SetRange(0, int64(n-1)); err != nil {
		return storage.ObjectInfo{}, nil, err
	}
	body, obj, h, err := c.session(ctx).Client.GetObject(ctx, c.cfg.Bucket, key, opts)
	if err != nil {
		var e minio.ErrorResponse
		if errors.As(err, &e) && e.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return storage.ObjectInfo{}, nil, nil
		}
		return storage.ObjectInfo{}, nil, translate("get", err)
	}
	defer body.Close()
	info := storage.ObjectInfo{
		Size:         obj.Size, // Content-Length, -1 if none: a server that ignores Range sends the whole object
		ContentType:  h.Get("Content-Type"),
		ETag:         strings.Trim(h.Get("ETag"), `"`),
		StorageClass: h.Get("X-Amz-Storage-Class"),
	}
	if cr := h.Get("Content-Range"); cr != "" {
		info.Size = storage.TotalSize(cr)
	}
	// S3 names the class only when it is not STANDARD (API_GetObject,
	// x-amz-storage-class: "not returned for S3 Standard objects").
	return storage.ReadPeek(info, body, n)
}

// Put stores data under key in the STANDARD class, with spec's Content-Type
// and Cache-Control as its only metadata, replacing whatever the key held. It
// names no ACL, so the object has the bucket's permissions (avatars/* is
// public by bucket policy), and works on buckets whose ACLs are disabled
// (Object Ownership "bucket owner enforced", the default since April 2023).
// The payload's SHA-256 is signed (x-amz-content-sha256), so the store
// refuses bytes changed on the way, and the request is a plain PUT: minio-go
// would otherwise sign it in aws-chunked streaming form over http.
func (c *Client) Put(ctx context.Context, key string, data []byte, spec storage.PutSpec) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	sum := sha256.Sum256(data)
	opts := minio.PutObjectOptions{
		ContentType:          spec.ContentType,
		CacheControl:         spec.CacheControl,
		StorageClass:         StandardClass,
		DisableContentSha256: true, // no streaming signature: the sum below is signed instead
	}
	_, err := c.session(ctx).Client.PutObject(ctx, c.cfg.Bucket, key, bytes.NewReader(data), int64(len(data)), "", hex.EncodeToString(sum[:]), opts)
	if err != nil {
		return translate("put", err)
	}
	return nil
}

// Delete removes key; deleting a missing object succeeds (S3 answers 204
// to it anyway; a store that answers NoSuchKey is taken at its word).
func (c *Client) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	err := c.session(ctx).Client.RemoveObject(ctx, c.cfg.Bucket, key, minio.RemoveObjectOptions{})
	if err == nil {
		return nil
	}
	if err := translate("delete", err); !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil // already gone
}

// Ping checks that the bucket answers and accepts the credentials in force
// (HEAD bucket, which needs s3:ListBucket); a missing bucket is an error.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ok, err := c.session(ctx).Client.BucketExists(ctx, c.cfg.Bucket)
	if err != nil {
		return translate("head bucket", err)
	}
	if !ok {
		return fmt.Errorf("storage: head bucket: %w: status 404 NoSuchBucket", storage.ErrUnavailable)
	}
	return nil
}

// translate maps minio-go's and the network's errors onto package storage's
// vocabulary, once. S3's answer is reduced to its status and code: its
// message is the store's prose and, for minio-go's own errors, can quote the
// response body. Network errors keep their cause for the log; the service's
// requests are signed in the Authorization header, so their URLs carry no
// signature.
func translate(op string, err error) error {
	var e minio.ErrorResponse
	if !errors.As(err, &e) {
		return fmt.Errorf("storage: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	switch {
	case e.Code == "InvalidObjectState":
		return fmt.Errorf("storage: %s: %w", op, storage.ErrArchived)
	case op == "get" && e.StatusCode == http.StatusBadRequest && e.Code == "InvalidRequest":
		// A plain GET is malformed only for an object stored with a
		// customer-provided key (SSE-C), whose GET must carry that key.
		return fmt.Errorf("storage: %s: %w: status %d %s", op, storage.ErrUnreadable, e.StatusCode, e.Code)
	case e.Code == "NoSuchKey" || e.StatusCode == http.StatusNotFound && e.Code != "NoSuchBucket":
		return fmt.Errorf("storage: %s: %w", op, storage.ErrNotFound)
	}
	return fmt.Errorf("storage: %s: %w: status %d %s", op, storage.ErrUnavailable, e.StatusCode, e.Code)
}
