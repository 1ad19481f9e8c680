package avatar

import (
	"context"
	"errors"
	"time"
)

// Objects is what the service needs of object storage. Implementations
// translate their SDKs' errors into the ErrObject… errors and
// ErrStorageUnavailable once.
type Objects interface {
	// Pin makes every storage call under the returned context use the keys
	// in force now, even if they rotate before the request ends.
	Pin(ctx context.Context) context.Context
	// SignUpload signs a POST form, and a PUT URL when spec.Size is
	// declared, that can store spec.Key only, until spec.Expires.
	SignUpload(ctx context.Context, spec UploadSpec) (SignedUpload, error)
	// ObjectURL is key's permanent public URL.
	ObjectURL(key string) string
	// Peek reads the first n bytes of key and what storage says of the
	// whole object, all of one version.
	Peek(ctx context.Context, key string, n int) (ObjectInfo, []byte, error)
	// Put stores data under key, in the STANDARD class.
	Put(ctx context.Context, key string, data []byte, spec PutSpec) error
	// Delete deletes key; deleting a missing object succeeds.
	Delete(ctx context.Context, key string) error
	// Ping checks that storage answers, with the keys in force.
	Ping(ctx context.Context) error
}

// The errors Objects implementations return.
var (
	// ErrObjectNotFound: nothing is stored under the key.
	ErrObjectNotFound = errors.New("object not found")
	// ErrObjectArchived: the object is in an archive storage class, which
	// storage will not read until it is restored.
	ErrObjectArchived = errors.New("object archived")
	// ErrObjectUnreadable: storage will not give the object's bytes to the
	// service, as for an object the uploader stored encrypted with a key
	// of its own.
	ErrObjectUnreadable = errors.New("object unreadable")
	// ErrStorageUnavailable: storage did not answer properly; retry later.
	ErrStorageUnavailable = errors.New("object storage unavailable")
)

// StandardClass is the storage class uploads are signed for and avatars are
// copied into.
const StandardClass = "STANDARD"

// UploadSpec is what one upload signature allows.
type UploadSpec struct {
	Key         string
	ContentType string
	MaxBytes    int64
	// Size is the exact size the client declared, 0 if it declared none. A
	// presigned PUT can only sign one Content-Length, so there is a PUT URL
	// only for a declared size.
	Size      int64
	NotBefore time.Time
	Expires   time.Time
}

// SignedUpload is a POST form and, for a declared size, a presigned PUT.
type SignedUpload struct {
	PostURL    string
	PostForm   map[string]string
	PutURL     string // "" without a declared size
	PutHeaders map[string]string
}

// ObjectInfo is what storage says of a stored object.
type ObjectInfo struct {
	Size        int64
	ContentType string
	ETag        string // unquoted
	// StorageClass is the object's class; implementations report
	// StandardClass for STANDARD, never "".
	StorageClass string
}

// PutSpec is the metadata of an object the service writes.
type PutSpec struct {
	ContentType, CacheControl string
}
