// Package storage is the vocabulary the object storage providers share: the
// upload a signature allows, what a signature gives the client, what storage
// says of an object, the errors callers act on, and the rotating keys. Each
// provider is a package of its own that speaks only its provider's protocol:
// storage/cos (Tencent COS, the default), storage/oss (Aliyun OSS) and
// storage/s3 (S3-compatible stores). The local object server that
// `serve --dev` and the tests run, with its own signature verifiers, is
// package localcos.
package storage

import (
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
)

// Errors callers can act on; each provider translates its SDK's and the
// network's errors into one of these once.
var (
	ErrNotFound    = errors.New("object not found")
	ErrUnavailable = errors.New("object storage unavailable")
	// ErrArchived: the object is in an archive storage class, which storage
	// will not read until it is restored.
	ErrArchived = errors.New("object archived")
	// ErrUnreadable: the store will not give the object's bytes to a plain
	// signed GET: it was stored encrypted with a key the service does not
	// hold (SSE-C), which a client can ask for on stores that let such
	// fields or headers through unsigned.
	ErrUnreadable = errors.New("object unreadable without a key the service does not hold")
	// ErrSizeRequired: the store takes no POST policy uploads, and an
	// upload without a declared size cannot be signed as a PUT, which signs
	// one exact Content-Length.
	ErrSizeRequired = errors.New("storage: this store takes PUT uploads only, which need the declared size")
)

// StandardClass is the storage class uploads are signed for and Put writes
// in, as ObjectInfo names it whatever the provider calls it (OSS says
// "Standard").
const StandardClass = "STANDARD"

// Credentials are one key pair, with the STS token when the pair is
// temporary: COS's SecretId and SecretKey, OSS's AccessKey ID and secret,
// S3's access key ID and secret access key.
type Credentials struct {
	SecretID     string
	SecretKey    string
	SessionToken string
}

// Validate refuses an empty half and white space around either half, which
// a pasted secret often carries and every signature would then fail on.
func (c Credentials) Validate() error {
	if c.SecretID == "" || c.SecretKey == "" {
		return errors.New("storage: empty key id or secret")
	}
	if strings.TrimSpace(c.SecretID) != c.SecretID || strings.TrimSpace(c.SecretKey) != c.SecretKey {
		return errors.New("storage: key id or secret has surrounding white space")
	}
	return nil
}

// MaskedID is the key id with all but its first and last four characters
// hidden, for log lines that must say which key is in force.
func (c Credentials) MaskedID() string {
	id := c.SecretID
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}

// Keys holds the credentials in force and what a provider builds from them
// (the SDK client that signs with them), swapped together at run time. A
// call uses the pair pinned in its context (Pin), or else the pair in force
// when it began, so that a request that spans several calls finishes with
// the keys it started with even if they are swapped meanwhile.
type Keys[T any] struct {
	build func(Credentials) (T, error)
	cur   atomic.Pointer[Keyed[T]]
}

// Keyed is one credential set and what was built from it.
type Keyed[T any] struct {
	Credentials Credentials
	Client      T
}

// NewKeys validates c, builds from it and holds the pair; build may refuse
// credentials its provider cannot sign with. A nil build builds nothing
// (T's zero value), for a provider that signs with the credentials alone.
func NewKeys[T any](c Credentials, build func(Credentials) (T, error)) (*Keys[T], error) {
	k := &Keys[T]{build: build}
	return k, k.Set(c)
}

// Set validates c, builds from it and swaps the pair in atomically; calls
// already under way, and contexts pinned before, keep theirs.
func (k *Keys[T]) Set(c Credentials) error {
	if err := c.Validate(); err != nil {
		return err
	}
	var v T
	if k.build != nil {
		var err error
		if v, err = k.build(c); err != nil {
			return err
		}
	}
	k.cur.Store(&Keyed[T]{Credentials: c, Client: v})
	return nil
}

// Current returns the credentials in force.
func (k *Keys[T]) Current() Credentials { return k.cur.Load().Credentials }

// pinKey is per Keys: a context pinned by one client pins nothing for
// another, which may talk to another bucket.
type pinKey struct{ keys any }

// Pin returns a context whose calls all use the pair in force now.
func (k *Keys[T]) Pin(ctx context.Context) context.Context {
	return context.WithValue(ctx, pinKey{k}, k.cur.Load())
}

// For returns the pair pinned in ctx, or else the one in force.
func (k *Keys[T]) For(ctx context.Context) *Keyed[T] {
	if pinned, ok := ctx.Value(pinKey{k}).(*Keyed[T]); ok {
		return pinned
	}
	return k.cur.Load()
}

// UploadSpec pins one object upload: the exact key, the exact Content-Type,
// the size range and the time window in which the signature is valid.
type UploadSpec struct {
	Key         string
	ContentType string
	MaxBytes    int64
	// Size is the exact size the client declared, 0 if it declared none. A
	// presigned PUT has no size range: it can only sign one Content-Length,
	// so there is a PUT URL only for a declared size.
	Size      int64
	NotBefore time.Time
	Expires   time.Time
}

// Validate checks that s can be signed.
func (s UploadSpec) Validate() error {
	switch {
	case s.Key == "":
		return errors.New("upload spec: empty key")
	case s.ContentType == "":
		return errors.New("upload spec: empty content type")
	case s.MaxBytes < 1:
		return errors.New("upload spec: max bytes below 1")
	case s.Size < 0 || s.Size > s.MaxBytes:
		return errors.New("upload spec: size out of 0..max bytes")
	case !s.Expires.After(s.NotBefore):
		return errors.New("upload spec: expiry not after start")
	}
	return nil
}

// SignedUpload is everything a client needs to upload one object directly:
// a POST form (PostURL "" when the store takes no POST policy uploads) and,
// for a declared size, a presigned PUT (PutURL "" otherwise) with the
// headers it signed, which the client must send.
type SignedUpload struct {
	PostURL    string
	PostForm   map[string]string
	PutURL     string
	PutHeaders map[string]string
}

// ObjectInfo is what storage says of a whole object.
type ObjectInfo struct {
	Size        int64
	ContentType string
	ETag        string // unquoted
	// StorageClass is the object's class in the provider's own spelling,
	// except that the standard class is always StandardClass.
	StorageClass string
}

// PutSpec is the metadata of an object the service writes itself.
type PutSpec struct {
	ContentType, CacheControl string
}

// PostSuccessStatus is what a POST upload answers on success, on every
// provider; 204 keeps wx.uploadFile's success callback free of a body to
// parse.
const PostSuccessStatus = "204"

// JoinKey is the URL of key under base: base's path, a slash, the key.
func JoinKey(base *url.URL, key string) string {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + key
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// WithoutDefaultPort is u without an explicit default port (:443 for https,
// :80 for http): browsers and wx.request send Host without it, and Host is
// signed, so a URL handed to clients must not name it.
func WithoutDefaultPort(u *url.URL) *url.URL {
	h, p, err := net.SplitHostPort(u.Host)
	if err != nil || !(u.Scheme == "https" && p == "443" || u.Scheme == "http" && p == "80") {
		return u
	}
	v := *u
	v.Host = h
	if strings.Contains(h, ":") {
		v.Host = "[" + h + "]"
	}
	return &v
}

// ReadPeek ends every provider's Peek the same way, from what its ranged
// GET answered: a class the store did not name is the standard one; an
// answer that does not tell the whole object's size (Size -1) and ETag is
// ErrUnavailable, since they are what a caller acts on (the size to check,
// the ETag to name the version it checked); and up to n bytes of body are
// read.
func ReadPeek(info ObjectInfo, body io.Reader, n int) (ObjectInfo, []byte, error) {
	if info.StorageClass == "" {
		info.StorageClass = StandardClass
	}
	if info.Size < 0 || info.ETag == "" {
		return ObjectInfo{}, nil, fmt.Errorf("storage: get: %w: the answer does not tell the object's size and ETag", ErrUnavailable)
	}
	b, err := io.ReadAll(io.LimitReader(body, int64(n)))
	if err != nil {
		return ObjectInfo{}, nil, fmt.Errorf("storage: get: %w: %w", ErrUnavailable, err)
	}
	return info, b, nil
}

// BucketURL is the bucket's URL on endpoint as OSS and S3 address it:
// endpoint/bucket with pathStyle, else bucket.<endpoint's host>; a default
// port is dropped (WithoutDefaultPort).
func BucketURL(endpoint *url.URL, bucket string, pathStyle bool) *url.URL {
	e := WithoutDefaultPort(endpoint)
	u := &url.URL{Scheme: e.Scheme, Host: e.Host}
	if pathStyle {
		u.Path = "/" + bucket
	} else {
		u.Host = bucket + "." + e.Host
	}
	return u
}

// TotalSize is the complete length in a Content-Range of "bytes a-b/size",
// or -1.
func TotalSize(contentRange string) int64 {
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

// DefaultTimeout bounds one storage call, retries included, when a
// provider's Config names none.
const DefaultTimeout = 5 * time.Second

// Transport is what a provider's client sends with: t, or when its caller
// gives none a dedicated transport (connections kept alive for the many
// small calls confirm and the sweeper make, every phase bounded by
// timeout), wrapped by instrument (metrics) when set.
func Transport(t http.RoundTripper, timeout time.Duration, instrument func(http.RoundTripper) http.RoundTripper) http.RoundTripper {
	if t == nil {
		t = newTransport(timeout)
	}
	if instrument != nil {
		t = instrument(t)
	}
	return t
}

func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   3 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
}
