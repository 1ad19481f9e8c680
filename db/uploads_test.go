package db

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

const uploadTTL = 10 * time.Minute

// testUpload describes a fresh upload for userID created at t0.
func testUpload(userID, id string) avatar.Upload {
	return avatar.Upload{
		ID:          id,
		UserID:      userID,
		Key:         "avatars/" + userID + "/" + id + ".png",
		AvatarKey:   "avatars/" + userID + "/" + id + "/avatar.png",
		ContentType: "image/png",
		URL:         "https://cdn.example.com/avatars/" + userID + "/" + id + "/avatar.png",
		ThumbKey:    "avatars/" + userID + "/" + id + "/thumb",
		ThumbURL:    "https://cdn.example.com/avatars/" + userID + "/" + id + "/thumb",
		MaxBytes:    5 << 20,
		ExpiresAt:   t0.Add(uploadTTL),
	}
}

func mustCreateUpload(t *testing.T, d *DB, u avatar.Upload, now time.Time) {
	t.Helper()
	if err := d.CreateUpload(context.Background(), u, 0, now); err != nil {
		t.Fatalf("CreateUpload(%s): %v", u.ID, err)
	}
}

func TestCreateUploadStoresPending(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		in := testUpload("u1", "up1")
		in.Status, in.Size, in.ConfirmedAt = avatar.UploadConfirmed, 99, t0 // ignored
		mustCreateUpload(t, d, in, t0)

		got, err := d.UploadForUser(ctx, "u1", "up1")
		want := testUpload("u1", "up1")
		want.Status, want.CreatedAt = avatar.UploadPending, t0
		if err != nil || got != want {
			t.Errorf("UploadForUser: got %+v, %v; want %+v, nil", got, err, want)
		}
	})
}

func TestCreateUploadErrors(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustCreateUpload(t, d, testUpload("u1", "up1"), t0)

		sameKey := testUpload("u1", "up2")
		sameKey.Key = testUpload("u1", "up1").Key
		sameAvatarKey := testUpload("u1", "up4")
		sameAvatarKey.AvatarKey = testUpload("u1", "up1").AvatarKey
		keyWithoutExt := testUpload("u1", "up6")
		keyWithoutExt.Key = "avatars/u1/up6"
		idWithDot := testUpload("u1", "up.7")
		bothKeys := testUpload("u1", "up8")
		bothKeys.Key, bothKeys.AvatarKey = "up8/up8.png", "up8/up8.png"
		noExpiry := testUpload("u1", "up3")
		noExpiry.ExpiresAt = time.Time{}
		avatarIsUploadKey := testUpload("u1", "up5")
		avatarIsUploadKey.AvatarKey = avatarIsUploadKey.Key
		tests := []struct {
			name    string
			u       avatar.Upload
			wantErr error // nil: any error
		}{
			{"unknown user", testUpload("nobody", "up9"), avatar.ErrNotFound},
			{"same id", testUpload("u1", "up1"), avatar.ErrConflict},
			// A key that does not name its id could repeat another upload's:
			// no index would notice, so CreateUpload refuses it.
			{"key naming another id", sameKey, nil},
			{"avatar key naming another id", sameAvatarKey, nil},
			{"key without an extension", keyWithoutExt, nil},
			{"id with a dot", idWithDot, nil},
			{"one key for both", bothKeys, nil},
			{"avatar under the signed key", avatarIsUploadKey, nil},
			{"no expiry", noExpiry, nil},
			{"no id", testUpload("u1", ""), nil},
		}
		for _, tt := range tests {
			err := d.CreateUpload(ctx, tt.u, 0, t0)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("%s: got %v; want %v", tt.name, err, tt.wantErr)
			}
		}
	})
}

func TestCreateUploadPendingCap(t *testing.T) {
	type existing struct {
		createdAt time.Time
		status    avatar.UploadStatus
	}
	now := t0.Add(uploadTTL / 2)
	pending := existing{t0, avatar.UploadPending}
	expired := existing{t0.Add(-uploadTTL), avatar.UploadPending} // expires exactly at t0
	tests := []struct {
		name     string
		existing []existing
		cap      int
		wantErr  error
	}{
		{"empty", nil, 2, nil},
		{"below cap", []existing{pending}, 2, nil},
		{"at cap", []existing{pending, pending}, 2, avatar.ErrTooManyPending},
		{"expired do not count", []existing{pending, expired, expired}, 2, nil},
		{"confirmed do not count", []existing{pending, {t0, avatar.UploadConfirmed}}, 2, nil},
		{"rejected do not count", []existing{pending, {t0, avatar.UploadRejected}}, 2, nil},
		{"cap 0 is no limit", []existing{pending, pending, pending}, 0, nil},
		{"negative cap is no limit", []existing{pending, pending, pending}, -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, d *DB) {
				ctx := context.Background()
				mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
				// Another user's pending uploads never count.
				mustUpsert(t, d, avatar.User{ID: "u2", OpenID: "o2"}, t0)
				for i := range 3 {
					mustCreateUpload(t, d, testUpload("u2", fmt.Sprint("other", i)), t0)
				}
				for i, e := range tt.existing {
					u := testUpload("u1", fmt.Sprint("old", i))
					u.ExpiresAt = e.createdAt.Add(uploadTTL)
					mustCreateUpload(t, d, u, e.createdAt)
					setStatus(t, d, "u1", u.ID, e.status)
				}

				u := testUpload("u1", "new")
				u.ExpiresAt = now.Add(uploadTTL)
				err := d.CreateUpload(ctx, u, tt.cap, now)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CreateUpload: got %v; want %v", err, tt.wantErr)
				}
				_, err = d.UploadForUser(ctx, "u1", "new")
				if tt.wantErr != nil && !errors.Is(err, avatar.ErrNotFound) {
					t.Errorf("refused upload: UploadForUser got %v; want avatar.ErrNotFound (not stored)", err)
				}
			})
		})
	}
}

// setStatus moves an upload through the public API into status.
func setStatus(t *testing.T, d *DB, userID, uploadID string, status avatar.UploadStatus) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch status {
	case avatar.UploadPending:
	case avatar.UploadConfirmed:
		_, _, err = d.ConfirmUpload(ctx, userID, uploadID, 1234, avatar.ReviewPlan{}, t0)
	case avatar.UploadRejected:
		_, err = d.RejectUpload(ctx, userID, uploadID, t0)
	}
	if err != nil {
		t.Fatalf("setting %s to %s: %v", uploadID, status, err)
	}
}

func TestCreateUploadConcurrentCap(t *testing.T) {
	const workers, limit = 20, 5
	forEachDB(t, func(t *testing.T, d *DB) {
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for i := range workers {
			wg.Go(func() {
				errs[i] = d.CreateUpload(context.Background(), testUpload("u1", fmt.Sprint("up", i)), limit, t0)
			})
		}
		wg.Wait()
		var ok, refused int
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, avatar.ErrTooManyPending):
				refused++
			default:
				t.Errorf("worker %d: got %v; want nil or avatar.ErrTooManyPending", i, err)
			}
		}
		if ok != limit || refused != workers-limit {
			t.Errorf("got %d created, %d refused; want %d, %d", ok, refused, limit, workers-limit)
		}
	})
}

func TestUploadForUserHidesOtherUsers(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustUpsert(t, d, avatar.User{ID: "u2", OpenID: "o2"}, t0)
		mustCreateUpload(t, d, testUpload("u1", "up1"), t0)

		if _, err := d.UploadForUser(ctx, "u1", "up1"); err != nil {
			t.Errorf("owner: got %v; want nil", err)
		}
		_, foreign := d.UploadForUser(ctx, "u2", "up1")
		_, missing := d.UploadForUser(ctx, "u2", "nope")
		if foreign != avatar.ErrNotFound || missing != avatar.ErrNotFound {
			t.Errorf("foreign: got %v, missing: got %v; want both exactly avatar.ErrNotFound", foreign, missing)
		}
	})
}

func TestConfirmUpload(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustCreateUpload(t, d, testUpload("u1", "up1"), t0)
		confirmAt := t0.Add(time.Minute)

		user, up, err := d.ConfirmUpload(ctx, "u1", "up1", 1234, avatar.ReviewPlan{}, confirmAt)
		if err != nil {
			t.Fatalf("ConfirmUpload: %v", err)
		}
		wantUser := avatar.User{ID: "u1", OpenID: "o1", AvatarURL: testUpload("u1", "up1").URL,
			AvatarThumbURL: testUpload("u1", "up1").ThumbURL, CreatedAt: t0, UpdatedAt: confirmAt}
		wantUp := testUpload("u1", "up1")
		wantUp.Status, wantUp.Size, wantUp.CreatedAt, wantUp.ConfirmedAt = avatar.UploadConfirmed, 1234, t0, confirmAt
		if user != wantUser || up != wantUp {
			t.Fatalf("ConfirmUpload: got %+v, %+v; want %+v, %+v", user, up, wantUser, wantUp)
		}
		if stored, _ := d.UserByID(ctx, "u1"); stored != wantUser {
			t.Errorf("stored user: got %+v; want %+v", stored, wantUser)
		}

		// Again, later and with another size: nothing changes.
		user, up, err = d.ConfirmUpload(ctx, "u1", "up1", 999, avatar.ReviewPlan{}, confirmAt.Add(time.Hour))
		if err != nil || user != wantUser || up != wantUp {
			t.Errorf("second ConfirmUpload: got %+v, %+v, %v; want %+v, %+v, nil", user, up, err, wantUser, wantUp)
		}

		// A newer avatar; confirming the old upload again still changes nothing and reports
		// the user as they are now.
		mustCreateUpload(t, d, testUpload("u1", "up2"), t0)
		newer, _, err := d.ConfirmUpload(ctx, "u1", "up2", 10, avatar.ReviewPlan{}, confirmAt.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		user, up, err = d.ConfirmUpload(ctx, "u1", "up1", 1234, avatar.ReviewPlan{}, confirmAt.Add(3*time.Hour))
		if err != nil || user != newer || up != wantUp {
			t.Errorf("old ConfirmUpload after newer: got %+v, %+v, %v; want %+v, %+v, nil", user, up, err, newer, wantUp)
		}
		if newer.AvatarURL != testUpload("u1", "up2").URL {
			t.Errorf("avatar after newer confirm: got %q; want %q", newer.AvatarURL, testUpload("u1", "up2").URL)
		}
	})
}

func TestConfirmUploadConcurrent(t *testing.T) {
	const workers = 10
	forEachDB(t, func(t *testing.T, d *DB) {
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustCreateUpload(t, d, testUpload("u1", "up1"), t0)

		type result struct {
			user avatar.User
			up   avatar.Upload
			err  error
		}
		results := make([]result, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				// Each call has its own clock so a second recording would show.
				now := t0.Add(time.Duration(i+1) * time.Second)
				u, up, err := d.ConfirmUpload(context.Background(), "u1", "up1", int64(100+i), avatar.ReviewPlan{}, now)
				results[i] = result{u, up, err}
			})
		}
		wg.Wait()

		first := results[0]
		for i, r := range results {
			if r.err != nil {
				t.Fatalf("worker %d: got %v; want nil", i, r.err)
			}
			if r.up != first.up || r.user != first.user {
				t.Errorf("worker %d: got %+v, %+v; want every worker to see %+v, %+v", i, r.user, r.up, first.user, first.up)
			}
		}
		if first.up.Status != avatar.UploadConfirmed || first.up.ConfirmedAt.IsZero() ||
			!first.user.UpdatedAt.Equal(first.up.ConfirmedAt) {
			t.Errorf("recorded: upload %+v user %+v; want confirmed once with user updated_at = confirmed_at", first.up, first.user)
		}
		if want := int64(100) + int64(first.up.ConfirmedAt.Sub(t0)/time.Second) - 1; first.up.Size != want {
			t.Errorf("size %d with confirmed_at %v; want %d: both from the same call", first.up.Size, first.up.ConfirmedAt, want)
		}
	})
}

func TestUploadStateConflicts(t *testing.T) {
	ctx := context.Background()
	confirm := func(d *DB, user, id string) (avatar.Upload, error) {
		_, up, err := d.ConfirmUpload(ctx, user, id, 1234, avatar.ReviewPlan{}, t0.Add(time.Minute))
		return up, err
	}
	reject := func(d *DB, user, id string) (avatar.Upload, error) {
		return d.RejectUpload(ctx, user, id, t0.Add(time.Minute))
	}
	type op func(d *DB, user, id string) (avatar.Upload, error)
	tests := []struct {
		name       string
		first      op
		then       op
		user, id   string
		wantErr    error
		wantStatus avatar.UploadStatus // status after both, when then succeeds
	}{
		{"confirm after reject", reject, confirm, "u1", "up1", avatar.ErrConflict, ""},
		{"reject after confirm", confirm, reject, "u1", "up1", avatar.ErrConflict, ""},
		{"reject twice", reject, reject, "u1", "up1", nil, avatar.UploadRejected},
		{"confirm foreign", nil, confirm, "u2", "up1", avatar.ErrNotFound, ""},
		{"reject foreign", nil, reject, "u2", "up1", avatar.ErrNotFound, ""},
		{"confirm missing", nil, confirm, "u1", "nope", avatar.ErrNotFound, ""},
		{"reject missing", nil, reject, "u1", "nope", avatar.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, d *DB) {
				mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
				mustUpsert(t, d, avatar.User{ID: "u2", OpenID: "o2"}, t0)
				mustCreateUpload(t, d, testUpload("u1", "up1"), t0)
				var before avatar.Upload
				if tt.first != nil {
					var err error
					if before, err = tt.first(d, "u1", "up1"); err != nil {
						t.Fatalf("first: %v", err)
					}
				} else {
					before, _ = d.UploadForUser(ctx, "u1", "up1")
				}
				userBefore, _ := d.UserByID(ctx, "u1")

				got, err := tt.then(d, tt.user, tt.id)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v; want %v", err, tt.wantErr)
				}
				if err == nil && (got != before || got.Status != tt.wantStatus) {
					t.Errorf("got %+v; want unchanged %+v with status %s", got, before, tt.wantStatus)
				}
				after, _ := d.UploadForUser(ctx, "u1", "up1")
				userAfter, _ := d.UserByID(ctx, "u1")
				if after != before || userAfter != userBefore {
					t.Errorf("stored: got %+v, %+v; want unchanged %+v, %+v", after, userAfter, before, userBefore)
				}
			})
		})
	}
}

func TestRejectUpload(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustCreateUpload(t, d, testUpload("u1", "up1"), t0)
		got, err := d.RejectUpload(ctx, "u1", "up1", t0.Add(time.Minute))
		want := testUpload("u1", "up1")
		want.Status, want.CreatedAt = avatar.UploadRejected, t0
		if err != nil || got != want {
			t.Errorf("RejectUpload: got %+v, %v; want %+v, nil", got, err, want)
		}
		if user, _ := d.UserByID(ctx, "u1"); user.AvatarURL != "" || !user.UpdatedAt.Equal(t0) {
			t.Errorf("user after reject: got %+v; want untouched", user)
		}
	})
}

// TestClaimWrite: confirms that checked the same version may all copy it; one
// that checked another may not while the claim is fresh; nothing is claimed
// once the upload is settled.
func TestClaimWrite(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustCreateUpload(t, d, testUpload("u1", "up1"), t0)
		stale := t0.Add(-time.Minute)
		claim := func(etag string, now, staleBefore time.Time) (avatar.UploadStatus, error) {
			up, err := d.ClaimWrite(ctx, "u1", "up1", etag, now, staleBefore)
			return up.Status, err
		}
		if _, err := claim("v1", t0, stale); err != nil {
			t.Fatalf("first claim: %v", err)
		}
		if _, err := claim("v1", t0.Add(time.Second), stale); err != nil {
			t.Errorf("same version again: %v; want nil", err)
		}
		if st, err := claim("v2", t0.Add(2*time.Second), stale); err != avatar.ErrConflict || st != avatar.UploadPending {
			t.Errorf("another version while v1's claim is fresh: %v, %s; want avatar.ErrConflict, pending", err, st)
		}
		if _, err := claim("v2", t0.Add(2*time.Minute), t0.Add(time.Minute)); err != nil {
			t.Errorf("another version once v1's claim is stale: %v; want nil", err)
		}
		if _, err := d.ClaimWrite(ctx, "u2", "up1", "v2", t0, stale); err != avatar.ErrNotFound {
			t.Errorf("another user's upload: %v; want avatar.ErrNotFound", err)
		}
		if _, _, err := d.ConfirmUpload(ctx, "u1", "up1", 10, avatar.ReviewPlan{}, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if st, err := claim("v2", t0.Add(3*time.Minute), t0.Add(3*time.Minute)); err != avatar.ErrConflict || st != avatar.UploadConfirmed {
			t.Errorf("after confirm: %v, %s; want avatar.ErrConflict, confirmed", err, st)
		}
	})
}
