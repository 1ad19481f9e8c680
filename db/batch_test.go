package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestBatchedCreatesFailAlone: creates committed together (SQLite's group
// commit) succeed or fail each on its own.
func TestBatchedCreatesFailAlone(t *testing.T) {
	d := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "batch.db"))
	if d.creates == nil {
		t.Fatal("a SQLite file database does not batch creates")
	}
	mustUpsert(t, d, User{ID: "u1", OpenID: "o1"}, t0)
	taken := testUpload("u1", "taken")
	mustCreateUpload(t, d, taken, t0)
	var wg sync.WaitGroup
	errs := make([]error, 60)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "u1"
			if i%3 == 0 {
				user = "nobody"
			}
			u := testUpload(user, fmt.Sprintf("up%02d", i))
			if i%3 == 1 && i > 30 {
				u.Key = taken.Key
			}
			errs[i] = d.CreateUpload(context.Background(), u, 0, t0)
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case i%3 == 0:
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("create %d for an unknown user: %v; want ErrNotFound", i, err)
			}
		case i%3 == 1 && i > 30:
			if !errors.Is(err, ErrConflict) {
				t.Errorf("create %d with a taken key: %v; want ErrConflict", i, err)
			}
		default:
			if err != nil {
				t.Errorf("create %d: %v", i, err)
			}
			ok++
		}
	}
	for i := range errs {
		_, err := d.UploadForUser(context.Background(), "u1", fmt.Sprintf("up%02d", i))
		if stored := err == nil; stored != (i%3 != 0 && !(i%3 == 1 && i > 30)) {
			t.Errorf("upload %d stored = %v", i, stored)
		}
	}
	t.Logf("%d creates committed alongside failing ones", ok)
}

// TestCheckpointsOffTheWriter: commits leave checkpointing to the background
// goroutine, and Close leaves an empty WAL behind.
func TestCheckpointsOffTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ckpt.db")
	d, err := Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var auto int
	if err := d.write.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Errorf("wal_autocheckpoint on the writer = %d, %v; want 0", auto, err)
	}
	mustUpsert(t, d, User{ID: "u1", OpenID: "o1"}, t0)
	for i := 0; i < 50; i++ {
		mustCreateUpload(t, d, testUpload("u1", fmt.Sprintf("c%02d", i)), t0)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("WAL left at %d bytes after Close; want it checkpointed and truncated", fi.Size())
	}
}
