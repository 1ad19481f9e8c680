// Package avatartest is object storage in memory, an avatar.Objects for the
// tests of the avatar service and of the packages built on it.
package avatartest

import (
	"context"
	"fmt"
	"strconv"

	"github.com/wxavatar/wxavatar/avatar"
)

// BucketURL is where the bucket says its objects and forms live;
// ObjectURL(key) is PublicURL + key.
const (
	BucketURL = "https://bucket-1250000000.cos.ap-guangzhou.myqcloud.com/"
	PublicURL = "https://cdn.example.com/"
)

// Bucket keeps objects in maps. An object's ETag is derived from its bytes
// and type, so writing other bytes changes it. The On… hooks, when set, run
// instead of the bucket's own behaviour; a hook may clear itself and call
// the method again to fall through. A Bucket is for one test goroutine at a
// time, except Ping, which reads nothing.
type Bucket struct {
	Objects map[string][]byte
	Types   map[string]string // Content-Type
	Cache   map[string]string // Cache-Control
	Class   map[string]string // storage class; "" is STANDARD, "ARCHIVE" cannot be read
	Deleted []string          // every key Delete was called with, in order

	OnPeek   func(key string, n int) (avatar.ObjectInfo, []byte, error)
	OnPut    func(key string, data []byte, spec avatar.PutSpec) error
	OnDelete func(key string) error
	OnPing   func() error
}

var _ avatar.Objects = (*Bucket)(nil)

// NewBucket is an empty bucket.
func NewBucket() *Bucket {
	return &Bucket{Objects: map[string][]byte{}, Types: map[string]string{}, Cache: map[string]string{}, Class: map[string]string{}}
}

// Store stores data under key as contentType, as a client's upload would.
func (b *Bucket) Store(key, contentType string, data []byte) {
	b.Objects[key], b.Types[key] = data, contentType
}

// ETag is what the bucket says of key's current version.
func (b *Bucket) ETag(key string) string {
	return fmt.Sprintf("%x", string(b.Objects[key])+b.Types[key])
}

// Pin returns ctx: the bucket has no keys to rotate.
func (b *Bucket) Pin(ctx context.Context) context.Context { return ctx }

// SignUpload signs nothing, but answers in the signer's shape: a form naming
// the key and the type, and a PUT only for a declared size.
func (b *Bucket) SignUpload(_ context.Context, spec avatar.UploadSpec) (avatar.SignedUpload, error) {
	signed := avatar.SignedUpload{
		PostURL:  BucketURL,
		PostForm: map[string]string{"key": spec.Key, "Content-Type": spec.ContentType, "policy": "p", "q-signature": "s"},
	}
	if spec.Size > 0 {
		signed.PutURL = BucketURL + spec.Key + "?q-signature=s"
		signed.PutHeaders = map[string]string{"Content-Type": spec.ContentType, "Content-Length": strconv.FormatInt(spec.Size, 10)}
	}
	return signed, nil
}

// SSECustomerKey, as an object's Class, stands for an object stored
// encrypted with a key of the uploader's (SSE-C): Peek cannot read it.
const SSECustomerKey = "SSE-C"

// ObjectURL is key under PublicURL.
func (b *Bucket) ObjectURL(key string) string { return PublicURL + key }

// Peek reads the first n bytes of key.
func (b *Bucket) Peek(_ context.Context, key string, n int) (avatar.ObjectInfo, []byte, error) {
	if b.OnPeek != nil {
		return b.OnPeek(key, n)
	}
	data, ok := b.Objects[key]
	switch {
	case !ok:
		return avatar.ObjectInfo{}, nil, avatar.ErrObjectNotFound
	case b.Class[key] == "ARCHIVE":
		return avatar.ObjectInfo{}, nil, avatar.ErrObjectArchived
	case b.Class[key] == SSECustomerKey:
		return avatar.ObjectInfo{}, nil, avatar.ErrObjectUnreadable
	}
	class := b.Class[key]
	if class == "" {
		class = avatar.StandardClass
	}
	return avatar.ObjectInfo{Size: int64(len(data)), ContentType: b.Types[key], ETag: b.ETag(key), StorageClass: class},
		data[:min(n, len(data))], nil
}

// Put stores data under key with spec's metadata.
func (b *Bucket) Put(_ context.Context, key string, data []byte, spec avatar.PutSpec) error {
	if b.OnPut != nil {
		return b.OnPut(key, data, spec)
	}
	b.Store(key, spec.ContentType, data)
	b.Cache[key] = spec.CacheControl
	return nil
}

// Delete deletes key and records that it was asked to.
func (b *Bucket) Delete(_ context.Context, key string) error {
	if b.OnDelete != nil {
		return b.OnDelete(key)
	}
	b.Deleted = append(b.Deleted, key)
	delete(b.Objects, key)
	return nil
}

// Ping answers, unless OnPing says otherwise.
func (b *Bucket) Ping(context.Context) error {
	if b.OnPing != nil {
		return b.OnPing()
	}
	return nil
}
