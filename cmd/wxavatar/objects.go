package main

import (
	"context"
	"errors"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/cos"
)

// objects is the COS client as the avatar service's object storage: the same
// calls, storage's types converted (they have the same fields) and its
// errors given the domain's names. storage knows nothing of the domain, so
// that the client of each provider stays a plain client of that provider.
type objects struct{ c *cos.Client }

var _ avatar.Objects = objects{}

func (o objects) Pin(ctx context.Context) context.Context { return o.c.Pin(ctx) }

func (o objects) SignUpload(ctx context.Context, spec avatar.UploadSpec) (avatar.SignedUpload, error) {
	signed, err := o.c.SignUpload(ctx, storage.UploadSpec(spec))
	return avatar.SignedUpload(signed), objectsError(err)
}

func (o objects) ObjectURL(key string) string { return o.c.ObjectURL(key) }

func (o objects) Peek(ctx context.Context, key string, n int) (avatar.ObjectInfo, []byte, error) {
	info, head, err := o.c.Peek(ctx, key, n)
	return avatar.ObjectInfo(info), head, objectsError(err)
}

func (o objects) Put(ctx context.Context, key string, data []byte, spec avatar.PutSpec) error {
	return objectsError(o.c.Put(ctx, key, data, storage.PutSpec(spec)))
}

func (o objects) Delete(ctx context.Context, key string) error {
	return objectsError(o.c.Delete(ctx, key))
}

func (o objects) Ping(ctx context.Context) error { return objectsError(o.c.Ping(ctx)) }

// objectsError names storage's errors as the domain does, keeping the
// original's text for the log and for errors.Is.
func objectsError(err error) error {
	for _, pair := range [...]struct{ from, to error }{
		{storage.ErrNotFound, avatar.ErrObjectNotFound},
		{storage.ErrArchived, avatar.ErrObjectArchived},
		{storage.ErrUnavailable, avatar.ErrStorageUnavailable},
	} {
		if errors.Is(err, pair.from) {
			return domainError{domain: pair.to, err: err}
		}
	}
	return err
}

// domainError is a storage error that is also the domain's.
type domainError struct{ domain, err error }

func (e domainError) Error() string   { return e.err.Error() }
func (e domainError) Unwrap() []error { return []error{e.domain, e.err} }
