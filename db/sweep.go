package db

import (
	"context"
	"time"
)

// SweepTask is one object the sweeper should delete.
type SweepTask struct {
	UploadID string
	Key      string
	Reason   string // "expired" or "replaced"
}

// SweepPolicy says which objects are due.
type SweepPolicy struct {
	// ExpiredBefore: pending uploads whose signature expired before this
	// instant are abandoned; whatever was stored under them goes.
	ExpiredBefore time.Time
	// ReplacedBefore: avatars replaced before this instant go.
	ReplacedBefore time.Time
	// Lease is how long a claim holds before another instance may retake it
	// (a sweeper that died mid-task).
	Lease time.Duration
	// Limit caps one batch.
	Limit int
}

// sweepable is the one definition of "this upload's object may be deleted":
// used to pick candidates and again, atomically, to claim each one, so that
// of several instances exactly one claims a task, and an object that is
// somebody's avatar is never claimed.
const sweepable = `object_deleted_at IS NULL
	AND (sweep_claimed_at IS NULL OR sweep_claimed_at < ?)
	AND (
	     (status IN ('pending', 'expired', 'rejected') AND expires_at < ?)
	  OR (status = 'confirmed' AND replaced_at IS NOT NULL AND replaced_at < ?)
	)
	AND NOT EXISTS (SELECT 1 FROM users WHERE users.avatar_upload_id = uploads.id)`

// ClaimSweep claims up to p.Limit due objects for this caller. A pending
// upload claimed here becomes expired, so a late confirm cannot race the
// deletion. The caller deletes each object, then calls FinishSweep; a task
// never finished is retaken after p.Lease.
func (d *DB) ClaimSweep(ctx context.Context, p SweepPolicy, now time.Time) ([]SweepTask, error) {
	tasks, err := d.claimSweep(ctx, p, now)
	return tasks, translate(err)
}

func (d *DB) claimSweep(ctx context.Context, p SweepPolicy, now time.Time) ([]SweepTask, error) {
	leaseEnd := toMillis(now.Add(-p.Lease))
	args := []any{leaseEnd, toMillis(p.ExpiredBefore), toMillis(p.ReplacedBefore)}
	rows, err := d.query(ctx, `SELECT id, object_key, status FROM uploads WHERE `+sweepable+`
		ORDER BY expires_at LIMIT ?`, append(args, p.Limit)...)
	if err != nil {
		return nil, err
	}
	var candidates []SweepTask
	for rows.Next() {
		var t SweepTask
		var status string
		if err := rows.Scan(&t.UploadID, &t.Key, &status); err != nil {
			rows.Close()
			return nil, err
		}
		switch status {
		case string(UploadConfirmed):
			t.Reason = "replaced"
		case string(UploadRejected):
			// Deleted at rejection, but the signature stayed valid until
			// expiry: whatever was uploaded again since goes too.
			t.Reason = "rejected"
		default:
			t.Reason = "expired"
		}
		candidates = append(candidates, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var claimed []SweepTask
	for _, t := range candidates {
		// Each claim is its own statement: the WHERE is evaluated again under
		// the row lock, so a competing instance or a confirm that got there
		// first makes this one a no-op.
		res, err := d.exec(ctx, `
			UPDATE uploads SET sweep_claimed_at = ?,
				status = CASE WHEN status = 'pending' THEN 'expired' ELSE status END
			WHERE id = ? AND `+sweepable, append([]any{toMillis(now), t.UploadID}, args...)...)
		if err != nil {
			return claimed, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return claimed, err
		} else if n == 1 {
			claimed = append(claimed, t)
		}
	}
	return claimed, nil
}

// FinishSweep records that the task's object is gone.
func (d *DB) FinishSweep(ctx context.Context, uploadID string, now time.Time) error {
	_, err := d.exec(ctx, `UPDATE uploads SET object_deleted_at = ? WHERE id = ?`, toMillis(now), uploadID)
	return translate(err)
}
