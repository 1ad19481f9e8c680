package db

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Group commit for CreateUpload on a SQLite file. Issuing an upload signature
// is the hot path, and on SQLite every commit writes its pages to the WAL: a
// writer goroutine takes the creates that arrive together and commits them as
// one transaction. One refusal does not undo the others: the checks are reads,
// and a failing INSERT is undone alone (SQLite's ABORT rolls back the
// statement, not the transaction). Statements run without the callers'
// cancellation, because an interrupted write rolls back the whole
// transaction; a caller gone before its turn is skipped. A caller returns only
// once its row is committed, exactly as with a transaction of its own.

// maxBatch bounds one transaction, and so the wait of its last member.
const maxBatch = 64

type createJob struct {
	ctx        context.Context
	u          Upload
	maxPending int
	now        time.Time
	done       chan error
}

type batcher struct {
	jobs chan *createJob // unbuffered: a job is sent only to a running writer
	quit chan struct{}
	stop sync.Once
	wg   sync.WaitGroup
}

func (d *DB) startBatcher() {
	d.creates = &batcher{jobs: make(chan *createJob), quit: make(chan struct{})}
	d.creates.wg.Add(1)
	go d.runCreates()
}

func (d *DB) stopBatcher() {
	if d.creates != nil {
		d.creates.stop.Do(func() { close(d.creates.quit) })
		d.creates.wg.Wait()
	}
}

var errClosed = errors.New("db: closed")

func (d *DB) createBatched(ctx context.Context, u Upload, maxPending int, now time.Time) error {
	job := &createJob{ctx: ctx, u: u, maxPending: maxPending, now: now, done: make(chan error, 1)}
	select {
	case d.creates.jobs <- job:
	case <-d.creates.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-job.done
}

func (d *DB) runCreates() {
	defer d.creates.wg.Done()
	for {
		var first *createJob
		select {
		case first = <-d.creates.jobs:
		case <-d.creates.quit:
			return
		}
		batch := append(make([]*createJob, 0, maxBatch), first)
	gather:
		for len(batch) < maxBatch {
			select {
			case j := <-d.creates.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		d.commitCreates(batch)
	}
}

func (d *DB) commitCreates(batch []*createJob) {
	results := make([]error, len(batch))
	finish := func(commitErr error) {
		for i, j := range batch {
			if results[i] == nil {
				results[i] = commitErr
			}
			j.done <- results[i]
		}
	}
	tx, err := d.begin(context.Background())
	if err != nil {
		finish(err)
		return
	}
	defer tx.Rollback()
	ctx := context.Background()
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		results[i] = d.insertUpload(ctx, tx, j.u, j.maxPending, j.now)
	}
	finish(tx.Commit())
}

// checkpointInterval is how often the WAL is copied back into the database
// file. SQLite would do it inside whichever commit crosses 1000 pages, with
// an fsync on the writer's path; a PASSIVE checkpoint here runs beside the
// writer and never blocks it.
const checkpointInterval = time.Second

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
				// A last full checkpoint leaves a compact file behind.
				d.write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
				return
			case <-t.C:
				// Errors (busy) only mean this round is skipped.
				d.write.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
	}()
}

func (d *DB) stopCheckpointer() {
	c := &d.checkpoints
	if c.quit == nil {
		return
	}
	c.once.Do(func() { close(c.quit) })
	c.wg.Wait()
}
