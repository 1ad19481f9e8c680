package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/storage"
)

// TestObjectsError: each error storage's client returns becomes the domain's,
// still is the original, and reads as the original in the log; any other
// error passes through.
func TestObjectsError(t *testing.T) {
	for _, tt := range []struct{ from, want error }{
		{storage.ErrNotFound, avatar.ErrObjectNotFound},
		{storage.ErrArchived, avatar.ErrObjectArchived},
		{storage.ErrUnreadable, avatar.ErrObjectUnreadable},
		{storage.ErrUnavailable, avatar.ErrStorageUnavailable},
		{storage.ErrSizeRequired, avatar.ErrSizeRequired},
	} {
		in := fmt.Errorf("storage: copy: %w: status 412", tt.from)
		got := objectsError(in)
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.from) || got.Error() != in.Error() {
			t.Errorf("objectsError(%q) = %q; want it to be %v and %v, with the original text", in, got, tt.want, tt.from)
		}
	}
	other := errors.New("something else")
	if got := objectsError(other); got != other {
		t.Errorf("objectsError(%v) = %v; want it unchanged", other, got)
	}
	if got := objectsError(nil); got != nil {
		t.Errorf("objectsError(nil) = %v; want nil", got)
	}
}

// BenchmarkSignUploadByProvider: what one upload signature (POST form and
// presigned PUT) costs on each provider's client, for a production-shaped
// configuration (no network call is made).
func BenchmarkSignUploadByProvider(b *testing.B) {
	for _, provider := range []string{providerCOS, providerOSS, providerS3} {
		b.Run(provider, func(b *testing.B) {
			cfg, err := loadConfig(false, envSource{getenv: func(k string) string { return prodEnvFor(provider)[k] }})
			if err != nil {
				b.Fatal(err)
			}
			c, err := newProvider(cfg.Storage, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			spec := storage.UploadSpec{Key: "uploads/3ab2cdefgh/3ab2cdefghijklmnopqrstuvwx.png", ContentType: "image/png",
				MaxBytes: 5 << 20, Size: 34567, NotBefore: now.Add(-time.Minute), Expires: now.Add(10 * time.Minute).Truncate(time.Second)}
			b.ReportAllocs()
			for b.Loop() {
				signed, err := c.SignUpload(context.Background(), spec)
				if err != nil || signed.PostURL == "" || signed.PutURL == "" {
					b.Fatalf("SignUpload: %v", err)
				}
			}
		})
	}
}
