package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The SQLite backend: opening a file (or the memory database), the statement
// cache, the one write path's group commit and the WAL checkpointer.

// openSQLiteURL opens the SQLite database rest names (a "sqlite:" url
// without its scheme).
func openSQLiteURL(ctx context.Context, rest string, busyTimeout time.Duration) (*DB, error) {
	// One option, busy_timeout: how long a writer waits for another before
	// answering avatar.ErrRecordsUnavailable (e.g. sqlite:./data/wxavatar.db?busy_timeout=2s).
	rest, rawQuery, _ := strings.Cut(rest, "?")
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, fmt.Errorf("db: sqlite url options: %w", err)
		}
		for name := range q {
			if name != "busy_timeout" {
				return nil, fmt.Errorf("db: unknown sqlite url option %q (known: busy_timeout)", name)
			}
		}
		d, err := time.ParseDuration(q.Get("busy_timeout"))
		if err != nil || d < 0 || d > time.Minute {
			return nil, fmt.Errorf("db: sqlite busy_timeout %q: want a duration up to 1m", q.Get("busy_timeout"))
		}
		busyTimeout = d
	}
	reads, writes, err := openSQLite(rest, busyTimeout)
	if err != nil {
		return nil, err
	}
	d := &DB{sql: reads, write: writes, dialect: dialectSQLite, busyTimeout: busyTimeout}
	if reads != writes {
		d.writers = &sync.Mutex{}
		d.startBatcher()
		d.startCheckpointer()
	}
	if d.applied, err = d.migrate(ctx); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// openSQLite opens path (or ":memory:") with the settings every connection needs. modernc
// runs the _pragma list on each new connection of the pool, which is why they go in the DSN
// and not in a one-off Exec.
func openSQLite(path string, busyTimeout time.Duration) (reads, writes *sql.DB, err error) {
	if path == "" {
		return nil, nil, errors.New("db: sqlite url has no path (want sqlite:<path> or sqlite::memory:)")
	}
	memory := path == ":memory:"
	if !memory {
		// The driver splits the DSN at the first '?', and a "file:" prefix would make SQLite
		// read the path as a URI: refuse both rather than open some other file.
		if strings.Contains(path, "?") || strings.HasPrefix(path, "file:") {
			return nil, nil, fmt.Errorf("db: sqlite path %q must not contain '?' or start with \"file:\"", path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, nil, fmt.Errorf("db: create database directory: %w", err)
		}
	}
	dsn := func(readOnly bool) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "journal_mode(WAL)") // ignored by SQLite for :memory:
		q.Add("_pragma", "synchronous(NORMAL)")
		// 256 KiB of page cache per connection (SQLite's default is 2 MiB),
		// allocated outside the Go heap. That holds the b-trees' upper
		// levels; a leaf missing from it is a read from the OS's cache of
		// the file. It costs more than it says: the allocator puts each
		// 4 KiB page with its header in an 8 KiB slot, so every connection's
		// cache is twice its size in the process's memory, and a larger one
		// bought no measurable CPU (figures in bench/README.md).
		q.Add("_pragma", "cache_size(-256)")
		if readOnly {
			// A write routed to the readers fails loudly instead of racing the writer.
			q.Add("_pragma", "query_only(1)")
		} else if !memory {
			// No checkpoint inside a commit: it would fsync on the writer's
			// hot path. A background goroutine checkpoints instead (see
			// checkpointer).
			q.Add("_pragma", "wal_autocheckpoint(0)")
		}
		// Take the write lock at BEGIN: a deferred transaction that reads and then writes can
		// fail with SQLITE_BUSY at its first write without the busy handler being consulted.
		q.Set("_txlock", "immediate")
		return path + "?" + q.Encode()
	}
	// database/sql keeps idle connections for good by default: each keeps
	// its page cache and prepared statements.
	pool := func(readOnly bool, conns int) (*sql.DB, error) {
		db, err := sql.Open("sqlite", dsn(readOnly))
		if err != nil {
			return nil, fmt.Errorf("db: open sqlite: %w", err)
		}
		db.SetMaxOpenConns(conns)
		db.SetMaxIdleConns(conns)
		return db, nil
	}
	if memory {
		// One connection is the whole database: it reads and writes.
		db, err := pool(false, 1)
		return db, db, err
	}
	// Two connections: the writer, and one to prepare statements on while a
	// transaction holds the first (writes themselves are one at a time, see
	// DB.writers).
	if writes, err = pool(false, 2); err != nil {
		return nil, nil, err
	}
	// Each connection carries its own page cache (see above): a few readers
	// serve a WAL database well on a small machine.
	if reads, err = pool(true, 4); err != nil {
		return nil, nil, errors.Join(err, writes.Close())
	}
	return reads, writes, nil
}

// prepared returns query prepared on pool, from the cache, on a SQLite file;
// nil on PostgreSQL, whose driver caches prepared statements itself, and on
// the one-connection memory database, where preparing inside a transaction
// would wait for the connection the transaction holds.
func (d *DB) prepared(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	if d.dialect != dialectSQLite || d.write == d.sql {
		return nil
	}
	type key struct {
		pool  *sql.DB
		query string
	}
	k := key{pool, query}
	if st, ok := d.stmts.Load(k); ok {
		return st.(*sql.Stmt)
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain call below reports the error
	}
	if prev, loaded := d.stmts.LoadOrStore(k, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	return st
}

// lockWrites serializes writers on a SQLite file (see DB.write); elsewhere it
// is a no-op.
func (d *DB) lockWrites() func() {
	if d.writers == nil {
		return func() {}
	}
	d.writers.Lock()
	return d.writers.Unlock
}

// Group commit on a SQLite file. Issuing an upload signature and confirming
// an upload are the hot paths, and on SQLite every commit writes the pages it
// dirtied to the WAL: a writer goroutine takes the writes that arrive
// together (see do) and commits them as one transaction. A unit runs inside a
// savepoint, so that if it fails it is undone alone and the others still
// commit; a stmt needs none (SQLite's ABORT undoes a failing statement, not
// the transaction). Statements run without the callers' cancellation,
// because an interrupted write rolls back the whole transaction; a caller
// gone before its turn is skipped. A caller returns only once its write is
// committed, exactly as with a transaction of its own. A transaction per
// write, without the writer goroutine, was measured against this and costs
// signatures far more CPU each (bench/README.md).

// maxBatch bounds one transaction, and so the wait of its last member.
const maxBatch = 64

// batchLinger is how long the writer waits for more writes before it commits
// while writes are arriving together (the last batch had more than one).
// Some of the pages a commit writes to the WAL (the table's last page, the
// time-ordered indexes' last pages) are the same for every row of a batch,
// so a batch of many costs little more than a batch of one; without the
// wait, a closed loop of callers commits in batches of about two. A lone
// write never waits.
const batchLinger = 500 * time.Microsecond

type writeJob struct {
	ctx  context.Context
	w    write
	done chan error
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

// errClosed answers the writes that arrive after Close.
var errClosed = fmt.Errorf("%w: db: closed", avatar.ErrRecordsUnavailable)

// enqueue hands w to the writer goroutine and waits for its commit.
func (d *DB) enqueue(ctx context.Context, w write) error {
	job := &writeJob{ctx: ctx, w: w, done: make(chan error, 1)}
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
		switch w := j.w.(type) {
		case stmt:
			results[i] = w.run(ctx, tx)
			if err := results[i]; err != nil && !refusal(err) {
				// Some errors (a full disk, an I/O error) make SQLite roll
				// back the whole transaction: the jobs after this one would
				// run outside it and persist while their callers hear of a
				// failure. Nothing of the batch is committed instead, and
				// every job not refused on its own hears of it.
				finish(err)
				return
			}
		case unit:
			if _, err := tx.exec(ctx, `SAVEPOINT job`); err != nil {
				finish(err)
				return
			}
			results[i] = w(ctx, tx)
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
	}
	finish(tx.Commit())
}

// refusal reports whether err, from a stmt, is one that leaves the
// transaction as it was: no row, or a constraint (SQLite undoes only the
// statement that broke it). A stmt returns its driver's errors as they are;
// they become the domain's after the commit.
func refusal(err error) bool {
	if errors.Is(err, sql.ErrNoRows) {
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
				d.checkpoint(walRestartFrames, nil)
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
// WAL grows without end, and every read that misses it searches an index
// that grows with it. So when it is long, the writes pause for a RESTART
// checkpoint (restartWAL).
func (d *DB) checkpoint(restartFrames int, afterPassive func()) int {
	var busy, frames, copied int
	// Errors (busy) only mean this round is skipped.
	if err := d.write.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		return -1
	}
	if afterPassive != nil {
		afterPassive() // tests: between the two steps
	}
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
