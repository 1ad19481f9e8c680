package db

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

func mustUpsert(t testing.TB, d *DB, u avatar.User, now time.Time) avatar.User {
	t.Helper()
	got, err := d.UpsertUser(context.Background(), u, now)
	if err != nil {
		t.Fatalf("UpsertUser(%+v): %v", u, err)
	}
	return got
}

func TestUpsertUserCreatesThenReturnsSame(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		created := mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		want := avatar.User{ID: "u1", OpenID: "o1", CreatedAt: t0, UpdatedAt: t0}
		if created != want {
			t.Errorf("first UpsertUser: got %+v; want %+v", created, want)
		}

		// Second login proposes a fresh id; the stored one wins.
		again := mustUpsert(t, d, avatar.User{ID: "u2", OpenID: "o1"}, t0.Add(time.Hour))
		if again != want {
			t.Errorf("second UpsertUser: got %+v; want %+v", again, want)
		}
		if _, err := d.UserByID(ctx, "u2"); !errors.Is(err, avatar.ErrNotFound) {
			t.Errorf("UserByID(proposed id): got %v; want avatar.ErrNotFound", err)
		}
		byID, err := d.UserByID(ctx, "u1")
		if err != nil || byID != want {
			t.Errorf("UserByID: got %+v, %v; want %+v, nil", byID, err, want)
		}
	})
}

func TestUpsertUserUnionID(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		steps := []struct {
			unionID     string
			wantUnionID string
			wantUpdated time.Time
		}{
			{"", "", t0},                            // created without one
			{"un1", "un1", t0.Add(1 * time.Minute)}, // first seen
			{"", "un1", t0.Add(1 * time.Minute)},    // absent: kept, not touched
			{"un1", "un1", t0.Add(1 * time.Minute)}, // same: not touched
			{"un2", "un2", t0.Add(4 * time.Minute)}, // changed
		}
		for i, s := range steps {
			now := t0.Add(time.Duration(i) * time.Minute)
			got := mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1", UnionID: s.unionID}, now)
			if got.UnionID != s.wantUnionID || !got.UpdatedAt.Equal(s.wantUpdated) || !got.CreatedAt.Equal(t0) {
				t.Errorf("step %d (unionid %q): got unionid %q updated %v created %v; want %q, %v, %v",
					i, s.unionID, got.UnionID, got.UpdatedAt, got.CreatedAt, s.wantUnionID, s.wantUpdated, t0)
			}
		}
	})
}

func TestUpsertUserErrors(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		tests := []struct {
			name    string
			u       avatar.User
			wantErr error // nil: any error
		}{
			{"id taken by another openid", avatar.User{ID: "u1", OpenID: "o2"}, avatar.ErrConflict},
			{"no id", avatar.User{OpenID: "o3"}, nil},
			{"no openid", avatar.User{ID: "u3"}, nil},
		}
		for _, tt := range tests {
			_, err := d.UpsertUser(ctx, tt.u, t0)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("%s: got %v; want %v", tt.name, err, tt.wantErr)
			}
		}
	})
}

func TestUserByIDMissing(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		if _, err := d.UserByID(context.Background(), "nobody"); !errors.Is(err, avatar.ErrNotFound) {
			t.Errorf("UserByID(nobody): got %v; want avatar.ErrNotFound", err)
		}
	})
}

func TestSetNickname(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1", UnionID: "un1"}, t0)
		later := t0.Add(time.Minute)

		got, err := d.SetNickname(ctx, "u1", "小明 🐱", "", later)
		want := avatar.User{ID: "u1", OpenID: "o1", UnionID: "un1", Nickname: "小明 🐱", CreatedAt: t0, UpdatedAt: later}
		if err != nil || got != want {
			t.Errorf("SetNickname: got %+v, %v; want %+v, nil", got, err, want)
		}
		if stored, err := d.UserByID(ctx, "u1"); err != nil || stored != want {
			t.Errorf("UserByID after SetNickname: got %+v, %v; want %+v, nil", stored, err, want)
		}
		if _, err := d.SetNickname(ctx, "nobody", "x", "", later); !errors.Is(err, avatar.ErrNotFound) {
			t.Errorf("SetNickname(nobody): got %v; want avatar.ErrNotFound", err)
		}
	})
}

// TestThumbnailFollowsItsAvatar: a user whose avatar_url an instance of the
// release before thumbnails changed (avatar_thumb_url left naming another
// avatar's thumbnail) reads with the avatar as its own thumbnail.
func TestThumbnailFollowsItsAvatar(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		if _, err := d.exec(ctx, `UPDATE users SET avatar_url = 'https://cdn/avatars/u1/new/avatar',
			avatar_thumb_url = 'https://cdn/avatars/u1/old/thumb' WHERE id = 'u1'`); err != nil {
			t.Fatal(err)
		}
		if u, err := d.UserByID(ctx, "u1"); err != nil || u.AvatarThumbURL != u.AvatarURL {
			t.Errorf("thumb %q, %v; want the avatar %q", u.AvatarThumbURL, err, u.AvatarURL)
		}
		if _, err := d.exec(ctx, `UPDATE users SET avatar_thumb_url = 'https://cdn/avatars/u1/new/thumb' WHERE id = 'u1'`); err != nil {
			t.Fatal(err)
		}
		if u, err := d.UserByID(ctx, "u1"); err != nil || u.AvatarThumbURL != "https://cdn/avatars/u1/new/thumb" {
			t.Errorf("thumb %q, %v; want its own", u.AvatarThumbURL, err)
		}
	})
}
