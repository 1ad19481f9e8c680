package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/storage"
	"github.com/wxavatar/wxavatar/storage/cos"
	"github.com/wxavatar/wxavatar/storage/oss"
	"github.com/wxavatar/wxavatar/storage/s3"
)

// provider is one storage provider's client, as storage/cos, storage/oss
// and storage/s3 each build it: the same calls over storage's shared types.
type provider interface {
	Credentials() storage.Credentials
	SetCredentials(storage.Credentials) error
	Pin(ctx context.Context) context.Context
	SignUpload(ctx context.Context, spec storage.UploadSpec) (storage.SignedUpload, error)
	ObjectURL(key string) string
	Peek(ctx context.Context, key string, n int) (storage.ObjectInfo, []byte, error)
	Put(ctx context.Context, key string, data []byte, spec storage.PutSpec) error
	Delete(ctx context.Context, key string) error
	Ping(ctx context.Context) error
}

var (
	_ provider = (*cos.Client)(nil)
	_ provider = (*oss.Client)(nil)
	_ provider = (*s3.Client)(nil)
)

// newProvider builds the client of the provider sc names; it makes no
// network call. instrument wraps its transport (metrics).
func newProvider(sc storageConfig, publicBase *url.URL, instrument func(http.RoundTripper) http.RoundTripper) (provider, error) {
	switch sc.Provider {
	case providerCOS:
		return cos.NewClient(cos.Config{
			Bucket: sc.Bucket, BucketURL: sc.Endpoint, PublicBaseURL: publicBase,
			Credentials: sc.Credentials, Timeout: sc.Timeout, Instrument: instrument,
		})
	case providerOSS:
		return oss.New(oss.Config{
			Endpoint: sc.Endpoint, Bucket: sc.Bucket, Region: sc.Region, PathStyle: sc.PathStyle,
			PublicBaseURL: publicBase, Credentials: sc.Credentials, Timeout: sc.Timeout, Instrument: instrument,
		})
	case providerS3:
		return s3.New(s3.Config{
			Endpoint: sc.Endpoint, Bucket: sc.Bucket, Region: sc.Region, PathStyle: sc.PathStyle, PostPolicy: sc.PostPolicy,
			PublicBaseURL: publicBase, Credentials: sc.Credentials, Timeout: sc.Timeout, Instrument: instrument,
		})
	}
	return nil, fmt.Errorf("storage: STORAGE=%s is not built in", sc.Provider)
}

// objects is a provider's client as the avatar service's object storage: the
// same calls, storage's types converted (they have the same fields) and its
// errors given the domain's names. storage knows nothing of the domain, so
// that the client of each provider stays a plain client of that provider.
type objects struct{ c provider }

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
		{storage.ErrUnreadable, avatar.ErrObjectUnreadable},
		{storage.ErrUnavailable, avatar.ErrStorageUnavailable},
		{storage.ErrSizeRequired, avatar.ErrSizeRequired},
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
