package avatar

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// SweepReason is why a task's objects are due.
type SweepReason string

const (
	// SweepExpired: the upload was never confirmed and its signature expired.
	SweepExpired SweepReason = "expired"
	// SweepRejected: what was stored again under a rejected upload's key.
	SweepRejected SweepReason = "rejected"
	// SweepSpent: the upload key of a confirmed upload, whose avatar is a
	// copy elsewhere.
	SweepSpent SweepReason = "spent"
	// SweepReplaced: an avatar the user has since replaced.
	SweepReplaced SweepReason = "replaced"
)

// SweepTask is one upload whose objects the sweeper should delete.
type SweepTask struct {
	UploadID string
	Keys     []string // the objects to delete
	Reason   SweepReason
	// What FinishSweep records as deleted: the object under the upload's
	// key; the avatar and its thumbnail.
	DeletesUploadKey, DeletesAvatarKey bool
}

// SweepPolicy says which objects are due.
type SweepPolicy struct {
	// ExpiredBefore: an upload key whose signatures expired before this
	// instant will not be written again; whatever is stored there goes,
	// unless it is an avatar (rows from before avatars were copies).
	ExpiredBefore time.Time
	// ReplacedBefore: avatars replaced before this instant go.
	ReplacedBefore time.Time
	// Lease is how long a claim holds before another instance may retake it
	// (a sweeper that died mid-task).
	Lease time.Duration
	// Limit caps one batch.
	Limit int
}

// ObjectDeletion is an object queued for deletion when its records went
// (an erased user's), not before NotBefore.
type ObjectDeletion struct {
	Key       string
	NotBefore time.Time
}

// SweepRecords is what the sweeper needs of the records.
type SweepRecords interface {
	// ClaimSweep claims up to p.Limit uploads with objects due for this
	// caller, each for p.Lease; a pending upload claimed becomes expired.
	ClaimSweep(ctx context.Context, p SweepPolicy, now time.Time) ([]SweepTask, error)
	// FinishSweep records the task's objects as deleted and releases it.
	FinishSweep(ctx context.Context, task SweepTask, now time.Time) error
	// ClaimObjectDeletions claims up to limit queued deletions due at now,
	// each for lease.
	ClaimObjectDeletions(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error)
	// FinishObjectDeletion forgets a queued key whose object is deleted,
	// unless it was queued again since claimedAt for a later time.
	FinishObjectDeletion(ctx context.Context, key string, claimedAt time.Time) error
	// PruneUploads deletes up to limit upload records whose objects were
	// all deleted before deletedBefore and that nothing needs any more.
	PruneUploads(ctx context.Context, deletedBefore time.Time, limit int) (int64, error)
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
	pruneBatch = 1000
)

// Sweeper deletes the objects nobody will use: whatever is stored under an
// upload key once its signatures have expired (confirmed avatars are copies
// elsewhere), and avatars replaced more than Grace ago. Several instances may
// sweep one database: each object is claimed by exactly one of them.
type Sweeper struct {
	Records  SweepRecords
	Objects  ObjectDeleter
	Logger   *slog.Logger
	Now      func() time.Time
	Interval time.Duration // 0 turns sweeping off
	Grace    time.Duration // how long a replaced avatar is kept
	// Retention is how long an upload's record is kept once its objects
	// are gone (for support and audit); then the record goes too.
	Retention time.Duration
	Events    Events // nil: not counted
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
	policy := SweepPolicy{
		ExpiredBefore:  now.Add(-abandonedAfter),
		ReplacedBefore: now.Add(-s.Grace),
		Lease:          sweepLease,
		Limit:          sweepBatch,
	}
	deleted, failed := 0, 0
	for {
		tasks, err := s.Records.ClaimSweep(ctx, policy, now)
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
			if err := s.Records.FinishSweep(ctx, task, s.Now()); err != nil {
				return deleted, err
			}
			if task.Reason == SweepExpired && s.Events != nil {
				s.Events.UploadEvent("expired", 1)
			}
			deleted += len(task.Keys)
		}
	}
	// The objects of erased users.
	for {
		keys, err := s.Records.ClaimObjectDeletions(ctx, now, sweepLease, sweepBatch)
		if err != nil {
			return deleted, err
		}
		if len(keys) == 0 {
			break
		}
		for _, key := range keys {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := s.Objects.Delete(dctx, key)
			cancel()
			if err != nil {
				failed++
				s.Logger.Warn("sweep: delete of an erased user's object failed, retried later", "error", err.Error())
				continue
			}
			if err := s.Records.FinishObjectDeletion(ctx, key, now); err != nil {
				return deleted, err
			}
			deleted++
		}
	}
	// The records nothing needs any more, in batches, so that each
	// statement holds its locks briefly.
	var pruned int64
	for {
		n, err := s.Records.PruneUploads(ctx, now.Add(-s.Retention), pruneBatch)
		if err != nil {
			return deleted, err
		}
		pruned += n
		if n < pruneBatch {
			break
		}
	}
	if deleted > 0 || failed > 0 || pruned > 0 {
		s.Logger.Info("sweep", "deleted", deleted, "failed", failed, "records_pruned", pruned)
	}
	if failed > 0 {
		return deleted, errors.New("some deletes failed")
	}
	return deleted, nil
}
