package cos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
	"github.com/wxavatar/wxavatar/storage"
)

// StandardClass is COS's default storage class: the one uploads are signed
// for, and the one Put writes in. COS spells it as the service does.
const StandardClass = storage.StandardClass

// Config describes one bucket.
type Config struct {
	Bucket        string   // name-appid, as the POST policy's bucket condition names it
	BucketURL     *url.URL // endpoint, e.g. https://name-appid.cos.ap-shanghai.myqcloud.com
	PublicBaseURL *url.URL // base of permanent object URLs (a CDN domain); nil → BucketURL
	Credentials   storage.Credentials
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
	postURL string                  // where POST Object forms go: the bucket's root
	keys    *storage.Keys[struct{}] // the SDK signs each request with the credentials its context names
	sdk     *cossdk.Client
}

// NewClient checks cfg and builds a client; it makes no network call.
func NewClient(cfg Config) (*Client, error) {
	switch {
	case cfg.Bucket == "":
		return nil, errors.New("storage: empty bucket")
	case cfg.BucketURL == nil || cfg.BucketURL.Host == "":
		return nil, errors.New("storage: bucket URL without host")
	}
	keys, err := storage.NewKeys[struct{}](cfg.Credentials, nil)
	if err != nil {
		return nil, err
	}
	if cfg.PublicBaseURL == nil {
		cfg.PublicBaseURL = cfg.BucketURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = storage.DefaultTimeout
	}
	cfg.Transport = storage.Transport(cfg.Transport, cfg.Timeout, cfg.Instrument)
	post := *cfg.BucketURL
	post.Path, post.RawPath, post.RawQuery = "/", "", ""
	c := &Client{cfg: cfg, postURL: post.String(), keys: keys}
	c.sdk = cossdk.NewClient(&cossdk.BaseURL{BucketURL: cfg.BucketURL}, &http.Client{
		Transport: &signingTransport{keys: keys, next: cfg.Transport},
	})
	// One retry rides out a dropped keep-alive connection; more would only
	// push the caller past its deadline.
	c.sdk.Conf.RetryOpt.Count = 2
	return c, nil
}

// Credentials returns the credentials in force.
func (c *Client) Credentials() storage.Credentials { return c.keys.Current() }

// SetCredentials swaps the credentials atomically; calls already under way
// finish with the ones they started with.
func (c *Client) SetCredentials(cred storage.Credentials) error { return c.keys.Set(cred) }

// Pin returns a context whose storage calls all use the credentials in force
// now (storage.Keys.Pin).
func (c *Client) Pin(ctx context.Context) context.Context { return c.keys.Pin(ctx) }

// signingTransport signs each request with the credentials pinned in its
// context, or else those current when the request is sent, using the SDK's
// own signer.
type signingTransport struct {
	keys *storage.Keys[struct{}]
	next http.RoundTripper
}

func (t *signingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	cred := t.keys.For(req.Context()).Credentials
	cossdk.AddAuthorizationHeader(cred.SecretID, cred.SecretKey, cred.SessionToken, req, cossdk.NewAuthTime(time.Hour))
	return t.next.RoundTrip(req)
}

// ObjectURL is the permanent public URL of key.
func (c *Client) ObjectURL(key string) string {
	return storage.JoinKey(c.cfg.PublicBaseURL, key)
}

// SignUpload signs a POST form and, when spec declares a size, a presigned
// PUT URL for spec. Both expire at spec.Expires and pin the key, the
// Content-Type, a private ACL and the STANDARD storage class (see
// stagingACL); the form's policy bounds the size, the PUT URL signs the
// declared Content-Length. PutHeaders are the headers the PUT must carry. Without a declared size PutURL is empty: a PUT URL
// that signs no Content-Length lets its holder store any size up to COS's
// 5 GB limit.
func (c *Client) SignUpload(ctx context.Context, spec storage.UploadSpec) (storage.SignedUpload, error) {
	cred := c.keys.For(ctx).Credentials
	form, err := signPostForm(cred, c.cfg.Bucket, spec)
	if err != nil {
		return storage.SignedUpload{}, err
	}
	signed := storage.SignedUpload{PostURL: c.postURL, PostForm: form}
	if spec.Size > 0 {
		signed.PutURL, signed.PutHeaders = presignPut(cred, c.cfg.BucketURL, spec)
	}
	return signed, nil
}

// Peek reads up to n bytes from the start of key with one ranged GET, and
// what that answer tells of the whole object: its size (Content-Range), type,
// ETag and storage class, all of one version; an answer without size or ETag is
// storage.ErrUnavailable. An empty object has no byte to range over;
// storage answers 416 and Peek reports Size 0 with no bytes.
func (c *Client) Peek(ctx context.Context, key string, n int) (storage.ObjectInfo, []byte, error) {
	if n < 1 {
		return storage.ObjectInfo{}, nil, errors.New("storage: peek at fewer than 1 byte")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := c.sdk.Object.Get(ctx, key, &cossdk.ObjectGetOptions{Range: fmt.Sprintf("bytes=0-%d", n-1)})
	if err != nil {
		var cerr *cossdk.ErrorResponse
		if errors.As(err, &cerr) && cerr.Response != nil &&
			cerr.Response.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return storage.ObjectInfo{}, nil, nil
		}
		return storage.ObjectInfo{}, nil, translate("get", err)
	}
	defer resp.Body.Close()
	info := storage.ObjectInfo{
		Size:         resp.ContentLength, // a server that ignores Range sends the whole object
		ContentType:  resp.Header.Get("Content-Type"),
		ETag:         strings.Trim(resp.Header.Get("ETag"), `"`),
		StorageClass: resp.Header.Get("x-cos-storage-class"),
	}
	if resp.StatusCode == http.StatusPartialContent {
		info.Size = storage.TotalSize(resp.Header.Get("Content-Range"))
	}
	// COS names the class only when it is not STANDARD (GET Object).
	return storage.ReadPeek(info, resp.Body, n)
}

// Put stores data under key in the STANDARD class, with spec's Content-Type
// and Cache-Control as its only metadata, replacing whatever the key held. It
// names no ACL, so the object has the bucket's (and its policy's)
// permissions, like every object under avatars/.
func (c *Client) Put(ctx context.Context, key string, data []byte, spec storage.PutSpec) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	opt := &cossdk.ObjectPutOptions{ObjectPutHeaderOptions: &cossdk.ObjectPutHeaderOptions{
		ContentType:      spec.ContentType,
		CacheControl:     spec.CacheControl,
		ContentLength:    int64(len(data)),
		XCosStorageClass: StandardClass,
	}}
	if _, err := c.sdk.Object.Put(ctx, key, bytes.NewReader(data), opt); err != nil {
		return translate("put", err)
	}
	return nil
}

// Delete removes key; deleting a missing object succeeds.
func (c *Client) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if _, err := c.sdk.Object.Delete(ctx, key); err != nil && !cossdk.IsNotFoundError(err) {
		return translate("delete", err)
	}
	return nil
}

// Ping checks that the bucket answers and accepts our credentials.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if _, err := c.sdk.Bucket.Head(ctx); err != nil {
		return translate("head bucket", err)
	}
	return nil
}

// translate maps SDK and network errors onto this package's vocabulary. The
// SDK's own error text can carry the request URL, never a secret: it is kept
// as the cause for the log.
func translate(op string, err error) error {
	if cossdk.IsNotFoundError(err) {
		return fmt.Errorf("storage: %s: %w", op, storage.ErrNotFound)
	}
	var cerr *cossdk.ErrorResponse
	if errors.As(err, &cerr) && cerr.Response != nil {
		status := cerr.Response.StatusCode
		switch {
		case cerr.Code == "InvalidObjectState":
			return fmt.Errorf("storage: %s: %w", op, storage.ErrArchived)
		case op == "get" && status == http.StatusBadRequest && cerr.Code == "InvalidRequest":
			// A plain GET is malformed only for an object whose reading
			// needs what it cannot give: a customer-provided key (SSE-C),
			// which a client can ask for with headers the PUT does not
			// sign.
			return fmt.Errorf("storage: %s: %w: status %d %s", op, storage.ErrUnreadable, status, cerr.Code)
		}
		return fmt.Errorf("storage: %s: %w: status %d %s", op, storage.ErrUnavailable, status, cerr.Code)
	}
	return fmt.Errorf("storage: %s: %w: %w", op, storage.ErrUnavailable, err)
}
