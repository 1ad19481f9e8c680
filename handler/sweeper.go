package handler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/wxavatar/wxavatar/db"
)

// The sweeper lives beside the handlers because, like them, it is the one
// place allowed to use both the records and object storage.

// SweepStore is what the sweeper needs of the records.
type SweepStore interface {
	ClaimSweep(ctx context.Context, p db.SweepPolicy, now time.Time) ([]db.SweepTask, error)
	FinishSweep(ctx context.Context, task db.SweepTask, now time.Time) error
	PruneRateLimits(ctx context.Context, now time.Time) (int64, error)
}

// ObjectDeleter deletes one object; deleting a missing one succeeds.
type ObjectDeleter interface {
	Delete(ctx context.Context, key string) error
}

const (
	// abandonedAfter: an upload that started just before its signature
	// expired may still be arriving; its object is left alone this long.
	abandonedAfter = 15 * time.Minute
	// sweepLease outlives any one delete, so a live sweeper never loses its
	// claim, and a dead one's tasks are retaken soon.
	sweepLease = 5 * time.Minute
	sweepBatch = 100
)

// Sweeper deletes the objects nobody will use: whatever is stored under an
// upload key once its signatures have expired (confirmed avatars are copies
// elsewhere), and avatars replaced more than Grace ago. Several instances may
// sweep one database: each object is claimed by exactly one of them.
type Sweeper struct {
	Store    SweepStore
	Objects  ObjectDeleter
	Logger   *slog.Logger
	Now      func() time.Time
	Interval time.Duration // 0 turns sweeping off
	Grace    time.Duration // how long a replaced avatar is kept
	Metrics  *Metrics      // optional
}

// Run sweeps every Interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	if s.Interval <= 0 {
		return
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.SweepOnce(ctx); err != nil && ctx.Err() == nil {
				s.Logger.Warn("sweep stopped early; the rest waits for the next round", "error", err.Error())
			}
		}
	}
}

// SweepOnce deletes every object due now and reports how many it deleted.
// A delete that fails leaves its task claimed; it is retried once the claim's
// lease runs out.
func (s *Sweeper) SweepOnce(ctx context.Context) (int, error) {
	now := s.Now()
	policy := db.SweepPolicy{
		ExpiredBefore:  now.Add(-abandonedAfter),
		ReplacedBefore: now.Add(-s.Grace),
		Lease:          sweepLease,
		Limit:          sweepBatch,
	}
	deleted, failed := 0, 0
	for {
		tasks, err := s.Store.ClaimSweep(ctx, policy, now)
		if err != nil {
			return deleted, err
		}
		// Stop only when nothing is left to claim: a short batch may just
		// mean that other instances claimed part of it.
		if len(tasks) == 0 {
			break
		}
		for _, task := range tasks {
			var err error
			for _, key := range task.Keys {
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err = s.Objects.Delete(dctx, key)
				cancel()
				if err != nil {
					break
				}
			}
			if err != nil {
				failed++
				s.Logger.Warn("sweep: delete failed, retried later", "upload_id", task.UploadID, "error", err.Error())
				continue
			}
			if err := s.Store.FinishSweep(ctx, task, s.Now()); err != nil {
				return deleted, err
			}
			if task.Reason == "expired" {
				s.Metrics.UploadEvent("expired", 1)
			}
			deleted += len(task.Keys)
		}
	}
	// Rate-limit rows of clients idle for a while are dead weight.
	if _, err := s.Store.PruneRateLimits(ctx, now); err != nil {
		return deleted, err
	}
	if deleted > 0 || failed > 0 {
		s.Logger.Info("sweep", "deleted", deleted, "failed", failed)
	}
	if failed > 0 {
		return deleted, errors.New("some deletes failed")
	}
	return deleted, nil
}
