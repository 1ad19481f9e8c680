package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"
)

// Errors callers can act on; every SDK and network error is translated into
// one of these once, in translate.
var (
	ErrNotFound    = errors.New("object not found")
	ErrUnavailable = errors.New("object storage unavailable")
	// ErrArchived: the object is in an archive storage class, which COS
	// will not read until it is restored (403 InvalidObjectState).
	ErrArchived = errors.New("object archived")
)

// StandardClass is COS's default storage class: the one uploads are signed
// for, and the one Put writes in.
const StandardClass = "STANDARD"

// Config describes one bucket.
type Config struct {
	Bucket        string   // name-appid, as the POST policy's bucket condition names it
	BucketURL     *url.URL // endpoint, e.g. https://name-appid.cos.ap-shanghai.myqcloud.com
	PublicBaseURL *url.URL // base of permanent object URLs (a CDN domain); nil → BucketURL
	Credentials   Credentials
	// Timeout bounds one storage call, retries included.
	Timeout time.Duration
	// Transport carries the requests; nil → a dedicated http.Transport.
	Transport http.RoundTripper
	// Instrument, if set, wraps the transport (metrics).
	Instrument func(http.RoundTripper) http.RoundTripper
}

// Client talks to one COS bucket through cos-go-sdk-v5. Its credentials can be
// swapped at run time; each call uses the credentials current when it began.
type Client struct {
	cfg     Config
	postURL string // where POST Object forms go: the bucket's root
	creds   atomic.Pointer[Credentials]
	cos     *cos.Client
}

// NewClient checks cfg and builds a client; it makes no network call.
func NewClient(cfg Config) (*Client, error) {
	switch {
	case cfg.Bucket == "":
		return nil, errors.New("storage: empty bucket")
	case cfg.BucketURL == nil || cfg.BucketURL.Host == "":
		return nil, errors.New("storage: bucket URL without host")
	}
	if err := validateCredentials(cfg.Credentials); err != nil {
		return nil, err
	}
	if cfg.PublicBaseURL == nil {
		cfg.PublicBaseURL = cfg.BucketURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Transport == nil {
		cfg.Transport = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   3 * time.Second,
			ResponseHeaderTimeout: cfg.Timeout,
		}
	}
	if cfg.Instrument != nil {
		cfg.Transport = cfg.Instrument(cfg.Transport)
	}
	post := *cfg.BucketURL
	post.Path, post.RawPath, post.RawQuery = "/", "", ""
	c := &Client{cfg: cfg, postURL: post.String()}
	c.creds.Store(&cfg.Credentials)
	c.cos = cos.NewClient(&cos.BaseURL{BucketURL: cfg.BucketURL}, &http.Client{
		Transport: &signingTransport{creds: c.Credentials, next: cfg.Transport},
	})
	// One retry rides out a dropped keep-alive connection; more would only
	// push the caller past its deadline.
	c.cos.Conf.RetryOpt.Count = 2
	return c, nil
}

func validateCredentials(c Credentials) error {
	if c.SecretID == "" || c.SecretKey == "" {
		return errors.New("storage: empty SecretId or SecretKey")
	}
	if strings.TrimSpace(c.SecretID) != c.SecretID || strings.TrimSpace(c.SecretKey) != c.SecretKey {
		return errors.New("storage: SecretId or SecretKey has surrounding white space")
	}
	return nil
}

// Credentials returns the credentials in force.
func (c *Client) Credentials() Credentials { return *c.creds.Load() }

// SetCredentials swaps the credentials atomically; calls already under way
// finish with the ones they started with.
func (c *Client) SetCredentials(cred Credentials) error {
	if err := validateCredentials(cred); err != nil {
		return err
	}
	c.creds.Store(&cred)
	return nil
}

type pinnedKey struct{}

// Pin returns a context whose storage calls all use the credentials in force
// now, so that a request that spans several calls finishes with the keys it
// started with even if they are swapped meanwhile.
func (c *Client) Pin(ctx context.Context) context.Context {
	return context.WithValue(ctx, pinnedKey{}, c.creds.Load())
}

// signingTransport signs each request with the credentials pinned in its
// context, or else those current when the request is sent, using the SDK's
// own signer.
type signingTransport struct {
	creds func() Credentials
	next  http.RoundTripper
}

func (t *signingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	cred := t.creds()
	if pinned, ok := req.Context().Value(pinnedKey{}).(*Credentials); ok {
		cred = *pinned
	}
	cos.AddAuthorizationHeader(cred.SecretID, cred.SecretKey, cred.SessionToken, req, cos.NewAuthTime(time.Hour))
	return t.next.RoundTrip(req)
}

// ObjectURL is the permanent public URL of key.
func (c *Client) ObjectURL(key string) string {
	return joinKey(c.cfg.PublicBaseURL, key)
}

func joinKey(base *url.URL, key string) string {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + key
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// SignedUpload is everything a client needs to upload one object directly.
type SignedUpload struct {
	PostURL    string
	PostForm   map[string]string
	PutURL     string
	PutHeaders map[string]string
}

// SignUpload signs a POST form and, when spec declares a size, a presigned
// PUT URL for spec. Both expire at spec.Expires and pin the key, the
// Content-Type, a private ACL and the STANDARD storage class (see
// stagingACL); the form's policy bounds the size, the PUT URL signs the
// declared Content-Length. PutHeaders are the headers the PUT must carry. Without a declared size PutURL is empty: a PUT URL
// that signs no Content-Length lets its holder store any size up to COS's
// 5 GB limit.
func (c *Client) SignUpload(ctx context.Context, spec UploadSpec) (SignedUpload, error) {
	cred := c.Credentials()
	if pinned, ok := ctx.Value(pinnedKey{}).(*Credentials); ok {
		cred = *pinned
	}
	form, err := signPostForm(cred, c.cfg.Bucket, spec)
	if err != nil {
		return SignedUpload{}, err
	}
	signed := SignedUpload{PostURL: c.postURL, PostForm: form}
	if spec.Size > 0 {
		signed.PutURL, signed.PutHeaders = presignPut(cred, c.cfg.BucketURL, spec)
	}
	return signed, nil
}

// ObjectInfo is what storage says of a whole object.
type ObjectInfo struct {
	Size        int64
	ContentType string
	ETag        string // unquoted
	// StorageClass is the class COS reports in x-cos-storage-class, e.g.
	// STANDARD_IA; COS sends that header only for objects that are not
	// STANDARD (GET Object), so its absence reads as "STANDARD". An object in
	// an archive class (ARCHIVE, DEEP_ARCHIVE) cannot be peeked at at all:
	// COS refuses to read it (403 InvalidObjectState, ErrArchived here).
	StorageClass string
}

// Peek reads up to n bytes from the start of key with one ranged GET, and
// what that answer tells of the whole object: its size (Content-Range), type,
// ETag and storage class, all of one version; an answer without size or ETag is
// ErrUnavailable. An empty object has no byte to range over;
// storage answers 416 and Peek reports Size 0 with no bytes.
func (c *Client) Peek(ctx context.Context, key string, n int) (ObjectInfo, []byte, error) {
	if n < 1 {
		return ObjectInfo{}, nil, errors.New("storage: peek at fewer than 1 byte")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := c.cos.Object.Get(ctx, key, &cos.ObjectGetOptions{Range: fmt.Sprintf("bytes=0-%d", n-1)})
	if err != nil {
		var cerr *cos.ErrorResponse
		if errors.As(err, &cerr) && cerr.Response != nil &&
			cerr.Response.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return ObjectInfo{}, nil, nil
		}
		return ObjectInfo{}, nil, translate("get", err)
	}
	defer resp.Body.Close()
	info := ObjectInfo{
		Size:         resp.ContentLength, // a server that ignores Range sends the whole object
		ContentType:  resp.Header.Get("Content-Type"),
		ETag:         strings.Trim(resp.Header.Get("ETag"), `"`),
		StorageClass: resp.Header.Get("x-cos-storage-class"),
	}
	if info.StorageClass == "" {
		info.StorageClass = StandardClass
	}
	if resp.StatusCode == http.StatusPartialContent {
		info.Size = totalSize(resp.Header.Get("Content-Range"))
	}
	// Both are what a caller acts on: the size to check, the ETag to name
	// the version it checked.
	if info.Size < 0 || info.ETag == "" {
		return ObjectInfo{}, nil, fmt.Errorf("storage: get: %w: the answer does not tell the object's size and ETag", ErrUnavailable)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(n)))
	if err != nil {
		return ObjectInfo{}, nil, translate("get", err)
	}
	return info, b, nil
}

// totalSize is the complete length in a Content-Range of "bytes a-b/size",
// or -1.
func totalSize(contentRange string) int64 {
	_, total, ok := strings.Cut(contentRange, "/")
	if !ok {
		return -1
	}
	size, err := strconv.ParseInt(total, 10, 64)
	if err != nil || size < 0 {
		return -1
	}
	return size
}

// PutSpec is the metadata of an object the service writes itself.
type PutSpec struct {
	ContentType, CacheControl string
}

// Put stores data under key in the STANDARD class, with spec's Content-Type
// and Cache-Control as its only metadata, replacing whatever the key held. It
// names no ACL, so the object has the bucket's (and its policy's)
// permissions, like every object under avatars/.
func (c *Client) Put(ctx context.Context, key string, data []byte, spec PutSpec) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	opt := &cos.ObjectPutOptions{ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{
		ContentType:      spec.ContentType,
		CacheControl:     spec.CacheControl,
		ContentLength:    int64(len(data)),
		XCosStorageClass: StandardClass,
	}}
	if _, err := c.cos.Object.Put(ctx, key, bytes.NewReader(data), opt); err != nil {
		return translate("put", err)
	}
	return nil
}

// Delete removes key; deleting a missing object succeeds.
func (c *Client) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if _, err := c.cos.Object.Delete(ctx, key); err != nil && !cos.IsNotFoundError(err) {
		return translate("delete", err)
	}
	return nil
}

// Ping checks that the bucket answers and accepts our credentials.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if _, err := c.cos.Bucket.Head(ctx); err != nil {
		return translate("head bucket", err)
	}
	return nil
}

// translate maps SDK and network errors onto this package's vocabulary. The
// SDK's own error text can carry the request URL, never a secret: it is kept
// as the cause for the log.
func translate(op string, err error) error {
	if cos.IsNotFoundError(err) {
		return fmt.Errorf("storage: %s: %w", op, ErrNotFound)
	}
	var cerr *cos.ErrorResponse
	if errors.As(err, &cerr) && cerr.Response != nil {
		if cerr.Code == "InvalidObjectState" {
			return fmt.Errorf("storage: %s: %w", op, ErrArchived)
		}
		return fmt.Errorf("storage: %s: %w: status %d %s", op, ErrUnavailable, cerr.Response.StatusCode, cerr.Code)
	}
	return fmt.Errorf("storage: %s: %w: %w", op, ErrUnavailable, err)
}
