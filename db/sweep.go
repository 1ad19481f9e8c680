package db

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// The one definition of "this upload's objects may be deleted", used to pick
// candidates, again, atomically, to claim each one (so that of several
// instances exactly one claims a task), and once more to say what the claim
// covers. An object that is somebody's avatar is never due. (Variables only
// because avatarDue is built with fallbackAvatar.)
var (
	// The upload key, once no signature can write it: for every upload but
	// the confirmed ones whose avatar is that very key (rows from before
	// avatars were copies). Args: ExpiredBefore.
	uploadKeyDue = `(object_deleted_at IS NULL AND expires_at < ?
		AND (status <> 'confirmed' OR ` + avatarKeyOf + ` <> object_key)
		AND NOT EXISTS (SELECT 1 FROM users WHERE users.avatar_upload_id = uploads.id
			AND ` + avatarKeyOf + ` = object_key))`
	// The avatar, once replaced and past its grace period, unless it is
	// the one a takedown of the user's avatar, waiting for its verdict,
	// would put back (one avatar a user at most). Args: ReplacedBefore.
	avatarDue = `(avatar_deleted_at IS NULL AND status = 'confirmed' AND replaced_at IS NOT NULL AND replaced_at < ?
		AND NOT EXISTS (SELECT 1 FROM users WHERE users.avatar_upload_id = uploads.id)
		AND NOT EXISTS (SELECT 1 FROM users JOIN uploads AS cur ON cur.id = users.avatar_upload_id
			WHERE users.id = uploads.user_id AND cur.review_state IN ('queued', 'waiting')
				AND uploads.id = (` + fallbackAvatar("uploads.user_id", "cur.id", "") + `)))`
	// Args: lease end, ExpiredBefore, ReplacedBefore.
	sweepable = `(sweep_claimed_at IS NULL OR sweep_claimed_at < ?) AND (` + uploadKeyDue + ` OR ` + avatarDue + `)`
)

// The candidates, picked by each half of sweepable on its own, in the order
// of its partial index: one query with both halves gets a plan built on the
// planner's guess of how many rows they match, which on a large table was a
// scan of every user per pass. Args: lease end, ExpiredBefore (or
// ReplacedBefore).
var (
	keyCandidates = `SELECT id FROM uploads WHERE (sweep_claimed_at IS NULL OR sweep_claimed_at < ?)
		AND ` + uploadKeyDue + ` ORDER BY expires_at`
	avatarCandidates = `SELECT id FROM uploads WHERE (sweep_claimed_at IS NULL OR sweep_claimed_at < ?)
		AND ` + avatarDue + ` ORDER BY replaced_at`
)

// ClaimSweep claims up to p.Limit uploads with objects due for this caller. A
// pending upload claimed here becomes expired, so a late confirm cannot race
// the deletion. The caller deletes each task's objects, then calls
// FinishSweep; a task never finished is retaken after p.Lease.
func (d *DB) ClaimSweep(ctx context.Context, p avatar.SweepPolicy, now time.Time) ([]avatar.SweepTask, error) {
	tasks, err := d.claimSweep(ctx, p, now)
	return tasks, translate(err)
}

func (d *DB) claimSweep(ctx context.Context, p avatar.SweepPolicy, now time.Time) ([]avatar.SweepTask, error) {
	expired, replaced := toMillis(p.ExpiredBefore), toMillis(p.ReplacedBefore)
	leaseEnd := toMillis(now.Add(-p.Lease))
	args := []any{leaseEnd, expired, replaced}
	candidates, err := d.ids(ctx, limited(keyCandidates, p.Limit), leaseEnd, expired)
	if err != nil {
		return nil, err
	}
	more, err := d.ids(ctx, limited(avatarCandidates, p.Limit), leaseEnd, replaced)
	if err != nil {
		return nil, err
	}
	for _, id := range more {
		if !slices.Contains(candidates, id) {
			candidates = append(candidates, id)
		}
	}
	var claimed []avatar.SweepTask
	for _, id := range candidates {
		// Each claim is its own statement: the WHERE is evaluated again under
		// the row lock, so a competing instance or a confirm that got there
		// first makes this one a no-op, and what it returns is what was due
		// when it was claimed, not when it was picked.
		var (
			t                                = avatar.SweepTask{UploadID: id}
			key, avatarKey, thumbKey, status string
			keyDue, avatarOfRowIsDue         bool
		)
		err := d.writeRow(ctx, func(row rowScanner) error {
			return row.Scan(&key, &avatarKey, &thumbKey, &status, &keyDue, &avatarOfRowIsDue)
		}, `
			UPDATE uploads SET sweep_claimed_at = ?,
				status = CASE WHEN status = 'pending' THEN 'expired' ELSE status END
			WHERE id = ? AND `+sweepable+`
			RETURNING object_key, `+avatarKeyOf+`, thumb_key, status, `+uploadKeyDue+`, `+avatarDue,
			append(append([]any{toMillis(now), id}, args...), expired, replaced)...)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return claimed, err
		}
		confirmed := status == string(avatar.UploadConfirmed)
		if keyDue {
			t.Keys, t.DeletesUploadKey = append(t.Keys, key), true
			// An avatar that was this very key (rows from before avatars
			// were copies) goes with it.
			t.DeletesAvatarKey = t.DeletesAvatarKey || avatarKey == key
			// An upload never confirmed may still have a copy, made by a
			// confirm that then lost to a rejection or to this sweeper.
			if !confirmed && avatarKey != key {
				t.Keys, t.DeletesAvatarKey = append(t.Keys, avatarKey), true
				t.Keys = appendNonEmpty(t.Keys, thumbKey)
			}
		}
		if avatarOfRowIsDue {
			t.DeletesAvatarKey = true
			if avatarKey == key {
				t.DeletesUploadKey = true
			}
			if !keyDue || avatarKey != key {
				t.Keys = append(t.Keys, avatarKey)
			}
			t.Keys = appendNonEmpty(t.Keys, thumbKey)
		}
		switch {
		case avatarOfRowIsDue:
			t.Reason = avatar.SweepReplaced
		case confirmed:
			t.Reason = avatar.SweepSpent
		case status == string(avatar.UploadRejected):
			// Deleted at rejection, but the signature stayed valid until
			// expiry: whatever was uploaded again since goes too.
			t.Reason = avatar.SweepRejected
		default:
			t.Reason = avatar.SweepExpired
		}
		claimed = append(claimed, t)
	}
	return claimed, nil
}

// FinishSweep records that the task's objects are gone and releases its claim.
func (d *DB) FinishSweep(ctx context.Context, t avatar.SweepTask, now time.Time) error {
	_, err := d.exec(ctx, `UPDATE uploads SET sweep_claimed_at = NULL,
		object_deleted_at = CASE WHEN ? THEN ? ELSE object_deleted_at END,
		avatar_deleted_at = CASE WHEN ? THEN ? ELSE avatar_deleted_at END
		WHERE id = ?`, t.DeletesUploadKey, toMillis(now), t.DeletesAvatarKey, toMillis(now), t.UploadID)
	return translate(err)
}

// appendNonEmpty appends key unless it is "" (an upload from before
// thumbnails has no thumbnail to delete).
func appendNonEmpty(keys []string, key string) []string {
	if key == "" {
		return keys
	}
	return append(keys, key)
}

// uploadPrunable is the one definition of "this upload's row may go": its
// objects are gone (the upload key's, and the avatar's, which the sweeper
// records as deleted with the key when it was that very key) since before
// the retention limit, no sweeper holds it, no check
// waits on it, and no user names it as their avatar or in their profile's
// review notice. Args: deleted before.
const uploadPrunable = `(object_deleted_at IS NOT NULL AND object_deleted_at < ? AND status <> 'pending'
	AND avatar_deleted_at IS NOT NULL
	AND sweep_claimed_at IS NULL
	AND (review_state IS NULL OR review_state NOT IN ('queued', 'waiting'))
	AND NOT EXISTS (SELECT 1 FROM users WHERE users.avatar_upload_id = uploads.id)
	AND NOT EXISTS (SELECT 1 FROM users WHERE users.avatar_review_upload_id = uploads.id))`

// pruneCandidates picks records to prune. Args: deleted before.
const pruneCandidates = `SELECT id FROM uploads WHERE ` + uploadPrunable + ` ORDER BY object_deleted_at`

// PruneUploads deletes up to limit upload rows whose objects were all
// deleted before deletedBefore and that nothing needs any more, and
// reports how many it deleted. One statement: a row that becomes needed
// meanwhile (a sweeper's claim) is re-checked under its lock.
func (d *DB) PruneUploads(ctx context.Context, deletedBefore time.Time, limit int) (int64, error) {
	before := toMillis(deletedBefore)
	n, err := d.exec(ctx, `DELETE FROM uploads WHERE id IN (`+limited(pruneCandidates, limit)+`) AND `+uploadPrunable, before, before)
	return n, translate(err)
}

// ids runs a query of ids.
func (d *DB) ids(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := d.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
