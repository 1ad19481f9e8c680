package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Group commit on a SQLite file. Issuing an upload signature and confirming
// an upload are the hot paths, and on SQLite every commit writes its pages to
// the WAL: a writer goroutine takes the writes that arrive together and
// commits them as one transaction. One that writes more than once runs inside
// a savepoint, so that if it fails it is undone alone and the others still
// commit; one whose only write is its last statement needs none (SQLite's
// ABORT undoes a failing statement, not the transaction). Statements run without
// the callers' cancellation, because an interrupted write rolls back the
// whole transaction; a caller gone before its turn is skipped. A caller
// returns only once its writes are committed, exactly as with a transaction
// of its own.

// maxBatch bounds one transaction, and so the wait of its last member.
const maxBatch = 64

// batchLinger is how long the writer waits for more writes before it commits
// while writes are arriving together (the last batch had more than one).
// Every commit writes the pages it dirtied to the WAL, and some of them (the
// table's last page, the time-ordered indexes' last pages) are the same for
// every row of a batch: without the wait, the closed-loop benchmark's
// signatures committed about two at a time, and a commit cost about a quarter
// of a signature's CPU time. A lone write never waits.
const batchLinger = 500 * time.Microsecond

type writeJob struct {
	ctx       context.Context
	savepoint bool
	run       func(ctx context.Context, tx *txn) error
	done      chan error
}

type batcher struct {
	jobs chan *writeJob // unbuffered: a job is sent only to a running writer
	quit chan struct{}
	stop sync.Once
	wg   sync.WaitGroup
}

func (d *DB) startBatcher() {
	d.batch = &batcher{jobs: make(chan *writeJob), quit: make(chan struct{})}
	d.batch.wg.Add(1)
	go d.runBatches()
}

func (d *DB) stopBatcher() {
	if d.batch != nil {
		d.batch.stop.Do(func() { close(d.batch.quit) })
		d.batch.wg.Wait()
	}
}

var errClosed = errors.New("db: closed")

// inTx runs fn in a write transaction and commits it: grouped with others on
// a SQLite file, in one of its own elsewhere. fn's effects count only when
// inTx returns nil. savepoint must be true unless fn's only write is its last
// statement.
func (d *DB) inTx(ctx context.Context, savepoint bool, fn func(ctx context.Context, tx *txn) error) error {
	if d.batch == nil {
		tx, err := d.begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return tx.Commit()
	}
	job := &writeJob{ctx: ctx, savepoint: savepoint, run: fn, done: make(chan error, 1)}
	select {
	case d.batch.jobs <- job:
	case <-d.batch.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-job.done
}

func (d *DB) runBatches() {
	defer d.batch.wg.Done()
	linger := time.NewTimer(batchLinger)
	linger.Stop()
	last := 0 // the size of the last batch
	for {
		var first *writeJob
		select {
		case first = <-d.batch.jobs:
		case <-d.batch.quit:
			return
		}
		batch := append(make([]*writeJob, 0, maxBatch), first)
	gather:
		for len(batch) < maxBatch {
			select {
			case j := <-d.batch.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		if last > 1 || len(batch) > 1 {
			linger.Reset(batchLinger)
		wait:
			for len(batch) < maxBatch {
				select {
				case j := <-d.batch.jobs:
					batch = append(batch, j)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		last = len(batch)
		d.commitBatch(batch)
	}
}

func (d *DB) commitBatch(batch []*writeJob) {
	results := make([]error, len(batch))
	finish := func(commitErr error) {
		for i, j := range batch {
			if results[i] == nil {
				results[i] = commitErr
			}
			j.done <- results[i]
		}
	}
	ctx := context.Background()
	tx, err := d.begin(ctx)
	if err != nil {
		finish(err)
		return
	}
	defer tx.Rollback()
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if !j.savepoint {
			results[i] = j.run(ctx, tx)
			if err := results[i]; err != nil && !refusal(err) {
				// Some errors (a full disk, an I/O error) make SQLite roll
				// back the whole transaction: the jobs after this one would
				// run outside it and persist while their callers hear of a
				// failure. Nothing of the batch is committed instead, and
				// every job not refused on its own hears of it.
				finish(err)
				return
			}
			continue
		}
		if _, err := tx.exec(ctx, `SAVEPOINT job`); err != nil {
			finish(err)
			return
		}
		results[i] = j.run(ctx, tx)
		if results[i] != nil {
			if _, err := tx.exec(ctx, `ROLLBACK TO job`); err != nil {
				finish(err)
				return
			}
		}
		if _, err := tx.exec(ctx, `RELEASE job`); err != nil {
			finish(err)
			return
		}
	}
	finish(tx.Commit())
}

// refusal reports whether err, from a job without a savepoint, is one that
// leaves the transaction as it was: the package's own refusals, no row, or a
// constraint (SQLite undoes only the statement that broke it).
func refusal(err error) bool {
	if errors.Is(err, avatar.ErrNotFound) || errors.Is(err, avatar.ErrConflict) || errors.Is(err, avatar.ErrTooManyPending) ||
		errors.Is(err, sql.ErrNoRows) {
		return true
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// checkpointInterval is how often the WAL is copied back into the database
// file. SQLite would do it inside whichever commit crosses 1000 pages, with
// an fsync on the writer's path; a PASSIVE checkpoint here runs beside the
// writer and never blocks it. Only a long WAL pauses the writes, briefly,
// to start it over (checkpoint).
const checkpointInterval = time.Second

// testHookAfterPassive runs between checkpoint's two steps.
var testHookAfterPassive = func() {}

// walRestartFrames is the WAL length, in pages, beyond which a checkpoint
// also makes the next write start the WAL over (16 MiB of 4 KiB pages).
const walRestartFrames = 4096

func (d *DB) startCheckpointer() {
	c := &d.checkpoints
	c.quit = make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(checkpointInterval)
		defer t.Stop()
		for {
			select {
			case <-c.quit:
				// No last checkpoint here: SQLite makes one, and deletes
				// the WAL, when Close closes the last connection.
				return
			case <-t.C:
				d.checkpoint(walRestartFrames)
			}
		}
	}()
}

// checkpoint copies the WAL into the database file and, once the WAL is
// restartFrames long, makes the next write start it over; it returns the
// WAL's length in pages as the copy found it (-1: the round was skipped).
//
// SQLite starts the WAL over only at a write that finds every page of it
// copied and no reader still using it. Under steady writes a PASSIVE
// checkpoint never leaves it so, since pages arrive while it copies: the
// WAL grew by about 45 MB a second in the benchmark, without end, and every
// read that misses it searches an index that grows with it. So when it is
// long, the writes pause for a RESTART checkpoint (restartWAL).
func (d *DB) checkpoint(restartFrames int) int {
	var busy, frames, copied int
	// Errors (busy) only mean this round is skipped.
	if err := d.write.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		return -1
	}
	testHookAfterPassive()
	if frames >= restartFrames {
		d.restartWAL()
	}
	return frames
}

// restartWait bounds how long restartWAL waits for readers, with every write
// paused.
const restartWait = 100 * time.Millisecond

// restartWAL runs a RESTART checkpoint with the writes paused: it copies the
// pages written since the last checkpoint and waits for the readers of older
// snapshots, whose reads are short, to end. It waits at most restartWait, so
// that a reader that never ends (a row set left open, say) costs a skipped
// round rather than every write stalling for the busy timeout.
func (d *DB) restartWAL() {
	ctx := context.Background()
	unlock := d.lockWrites()
	defer unlock()
	conn, err := d.write.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	busy := func(t time.Duration) error {
		_, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.FormatInt(t.Milliseconds(), 10))
		return err
	}
	if busy(restartWait) != nil {
		return
	}
	conn.ExecContext(ctx, `PRAGMA wal_checkpoint(RESTART)`) // busy: the WAL just goes on
	if busy(d.busyTimeout) != nil {
		// Not back to the writers' timeout: the pool must not reuse it.
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

func (d *DB) stopCheckpointer() {
	c := &d.checkpoints
	if c.quit == nil {
		return
	}
	c.once.Do(func() { close(c.quit) })
	c.wg.Wait()
}
