package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// TestBatchedCreatesFailAlone: creates committed together (SQLite's group
// commit) succeed or fail each on its own.
func TestBatchedCreatesFailAlone(t *testing.T) {
	d := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "batch.db"))
	if d.batch == nil {
		t.Fatal("a SQLite file database does not batch creates")
	}
	mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
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
				u = testUpload(user, taken.ID)
			}
			errs[i] = d.CreateUpload(context.Background(), u, 0, t0)
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case i%3 == 0:
			if !errors.Is(err, avatar.ErrNotFound) {
				t.Errorf("create %d for an unknown user: %v; want avatar.ErrNotFound", i, err)
			}
		case i%3 == 1 && i > 30:
			if !errors.Is(err, avatar.ErrConflict) {
				t.Errorf("create %d with a taken id: %v; want avatar.ErrConflict", i, err)
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

	// The same in one batch built by hand, so that grouping is not left to
	// timing: each create fails or succeeds on its own.
	ctx := context.Background()
	creates := []avatar.Upload{testUpload("u1", "b1"), testUpload("nobody", "b2"), testUpload("u1", taken.ID), testUpload("u1", "b3")}
	wants := []error{nil, avatar.ErrNotFound, avatar.ErrConflict, nil}
	batch := make([]*writeJob, len(creates))
	finishes := make([]func(error) error, len(creates))
	for i, u := range creates {
		var w write
		w, finishes[i] = d.createWrite(u, 0, t0)
		batch[i] = &writeJob{ctx: ctx, w: w, done: make(chan error, 1)}
	}
	d.commitBatch(batch)
	for i, j := range batch {
		if err := translate(finishes[i](<-j.done)); !errors.Is(err, wants[i]) {
			t.Errorf("batched create %d: %v; want %v", i, err, wants[i])
		}
	}
	for _, id := range []string{"b1", "b3"} {
		if _, err := d.UploadForUser(ctx, "u1", id); err != nil {
			t.Errorf("batched upload %s beside failing ones: %v; want it stored", id, err)
		}
	}
}

// TestBatchedWritesUndoneAlone: a write that fails after changing rows is
// undone, its rows included, while those committed beside it stay.
func TestBatchedWritesUndoneAlone(t *testing.T) {
	d := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "batch.db"))
	const n = 80
	for i := range n {
		mustUpsert(t, d, avatar.User{ID: fmt.Sprintf("u%02d", i), OpenID: fmt.Sprintf("o%02d", i)}, t0)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("u%02d", i)
			err := d.do(context.Background(), unit(func(ctx context.Context, tx *txn) error {
				if _, err := tx.exec(ctx, `UPDATE users SET nickname = 'changed' WHERE id = ?`, id); err != nil {
					return err
				}
				if i%2 == 0 {
					return errors.New("refused after a write")
				}
				return nil
			}))
			if (err != nil) != (i%2 == 0) {
				t.Errorf("write %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i := range n {
		u, err := d.UserByID(context.Background(), fmt.Sprintf("u%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		if changed := u.Nickname == "changed"; changed != (i%2 == 1) {
			t.Errorf("user %d: nickname %q after a write that %s", i, u.Nickname, map[bool]string{true: "failed", false: "succeeded"}[i%2 == 0])
		}
	}

	// The same in one batch built by hand, so that grouping is not left to
	// timing.
	batch := make([]*writeJob, 6)
	for i := range batch {
		id := fmt.Sprintf("u%02d", i)
		batch[i] = &writeJob{ctx: context.Background(), done: make(chan error, 1), w: unit(func(ctx context.Context, tx *txn) error {
			if _, err := tx.exec(ctx, `UPDATE users SET nickname = 'batched' WHERE id = ?`, id); err != nil {
				return err
			}
			if i%2 == 0 {
				return errors.New("refused after a write")
			}
			return nil
		})}
	}
	d.commitBatch(batch)
	for i, j := range batch {
		if err := <-j.done; (err != nil) != (i%2 == 0) {
			t.Errorf("batched write %d: %v", i, err)
		}
		u, err := d.UserByID(context.Background(), fmt.Sprintf("u%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		if batched := u.Nickname == "batched"; batched != (i%2 == 1) {
			t.Errorf("user %d in one batch: nickname %q", i, u.Nickname)
		}
	}
}

// TestCheckpointsOffTheWriter: commits leave checkpointing to the background
// goroutine, and Close leaves no WAL behind (SQLite checkpoints at the last
// connection's close).
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
	mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
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

// TestCheckpointStartsWALOver: under steady load the WAL does not grow
// without end. SQLite starts the WAL over only at a write that finds all of
// it copied, and a PASSIVE checkpoint cannot copy the pages newer than a
// reader's snapshot, nor those written while it works: under load one of the
// two always holds. Once the WAL is long, checkpoint makes the next write
// start it over anyway.
func TestCheckpointStartsWALOver(t *testing.T) {
	d := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "wal.db"))
	mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
	n := 0
	write := func(k int) {
		t.Helper()
		for range k {
			n++
			mustCreateUpload(t, d, testUpload("u1", fmt.Sprintf("up%04d", n)), t0)
		}
	}
	walLength := func() int {
		t.Helper()
		var busy, frames, copied int
		if err := d.write.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			t.Fatal(err)
		}
		return frames
	}
	// checkpointPastReader checkpoints while a reader holds an older
	// snapshot, which ends between the PASSIVE step and the next.
	checkpointPastReader := func(restart int) int {
		t.Helper()
		rd, err := d.sql.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := rd.QueryRow(`SELECT COUNT(*) FROM uploads`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		write(10)
		return d.checkpoint(restart, func() { rd.Rollback() })
	}

	// Below the bound the WAL goes on growing.
	write(20)
	before := checkpointPastReader(1 << 20)
	write(1)
	if after := walLength(); after <= before {
		t.Fatalf("WAL at %d pages after a write that followed a checkpoint of %d pages; want it longer (not started over)", after, before)
	}
	// At the bound the next write starts it over.
	long := checkpointPastReader(16)
	if long < 16 {
		t.Fatalf("WAL at %d pages; the test needs at least 16", long)
	}
	write(1)
	if after := walLength(); after >= long {
		t.Fatalf("WAL at %d pages after the checkpoint of a %d-page WAL and one write; want it started over", after, long)
	}
	var rows int
	if err := d.sql.QueryRow(`SELECT COUNT(*) FROM uploads`).Scan(&rows); err != nil || rows != n {
		t.Fatalf("%d uploads stored (%v); want the %d written", rows, err, n)
	}
}

// TestBatchAbortsOnTransactionError: a stmt (no savepoint) that fails
// with anything but a refusal may have cost the whole transaction (SQLite
// rolls it back on a full disk or an I/O error). Then nothing of the batch
// is committed and every job hears of the failure, rather than the jobs
// after it persisting outside the transaction while reported as failed.
func TestBatchAbortsOnTransactionError(t *testing.T) {
	d := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "batch.db"))
	mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
	ioErr := errors.New("disk I/O error")
	finishes := map[*writeJob]func(error) error{}
	create := func(id string) *writeJob {
		w, finish := d.createWrite(testUpload("u1", id), 0, t0)
		j := &writeJob{ctx: context.Background(), done: make(chan error, 1), w: w}
		finishes[j] = finish
		return j
	}
	// A statement that fails as SQLite does when it has rolled the
	// transaction back.
	failing := &writeJob{ctx: context.Background(), done: make(chan error, 1), w: stmt{query: `SELECT 1`,
		scan: func(r rowScanner) error {
			if err := r.Scan(new(int)); err != nil {
				return err
			}
			return ioErr
		}}}
	refused := create("taken")
	mustCreateUpload(t, d, testUpload("u1", "taken"), t0)
	batch := []*writeJob{create("before"), refused, failing, create("after")}
	d.commitBatch(batch)
	for i, j := range batch {
		err := <-j.done
		switch {
		case j == refused:
			if !errors.Is(translate(finishes[j](err)), avatar.ErrConflict) {
				t.Errorf("job %d (a taken id): %v; want its own conflict", i, err)
			}
		case !errors.Is(err, ioErr):
			t.Errorf("job %d: %v; want the batch's failure", i, err)
		}
	}
	for _, id := range []string{"before", "after"} {
		if _, err := d.UploadForUser(context.Background(), "u1", id); !errors.Is(err, avatar.ErrNotFound) {
			t.Errorf("upload %q after the batch failed: %v; want it not stored", id, err)
		}
	}
	// Refusals alone do not abort: the others commit.
	batch = []*writeJob{create("one"), create("taken"), create("two")}
	d.commitBatch(batch)
	for i, j := range batch {
		if err := <-j.done; (err != nil) != (i == 1) {
			t.Errorf("job %d of a batch with one refusal: %v", i, err)
		}
	}
	for _, id := range []string{"one", "two"} {
		if _, err := d.UploadForUser(context.Background(), "u1", id); err != nil {
			t.Errorf("upload %q beside a refused job: %v; want it stored", id, err)
		}
	}
}

// TestCheckpointRestartWaitIsBounded: a reader that never ends delays the
// WAL's restart, and the writes paused for it, by restartWait at most, not
// by the busy timeout; the writers' busy timeout is back afterwards.
func TestCheckpointRestartWaitIsBounded(t *testing.T) {
	d := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "stuck.db"))
	mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
	rd, err := d.sql.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Rollback()
	var rows int
	if err := rd.QueryRow(`SELECT COUNT(*) FROM uploads`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		mustCreateUpload(t, d, testUpload("u1", fmt.Sprintf("up%02d", i)), t0)
	}
	start := time.Now()
	if n := d.checkpoint(16, nil); n < 16 {
		t.Fatalf("WAL at %d pages; the test needs at least 16", n)
	}
	if took := time.Since(start); took > restartWait+time.Second || took < restartWait/2 {
		t.Errorf("checkpoint past a stuck reader took %v; want about restartWait (%v), far below the busy timeout (%v)", took, restartWait, d.busyTimeout)
	}
	// Both write connections, held at once: the pool would hand the one
	// restartWAL used back every time.
	var held []*sql.Conn
	for i := range 2 {
		conn, err := d.write.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
		var ms int64
		if err := conn.QueryRowContext(context.Background(), `PRAGMA busy_timeout`).Scan(&ms); err != nil || ms != d.busyTimeout.Milliseconds() {
			t.Errorf("busy_timeout on write connection %d = %d ms, %v; want %d", i, ms, err, d.busyTimeout.Milliseconds())
		}
	}
	for _, conn := range held {
		conn.Close()
	}
	mustCreateUpload(t, d, testUpload("u1", "after"), t0)
}

// TestBatchSkipsCancelled: a write whose caller has gone before its turn is
// not run; the others in its batch commit.
func TestBatchSkipsCancelled(t *testing.T) {
	d := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "batch.db"))
	mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	var batch []*writeJob
	for i, ctx := range []context.Context{context.Background(), gone, context.Background()} {
		w, _ := d.createWrite(testUpload("u1", fmt.Sprintf("c%d", i)), 0, t0)
		batch = append(batch, &writeJob{ctx: ctx, w: w, done: make(chan error, 1)})
	}
	d.commitBatch(batch)
	for i, j := range batch {
		err := <-j.done
		if i == 1 && !errors.Is(err, context.Canceled) || i != 1 && err != nil {
			t.Errorf("job %d: %v", i, err)
		}
		_, err = d.UploadForUser(context.Background(), "u1", fmt.Sprintf("c%d", i))
		if stored := err == nil; stored != (i != 1) {
			t.Errorf("upload %d stored = %v (%v)", i, stored, err)
		}
	}
}

// TestWriteAfterClose: a write after Close is refused as unavailable, not
// left waiting for a writer that has stopped.
func TestWriteAfterClose(t *testing.T) {
	d, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.CreateUpload(ctx, testUpload("u1", "late"), 0, t0); !errors.Is(err, avatar.ErrRecordsUnavailable) {
		t.Errorf("CreateUpload after Close: %v; want avatar.ErrRecordsUnavailable", err)
	}
	if _, err := d.SetNickname(ctx, "u1", "n", "", t0); !errors.Is(err, avatar.ErrRecordsUnavailable) {
		t.Errorf("SetNickname after Close: %v; want avatar.ErrRecordsUnavailable", err)
	}
}
