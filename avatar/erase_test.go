package avatar_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// TestErase: erasing a user removes their records at once and every object
// of theirs, now where storage answers and by the sweeper otherwise, even
// an upload key a signature could still write; a new login is a new user.
func TestErase(t *testing.T) {
	ctx := context.Background()
	for _, storageDown := range []bool{false, true} {
		name := "storage up"
		if storageDown {
			name = "storage down during the erase"
		}
		t.Run(name, func(t *testing.T) {
			s := newService(t, nil)
			confirmed := s.upload(t, "image/png", png)
			if _, _, err := s.Confirm(ctx, s.user.ID, confirmed.ID); err != nil {
				t.Fatal(err)
			}
			pending := s.upload(t, "image/png", png) // stored, never confirmed
			b := s.bucket
			if len(b.Objects) != 3 { // avatar, thumbnail, the pending upload
				t.Fatalf("%d objects before; want 3", len(b.Objects))
			}
			failing := errors.New("storage down")
			if storageDown {
				b.OnDelete = func(string) error { return failing }
			}
			if err := s.Erase(ctx, s.user.ID); err != nil {
				t.Fatalf("Erase: %v", err)
			}
			if _, err := s.User(ctx, s.user.ID); !errors.Is(err, avatar.ErrUserGone) {
				t.Errorf("the erased user: %v; want ErrUserGone", err)
			}
			if _, err := s.records.UploadForUser(ctx, s.user.ID, confirmed.ID); !errors.Is(err, avatar.ErrNotFound) {
				t.Errorf("the erased user's upload: %v; want no record", err)
			}
			if err := s.Erase(ctx, s.user.ID); !errors.Is(err, avatar.ErrUserGone) {
				t.Errorf("erasing again: %v; want ErrUserGone", err)
			}
			want := 1 // the pending upload's key waits for its signature
			if storageDown {
				want = 3
			}
			if len(b.Objects) != want {
				t.Errorf("%d objects right after the erase; want %d", len(b.Objects), want)
			}
			b.OnDelete = nil
			sweeper := &avatar.Sweeper{Records: s.records, Objects: b, Logger: slog.New(slog.DiscardHandler),
				Now: func() time.Time { return s.now }, Grace: time.Hour}
			if _, err := sweeper.SweepOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if len(b.Objects) != 1 {
				t.Errorf("%d objects after a sweep; want only the pending upload's key", len(b.Objects))
			}
			// Written again under the still-valid signature, then deleted
			// once it has expired.
			b.Store(pending.Key, "image/png", png)
			s.now = pending.ExpiresAt.Add(16 * time.Minute)
			if _, err := sweeper.SweepOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if len(b.Objects) != 0 {
				t.Errorf("objects left after the signature expired: %v", b.Objects)
			}
			again, err := s.SignIn(ctx, "openid-1", "")
			if err != nil || again.ID == s.user.ID || again.AvatarURL != "" {
				t.Errorf("login after the erase: %+v %v; want a new user with a new id and no avatar", again, err)
			}
		})
	}
}

// TestRevoke: a withdrawn nickname and avatar are cleared, the avatar's
// objects deleted; revoking again, or for someone unknown, changes nothing;
// a cancelled WeChat account erases the user.
func TestRevoke(t *testing.T) {
	ctx := context.Background()
	s := newService(t, nil)
	up := s.upload(t, "image/png", png)
	if _, _, err := s.Confirm(ctx, s.user.ID, up.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetNickname(ctx, s.user.ID, "小明"); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "openid-1", true, false); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, s.user.ID); u.Nickname != "" || u.AvatarURL == "" {
		t.Errorf("after revoking the nickname: %q, avatar %q; want no nickname, the avatar kept", u.Nickname, u.AvatarURL)
	}
	if err := s.Revoke(ctx, "openid-1", false, true); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, s.user.ID); u.AvatarURL != "" || u.AvatarThumbURL != "" {
		t.Errorf("after revoking the avatar: %q %q; want none", u.AvatarURL, u.AvatarThumbURL)
	}
	if len(s.bucket.Objects) != 0 {
		t.Errorf("objects left after revoking the avatar: %d", len(s.bucket.Objects))
	}
	for _, openID := range []string{"openid-1", "nobody"} {
		if err := s.Revoke(ctx, openID, true, true); err != nil {
			t.Errorf("revoking again for %s: %v; want nothing to do", openID, err)
		}
	}
	if err := s.EraseByOpenID(ctx, "openid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(ctx, s.user.ID); !errors.Is(err, avatar.ErrUserGone) {
		t.Errorf("after the cancellation: %v; want the user gone", err)
	}
	if err := s.EraseByOpenID(ctx, "openid-1"); err != nil {
		t.Errorf("a duplicate cancellation: %v; want nothing to do", err)
	}
}

// TestEraseDuringConfirm: a user erased while their confirm writes the
// avatar gets ErrUserGone, and what the confirm wrote is deleted, since no
// record names it any more.
func TestEraseDuringConfirm(t *testing.T) {
	ctx := context.Background()
	s := newService(t, nil)
	up := s.upload(t, "image/png", png)
	s.bucket.OnPut = func(key string, data []byte, spec avatar.PutSpec) error {
		if key == up.ThumbKey { // the second write: erase before the record
			s.bucket.OnPut = nil
			if err := s.Erase(ctx, s.user.ID); err != nil {
				t.Fatal(err)
			}
		}
		s.bucket.Store(key, spec.ContentType, data)
		return nil
	}
	if _, _, err := s.Confirm(ctx, s.user.ID, up.ID); !errors.Is(err, avatar.ErrUserGone) {
		t.Fatalf("confirm for a user erased meanwhile: %v; want ErrUserGone", err)
	}
	// Left: only the upload key, which its still-valid signature could
	// write again; the erase queued it for after the signature expires.
	if _, ok := s.bucket.Objects[up.Key]; len(s.bucket.Objects) != 1 || !ok {
		t.Errorf("objects left: %v; want only the upload key, queued", len(s.bucket.Objects))
	}
}
