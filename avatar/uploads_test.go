package avatar_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/avatar/avatartest"
	"github.com/wxavatar/wxavatar/db"
)

// png is a real 64 × 64 PNG, opaque.
var png = avatartest.PNG(64, 64, false)

// maxBytes is the tests' UPLOAD_MAX_BYTES.
const maxBytes = 1 << 20

// service is a Service over a real in-memory database and a bucket, with a
// clock the test moves, and one user signed in.
type service struct {
	*avatar.Service
	records *db.DB
	bucket  *avatartest.Bucket
	now     time.Time
	user    avatar.User
}

func newService(t *testing.T, cfg func(*avatar.Config)) *service {
	t.Helper()
	records, err := db.Open(context.Background(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { records.Close() })
	s := &service{records: records, bucket: avatartest.NewBucket(), now: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	c := avatar.Config{Records: records, Objects: s.bucket, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return s.now }, MaxBytes: maxBytes, UploadTTL: 10 * time.Minute}
	if cfg != nil {
		cfg(&c)
	}
	if s.Service, err = avatar.New(c); err != nil {
		t.Fatal(err)
	}
	if s.user, err = s.SignIn(context.Background(), "openid-1", ""); err != nil {
		t.Fatal(err)
	}
	return s
}

// upload creates an upload of contentType and stores data under its key.
func (s *service) upload(t *testing.T, contentType string, data []byte) avatar.Upload {
	t.Helper()
	up, _, err := s.CreateUpload(context.Background(), s.user.ID, contentType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if data != nil {
		s.bucket.Store(up.Key, contentType, data)
	}
	return up
}

func TestCreateUpload(t *testing.T) {
	ctx := context.Background()
	s := newService(t, func(c *avatar.Config) { c.PendingUploads = 2 })
	size := int64(500)
	up, signed, err := s.CreateUpload(ctx, s.user.ID, "image/webp", &size)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("keys and expiry", func(t *testing.T) {
		if want := "uploads/" + s.user.ID + "/" + up.ID + ".webp"; up.Key != want {
			t.Errorf("Key = %q; want %q", up.Key, want)
		}
		if want := "avatars/" + s.user.ID + "/" + up.ID + "/avatar"; up.AvatarKey != want {
			t.Errorf("AvatarKey = %q; want %q", up.AvatarKey, want)
		}
		if want := "avatars/" + s.user.ID + "/" + up.ID + "/thumb"; up.ThumbKey != want {
			t.Errorf("ThumbKey = %q; want %q", up.ThumbKey, want)
		}
		if up.URL != avatartest.PublicURL+up.AvatarKey || up.ThumbURL != avatartest.PublicURL+up.ThumbKey ||
			up.Status != avatar.UploadPending || up.MaxBytes != maxBytes {
			t.Errorf("upload %+v: want the avatar and thumbnail keys' URLs, pending, %d bytes", up, maxBytes)
		}
		if want := s.now.Add(10 * time.Minute); !up.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %s; want %s", up.ExpiresAt, want)
		}
		if signed.PostForm["key"] != up.Key || signed.PutURL == "" {
			t.Errorf("signed %+v: want the upload key and, for a declared size, a PUT", signed)
		}
	})
	t.Run("refused input", func(t *testing.T) {
		for _, tt := range []struct {
			contentType string
			size        int64
			want        error
		}{
			{"image/gif", 0, avatar.ErrUnsupportedType},
			{"image/png", maxBytes + 1, &avatar.SizeError{MaxBytes: maxBytes}},
			{"image/png", -1, &avatar.SizeError{MaxBytes: maxBytes}},
		} {
			var size *int64
			if tt.size != 0 {
				size = &tt.size
			}
			_, _, err := s.CreateUpload(ctx, s.user.ID, tt.contentType, size)
			var se *avatar.SizeError
			if errors.As(tt.want, &se) {
				if got := (*avatar.SizeError)(nil); !errors.As(err, &got) || *got != *se {
					t.Errorf("%s of %d bytes: %v; want %v", tt.contentType, tt.size, err, tt.want)
				}
			} else if !errors.Is(err, tt.want) {
				t.Errorf("%s of %d bytes: %v; want %v", tt.contentType, tt.size, err, tt.want)
			}
		}
	})
	t.Run("pending limit", func(t *testing.T) {
		if _, _, err := s.CreateUpload(ctx, s.user.ID, "image/png", nil); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.CreateUpload(ctx, s.user.ID, "image/png", nil)
		var pl *avatar.PendingLimitError
		if !errors.As(err, &pl) || pl.RetryAfter != 10*time.Minute || !errors.Is(err, avatar.ErrTooManyPending) {
			t.Errorf("third pending upload: %v; want a PendingLimitError of 10m that is ErrTooManyPending", err)
		}
	})
	t.Run("user gone", func(t *testing.T) {
		if _, _, err := s.CreateUpload(ctx, "nosuchuser", "image/png", nil); !errors.Is(err, avatar.ErrUserGone) {
			t.Errorf("upload for a user who is gone: %v; want ErrUserGone", err)
		}
	})
}

func TestConfirm(t *testing.T) {
	ctx := context.Background()
	t.Run("accepted, then the same answer again", func(t *testing.T) {
		s := newService(t, nil)
		up := s.upload(t, "image/png", png)
		u, got, err := s.Confirm(ctx, s.user.ID, up.ID)
		if err != nil {
			t.Fatal(err)
		}
		if u.AvatarURL != up.URL || u.AvatarThumbURL != up.ThumbURL || got.Status != avatar.UploadConfirmed || got.Size != int64(len(png)) {
			t.Errorf("confirm: user %+v, upload %+v; want the avatar and thumbnail URLs recorded and the upload confirmed at %d bytes", u, got, len(png))
		}
		b := s.bucket
		for _, key := range []string{up.AvatarKey, up.ThumbKey} {
			if b.Types[key] != "image/jpeg" || b.Cache[key] != "public, max-age=31536000, immutable" || bytes.Equal(b.Objects[key], png) {
				t.Errorf("%s: %q, Cache-Control %q; want an opaque image re-encoded as JPEG, immutable", key, b.Types[key], b.Cache[key])
			}
		}
		if _, ok := b.Objects[up.Key]; ok {
			t.Errorf("the upload key's object outlived the confirm")
		}
		b.Store(up.Key, "image/png", avatartest.PNG(100, 100, false))
		if u2, got2, err := s.Confirm(ctx, s.user.ID, up.ID); err != nil || u2.AvatarURL != up.URL || got2.Size != got.Size {
			t.Errorf("confirm again: %+v %+v %v; want the first answer", u2, got2, err)
		}
	})
	t.Run("nothing stored yet, then expired", func(t *testing.T) {
		s := newService(t, nil)
		up := s.upload(t, "image/png", nil)
		if _, _, err := s.Confirm(ctx, s.user.ID, up.ID); !errors.Is(err, avatar.ErrUploadMissing) {
			t.Errorf("before the upload: %v; want ErrUploadMissing", err)
		}
		s.now = up.ExpiresAt.Add(time.Second)
		if _, _, err := s.Confirm(ctx, s.user.ID, up.ID); !errors.Is(err, avatar.ErrUploadExpired) {
			t.Errorf("after expiry: %v; want ErrUploadExpired", err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		s := newService(t, nil)
		other, err := s.SignIn(ctx, "openid-2", "")
		if err != nil {
			t.Fatal(err)
		}
		theirs := s.upload(t, "image/png", png)
		for _, id := range []string{"nosuchuploadnosuchupload23", "not-an-id", strings.Repeat("a", 4096), theirs.ID} {
			if _, _, err := s.Confirm(ctx, other.ID, id); !errors.Is(err, avatar.ErrUploadNotFound) {
				t.Errorf("confirm %.30q: %v; want ErrUploadNotFound", id, err)
			}
		}
		if _, _, err := s.Confirm(ctx, "nosuchuser", theirs.ID); !errors.Is(err, avatar.ErrUserGone) {
			t.Errorf("confirm by a user who is gone: %v; want ErrUserGone", err)
		}
	})
	t.Run("rejected for good", func(t *testing.T) {
		for _, tt := range []struct {
			name, contentType, storedType string
			data                          []byte
			class                         string
			reason                        string
		}{
			{"not the declared image", "image/png", "image/png", []byte("<html><script>alert(1)</script>"), "", avatar.ReasonNotAnImage},
			{"another Content-Type", "image/png", "text/html", png, "", avatar.ReasonWrongContentType},
			{"too large", "image/png", "image/png", append(append([]byte{}, png...), make([]byte, maxBytes)...), "", avatar.ReasonTooLarge},
			{"archived", "image/png", "image/png", png, "ARCHIVE", avatar.ReasonStorageClass},
			{"empty, in another class", "image/png", "image/png", []byte{}, "STANDARD_IA", avatar.ReasonTooLarge},
			{"infrequent access", "image/png", "image/png", png, "STANDARD_IA", avatar.ReasonStorageClass},
			{"encrypted with the uploader's key", "image/png", "image/png", png, avatartest.SSECustomerKey, avatar.ReasonUnreadable},
			{"an image bomb by its header", "image/png", "image/png", pngWithHeader(20000, 20000), "", avatar.ReasonTooManyPixels},
			{"truncated", "image/png", "image/png", png[:len(png)/2], "", avatar.ReasonNotAnImage},
			{"HEIC", "image/jpeg", "image/jpeg", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), "", avatar.ReasonUnsupportedFormat},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := newService(t, nil)
				up := s.upload(t, tt.contentType, nil)
				s.bucket.Store(up.Key, tt.storedType, tt.data)
				s.bucket.Class[up.Key] = tt.class
				_, _, err := s.Confirm(ctx, s.user.ID, up.ID)
				var rej *avatar.RejectedError
				if !errors.As(err, &rej) || rej.Reason != tt.reason || rej.Message == "" {
					t.Fatalf("confirm: %v; want rejected: %s", err, tt.reason)
				}
				if _, ok := s.bucket.Objects[up.Key]; ok {
					t.Errorf("the rejected object was not deleted")
				}
				if len(s.bucket.Objects) != 0 {
					t.Errorf("a rejection left objects behind: %d", len(s.bucket.Objects))
				}
				s.bucket.Store(up.Key, "image/png", png) // uploaded again under the still-valid signature
				if _, _, err := s.Confirm(ctx, s.user.ID, up.ID); !errors.As(err, &rej) ||
					rej.Message != "this upload was rejected; ask for a new signature" {
					t.Errorf("confirm after the rejection: %v; want rejected for good", err)
				}
				if u, _ := s.User(ctx, s.user.ID); u.AvatarURL != "" {
					t.Errorf("avatar_url = %q after a rejection; want none", u.AvatarURL)
				}
			})
		}
	})
	t.Run("written again while being confirmed", func(t *testing.T) {
		s := newService(t, nil)
		up := s.upload(t, "image/png", png)
		other := avatartest.PNG(80, 80, false)
		s.bucket.OnPut = func(key string, data []byte, spec avatar.PutSpec) error {
			s.bucket.OnPut = nil
			s.bucket.Store(up.Key, "image/png", other) // under the still-valid signature
			// A second confirm reads the other bytes: it may not write their
			// rendition over the avatar this one is recording.
			if _, _, err := s.Confirm(ctx, s.user.ID, up.ID); !errors.Is(err, avatar.ErrUploadMissing) {
				t.Errorf("confirm of other bytes while the first writes: %v; want ErrUploadMissing", err)
			}
			return s.bucket.Put(ctx, key, data, spec)
		}
		_, got, err := s.Confirm(ctx, s.user.ID, up.ID)
		if err != nil || got.Size != int64(len(png)) {
			t.Fatalf("the first confirm: %+v %v; want the bytes it checked recorded", got, err)
		}
	})
}

func TestSetNickname(t *testing.T) {
	ctx := context.Background()
	s := newService(t, nil)
	u, err := s.SetNickname(ctx, s.user.ID, "\u3000小明\t")
	if err != nil || u.Nickname != "小明" {
		t.Errorf("SetNickname: %q %v; want 小明, trimmed", u.Nickname, err)
	}
	if _, err := s.SetNickname(ctx, s.user.ID, "a\u200db"); !errors.Is(err, avatar.ErrInvalidNickname) {
		t.Errorf("invisible joiner: %v; want ErrInvalidNickname", err)
	}
	if _, err := s.SetNickname(ctx, "nosuchuser", "ghost"); !errors.Is(err, avatar.ErrUserGone) {
		t.Errorf("user gone: %v; want ErrUserGone", err)
	}
	if _, err := s.User(ctx, "nosuchuser"); !errors.Is(err, avatar.ErrUserGone) {
		t.Errorf("User of a user gone: %v; want ErrUserGone", err)
	}
}

// pinKey marks a context that Pin returned.
type pinKey struct{}

// watchedBucket records the contexts confirm's storage calls run under.
type watchedBucket struct {
	*avatartest.Bucket
	contexts []context.Context
}

func (w *watchedBucket) Pin(ctx context.Context) context.Context {
	return context.WithValue(ctx, pinKey{}, true)
}

func (w *watchedBucket) Peek(ctx context.Context, key string, n int) (avatar.ObjectInfo, []byte, error) {
	w.contexts = append(w.contexts, ctx)
	return w.Bucket.Peek(ctx, key, n)
}

func (w *watchedBucket) Put(ctx context.Context, key string, data []byte, spec avatar.PutSpec) error {
	w.contexts = append(w.contexts, ctx)
	return w.Bucket.Put(ctx, key, data, spec)
}

// TestConfirmPinsKeysAndDeadline: every storage call of a confirm uses the
// keys in force when it began (rotation cannot split it) and ends within
// the contract's 10 s, whatever the caller's context.
func TestConfirmPinsKeysAndDeadline(t *testing.T) {
	w := &watchedBucket{Bucket: avatartest.NewBucket()}
	s := newService(t, func(c *avatar.Config) { c.Objects = w })
	s.bucket = w.Bucket
	up := s.upload(t, "image/png", png)
	if _, _, err := s.Confirm(context.Background(), s.user.ID, up.ID); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	if len(w.contexts) != 3 {
		t.Fatalf("%d storage calls watched; want the read and the two writes", len(w.contexts))
	}
	for i, ctx := range w.contexts {
		deadline, ok := ctx.Deadline()
		if ctx.Value(pinKey{}) == nil || !ok || deadline.After(end.Add(9*time.Second)) {
			t.Errorf("storage call %d: pinned %v, deadline %v (set %v); want pinned, within 9s of the confirm", i, ctx.Value(pinKey{}) != nil, deadline.Sub(end), ok)
		}
	}
}
