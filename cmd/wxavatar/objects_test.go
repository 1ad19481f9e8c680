package main

import (
	"errors"
	"fmt"
	"testing"

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
		{storage.ErrUnavailable, avatar.ErrStorageUnavailable},
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
