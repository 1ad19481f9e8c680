package db

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// TestEraseUser: the user's rows go in one transaction, every object they
// name is queued (an upload key still writable not before its signature's
// expiry plus grace), and the queue hands each key to one claimer at a time.
func TestEraseUser(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustUpsert(t, d, avatar.User{ID: "u2", OpenID: "o2"}, t0)
		mustCreateUpload(t, d, testUpload("u1", "done"), t0)
		if _, _, err := d.ConfirmUpload(ctx, "u1", "done", 10, avatar.ReviewPlan{}, t0); err != nil {
			t.Fatal(err)
		}
		pending := testUpload("u1", "open")
		pending.ExpiresAt = t0.Add(2 * time.Hour)
		mustCreateUpload(t, d, pending, t0)
		mustCreateUpload(t, d, testUpload("u2", "other"), t0)

		now := t0.Add(time.Hour)
		queued, err := d.EraseUser(ctx, "u1", 15*time.Minute, now)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]time.Time{}
		for _, q := range queued {
			got[q.Key] = q.NotBefore
		}
		want := map[string]time.Time{
			"avatars/u1/done.png": now, "avatars/u1/done/avatar.png": now, "avatars/u1/done/thumb": now,
			"avatars/u1/open.png":        pending.ExpiresAt.Add(15 * time.Minute),
			"avatars/u1/open/avatar.png": now, "avatars/u1/open/thumb": now,
		}
		if len(got) != len(want) {
			t.Errorf("queued %v; want %v", got, want)
		}
		for k, v := range want {
			if !got[k].Equal(v) {
				t.Errorf("%s queued for %v; want %v", k, got[k], v)
			}
		}
		if _, err := d.UserByID(ctx, "u1"); !errors.Is(err, avatar.ErrNotFound) {
			t.Errorf("the erased user: %v; want ErrNotFound", err)
		}
		var n int
		if err := d.queryRow(ctx, `SELECT COUNT(*) FROM uploads WHERE user_id = 'u1'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d uploads of the erased user left, %v", n, err)
		}
		if _, err := d.UploadForUser(ctx, "u2", "other"); err != nil {
			t.Errorf("another user's upload: %v", err)
		}
		if _, err := d.EraseUser(ctx, "u1", 15*time.Minute, now); !errors.Is(err, avatar.ErrNotFound) {
			t.Errorf("erasing again: %v; want ErrNotFound", err)
		}

		claimed, err := d.ClaimObjectDeletions(ctx, now, time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(claimed)
		if len(claimed) != 5 {
			t.Errorf("claimed %v; want the five keys due now", claimed)
		}
		if again, _ := d.ClaimObjectDeletions(ctx, now, time.Minute, 100); len(again) != 0 {
			t.Errorf("claimed again within the lease: %v", again)
		}
		for _, k := range claimed {
			if err := d.FinishObjectDeletion(ctx, k, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		later := pending.ExpiresAt.Add(16 * time.Minute)
		if last, _ := d.ClaimObjectDeletions(ctx, later, time.Minute, 100); len(last) != 1 || last[0] != "avatars/u1/open.png" {
			t.Errorf("after the signature expired: %v; want the upload key", last)
		}
	})
}
