package avatar_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/db"
)

// countingDeleter records deletes; fail makes the next deletes fail.
type countingDeleter struct {
	mu      sync.Mutex
	deleted map[string]int
	fail    bool
}

func (c *countingDeleter) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errors.New("storage down")
	}
	if c.deleted == nil {
		c.deleted = map[string]int{}
	}
	c.deleted[key]++
	return nil
}

func openSweepDB(t *testing.T, url string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestSweeper(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "sweep.db")
	store := openSweepDB(t, url)
	t0 := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	if _, err := store.UpsertUser(ctx, avatar.User{ID: "u1", OpenID: "o1"}, t0); err != nil {
		t.Fatal(err)
	}
	mk := func(id string) avatar.Upload {
		u := avatar.Upload{ID: id, UserID: "u1", Key: "avatars/u1/" + id + ".png", AvatarKey: "avatars/u1/" + id + "/avatar.png",
			ContentType: "image/png", URL: "https://cdn/avatars/u1/" + id + "/avatar.png", MaxBytes: 100, ExpiresAt: t0.Add(10 * time.Minute)}
		if err := store.CreateUpload(ctx, u, 0, t0); err != nil {
			t.Fatal(err)
		}
		return u
	}
	old, current, abandoned := mk("old"), mk("current"), mk("abandoned")
	for _, id := range []string{old.ID, current.ID} {
		if _, _, err := store.ConfirmUpload(ctx, "u1", id, 10, avatar.ReviewPlan{}, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	clock := t0.Add(5 * time.Minute)
	deleter := &countingDeleter{}
	var logs bytes.Buffer
	s := &avatar.Sweeper{Records: store, Objects: deleter, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now: func() time.Time { return clock }, Interval: time.Minute, Grace: 24 * time.Hour, Retention: 30 * 24 * time.Hour}

	sweep := func(want ...string) {
		t.Helper()
		before := map[string]int{}
		for k, v := range deleter.deleted {
			before[k] = v
		}
		n, err := s.SweepOnce(ctx)
		if err != nil {
			t.Fatalf("SweepOnce: %v", err)
		}
		if n != len(want) {
			t.Errorf("deleted %d objects; want %d (%v)", n, len(want), want)
		}
		for _, key := range want {
			if deleter.deleted[key] != before[key]+1 {
				t.Errorf("%s not deleted", key)
			}
		}
	}
	sweep() // nothing is due yet
	clock = t0.Add(30 * time.Minute)
	// Signatures expired: the abandoned upload (and any copy a losing
	// confirm made), and the upload keys of the confirmed ones, whose
	// avatars are copies.
	sweep(abandoned.Key, abandoned.AvatarKey, old.Key, current.Key)
	clock = t0.Add(25 * time.Hour)
	sweep(old.AvatarKey) // replaced more than Grace ago
	clock = t0.Add(100 * 24 * time.Hour)
	sweep() // the avatar in use is never deleted
	if deleter.deleted[current.AvatarKey] != 0 {
		t.Errorf("the avatar in use was deleted")
	}
	if u, _ := store.UserByID(ctx, "u1"); u.AvatarURL != current.URL {
		t.Errorf("avatar_url = %s; want %s", u.AvatarURL, current.URL)
	}
	// Past the retention, the records whose objects are all gone went too;
	// the avatar in use keeps its record.
	for id, want := range map[string]error{abandoned.ID: avatar.ErrNotFound, old.ID: avatar.ErrNotFound, current.ID: nil} {
		if _, err := store.UploadForUser(ctx, "u1", id); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("the record of %s after the retention: %v; want %v", id, err, want)
		}
	}

	// A failed delete is retried once the lease runs out.
	late := mk("late")
	deleter.fail = true
	if _, err := s.SweepOnce(ctx); err == nil {
		t.Errorf("SweepOnce with storage down: nil error")
	}
	deleter.fail = false
	sweep() // still leased
	clock = clock.Add(avatar.SweepLease + time.Second)
	sweep(late.Key, late.AvatarKey)
}

// TestSweepersOnOneDatabase: several instances sweeping at once delete each
// object exactly once.
func TestSweepersOnOneDatabase(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	setup := openSweepDB(t, url)
	t0 := time.Now().Add(-time.Hour)
	if _, err := setup.UpsertUser(ctx, avatar.User{ID: "u1", OpenID: "o1"}, t0); err != nil {
		t.Fatal(err)
	}
	const n = 250 // more than two batches
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("up%04d", i)
		if err := setup.CreateUpload(ctx, avatar.Upload{ID: id, UserID: "u1", Key: "k/" + id + ".png", AvatarKey: "a/" + id + "/avatar.png",
			ContentType: "image/png", URL: "https://cdn/a/" + id, MaxBytes: 1, ExpiresAt: t0}, 0, t0); err != nil {
			t.Fatal(err)
		}
	}
	deleter := &countingDeleter{}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		s := &avatar.Sweeper{Records: openSweepDB(t, url), Objects: deleter, Logger: slog.New(slog.DiscardHandler),
			Now: time.Now, Grace: time.Hour}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.SweepOnce(ctx); err != nil {
				t.Errorf("SweepOnce: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(deleter.deleted) != 2*n {
		t.Errorf("%d objects deleted; want %d (an upload key and a possible copy per upload)", len(deleter.deleted), 2*n)
	}
	for key, count := range deleter.deleted {
		if count != 1 {
			t.Errorf("%s deleted %d times", key, count)
		}
	}
}
