package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// The review states of an upload (migration 00009).
const (
	reviewQueued    = "queued"
	reviewWaiting   = "waiting"
	reviewApproved  = "approved"
	reviewTakenDown = "taken_down"
)

// reviewCandidates picks the avatars due for the reviewer. Args: now.
const reviewCandidates = `SELECT uploads.id, uploads.user_id, users.openid, uploads.url, uploads.review_state,
		uploads.review_attempts, uploads.review_deadline, uploads.review_error, uploads.review_next_at
	FROM uploads JOIN users ON users.id = uploads.user_id
	WHERE uploads.review_state IN ('queued', 'waiting') AND uploads.review_next_at <= ?
	ORDER BY uploads.review_next_at`

// ClaimReviews claims up to limit avatars due for the reviewer at now: queued
// ones whose next request is due, waiting ones past their deadline. A claim
// moves review_next_at past the lease, so that of several instances one
// claims each, and one that died holding it is retaken after the lease.
func (d *DB) ClaimReviews(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]avatar.ReviewTask, error) {
	tasks, err := d.claimReviews(ctx, now, lease, limit)
	return tasks, translate(err)
}

func (d *DB) claimReviews(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]avatar.ReviewTask, error) {
	rows, err := d.query(ctx, limited(reviewCandidates, limit), toMillis(now))
	if err != nil {
		return nil, err
	}
	type candidate struct {
		task   avatar.ReviewTask
		nextAt int64
	}
	var candidates []candidate
	for rows.Next() {
		var (
			c         candidate
			deadline  int64
			lastError sql.NullString
		)
		if err := rows.Scan(&c.task.UploadID, &c.task.UserID, &c.task.OpenID, &c.task.URL, &c.task.State,
			&c.task.Attempts, &deadline, &lastError, &c.nextAt); err != nil {
			rows.Close()
			return nil, err
		}
		c.task.Deadline, c.task.Refused = fromMillis(deadline), lastError.String == "refused"
		candidates = append(candidates, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var claimed []avatar.ReviewTask
	for _, c := range candidates {
		// Claimed only as it was read: another instance that acted on it
		// since has moved review_next_at.
		n, err := d.exec(ctx, `UPDATE uploads SET review_next_at = ?
			WHERE id = ? AND review_state = ? AND review_next_at = ?`,
			toMillis(now.Add(lease)), c.task.UploadID, c.task.State, c.nextAt)
		if err != nil {
			return claimed, err
		}
		if n == 1 {
			claimed = append(claimed, c.task)
		}
	}
	return claimed, nil
}

// ReviewAsked records the trace id of a check requested: the avatar waits
// for its verdict until its deadline. An avatar decided or gone meanwhile
// stays as it is.
func (d *DB) ReviewAsked(ctx context.Context, uploadID, traceID string, _ time.Time) error {
	_, err := d.exec(ctx, `UPDATE uploads SET review_state = 'waiting', review_trace_id = ?, review_error = NULL,
			review_next_at = review_deadline
		WHERE id = ? AND review_state = 'queued'`, traceID, uploadID)
	return translate(err)
}

// ReviewFailed records a failed request, asked again at retryAt.
func (d *DB) ReviewFailed(ctx context.Context, uploadID string, refused bool, retryAt time.Time) error {
	kind := "unavailable"
	if refused {
		kind = "refused"
	}
	_, err := d.exec(ctx, `UPDATE uploads SET review_attempts = review_attempts + 1, review_error = ?, review_next_at = ?
		WHERE id = ? AND review_state = 'queued'`, kind, toMillis(retryAt), uploadID)
	return translate(err)
}

// RequeueReview queues the check of the user's current avatar again, unless
// one is under way; a user without an avatar, or gone, is nothing to do.
func (d *DB) RequeueReview(ctx context.Context, userID string, deadline, now time.Time) error {
	_, err := d.exec(ctx, `UPDATE uploads SET review_state = 'queued', review_next_at = ?, review_deadline = ?,
			review_attempts = 0, review_error = NULL, review_trace_id = NULL
		WHERE id = (SELECT avatar_upload_id FROM users WHERE users.id = ?) AND user_id = ?
			AND (review_state IS NULL OR review_state NOT IN ('queued', 'waiting'))`,
		toMillis(now), toMillis(deadline), userID, userID)
	return translate(err)
}

// DecideReview applies a verdict, in one transaction with the user row
// locked, to the avatar it answers: by trace id, one waiting for that very
// request's verdict (or kept unchecked at its deadline: a late verdict still
// counts); by upload id, one still waiting under the deadline the reviewer
// claimed it with.
//
// Approved (or sent to review and kept where it shows), a held avatar still
// the user's latest becomes their avatar, and one superseded meanwhile is
// left to the sweeper like any replaced avatar. Taken down, its objects are
// queued for deletion (an avatar stored under its upload key not before its
// signature expired plus grace); if it was the user's avatar, the latest
// approved one left (or none) takes its place; and the user's profile says
// it was rejected, and why.
func (d *DB) DecideReview(ctx context.Context, dec avatar.ReviewDecision, grace time.Duration, now time.Time) (avatar.ReviewOutcome, error) {
	var out avatar.ReviewOutcome
	err := d.do(ctx, unit(func(ctx context.Context, tx *txn) error {
		var err error
		out, err = d.decideIn(ctx, tx, dec, grace, now)
		return err
	}))
	return out, translate(err)
}

func (d *DB) decideIn(ctx context.Context, tx *txn, dec avatar.ReviewDecision, grace time.Duration, now time.Time) (avatar.ReviewOutcome, error) {
	var out avatar.ReviewOutcome
	find, arg := `SELECT id, user_id FROM uploads WHERE id = ?`, dec.UploadID
	// Which request the decision answers: a push names its trace id; a
	// deadline, the one the reviewer claimed the avatar under. A check
	// queued again since (RequeueReview) is another request, not decided
	// by either.
	answers, answersArg := `review_deadline = ?`, any(toMillis(dec.Deadline))
	if dec.TraceID != "" {
		find, arg = `SELECT id, user_id FROM uploads WHERE review_trace_id = ?`, dec.TraceID
		answers, answersArg = `review_trace_id = ?`, dec.TraceID
	}
	var id string
	if err := tx.queryRow(ctx, find, arg).Scan(&id, &out.UserID); err != nil {
		return out, err // sql.ErrNoRows: ErrNotFound
	}
	var current, reviewFor, review sql.NullString
	if err := tx.queryRow(ctx, d.lockUser(`avatar_upload_id, avatar_review_upload_id, avatar_review`), out.UserID).
		Scan(&current, &reviewFor, &review); err != nil {
		return out, err
	}
	up, err := scanUpload(tx.queryRow(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = ?`, id))
	if err != nil {
		return out, err
	}
	var objectsLeft bool
	if err := tx.queryRow(ctx, `SELECT avatar_deleted_at IS NULL FROM uploads WHERE id = ?`, id).Scan(&objectsLeft); err != nil {
		return out, err
	}
	isCurrent, isLatest := current.String == id, reviewFor.String == id
	approve := dec.Approve || (dec.KeepIfShown && isCurrent)
	state := reviewApproved
	if !approve {
		state = reviewTakenDown
	}
	// The state condition is in the UPDATE itself: of a push and a
	// deadline deciding at once, one changes the row.
	res, err := tx.exec(ctx, `UPDATE uploads SET review_state = ?, review_verdict = ?, review_label = ?, review_next_at = NULL,
			avatar_deleted_at = CASE WHEN ? THEN COALESCE(avatar_deleted_at, ?) ELSE avatar_deleted_at END
		WHERE id = ? AND `+answers+` AND (review_state IN ('queued', 'waiting')
			OR (? AND review_state = 'approved' AND review_verdict = 'unchecked'))`,
		state, dec.Verdict, dec.Label, !approve, toMillis(now), id, answersArg, dec.TraceID != "")
	if err != nil {
		return out, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return out, err
	} else if n == 0 {
		return out, avatar.ErrConflict
	}
	if approve {
		switch {
		case isLatest && !isCurrent && objectsLeft:
			out.Shown = true
			_, err = d.showAvatar(ctx, tx, out.UserID, up, current.String, now,
				`avatar_review = NULL, avatar_review_upload_id = NULL, avatar_review_reason = NULL`)
		case isLatest:
			_, err = tx.exec(ctx, `UPDATE users SET avatar_review = NULL, avatar_review_upload_id = NULL,
				avatar_review_reason = NULL, updated_at = ? WHERE id = ?`, toMillis(now), out.UserID)
		case !isCurrent:
			// Held, and superseded by a later avatar: the sweeper's after
			// the grace period, like any avatar replaced.
			_, err = tx.exec(ctx, `UPDATE uploads SET replaced_at = COALESCE(replaced_at, ?) WHERE id = ?`, toMillis(now), id)
		}
		return out, err
	}
	if objectsLeft {
		if up.AvatarKey != up.Key {
			out.Deletions = appendRenditions(out.Deletions, up.AvatarKey, up.ThumbKey, now)
		} else {
			// An avatar from before avatars were copies lives under its
			// upload key, which no sweeper rule takes from a confirmed row.
			out.Deletions = append(out.Deletions, avatar.ObjectDeletion{Key: up.Key, NotBefore: later(now, up.ExpiresAt.Add(grace))})
		}
		if err := queueDeletions(ctx, tx, out.Deletions); err != nil {
			return out, err
		}
	}
	if isCurrent {
		out.Reverted = true
		if err := d.revertAvatar(ctx, tx, out.UserID, id, now); err != nil {
			return out, err
		}
	}
	// The user hears of it when it was their avatar or the one they wait
	// for; not when it only interrupts news of a later one.
	if isLatest || (isCurrent && review.String != avatar.ReviewPending) {
		_, err = tx.exec(ctx, `UPDATE users SET avatar_review = ?, avatar_review_upload_id = ?, avatar_review_reason = ?,
			updated_at = ? WHERE id = ?`, avatar.ReviewRejected, id, dec.Verdict, toMillis(now), out.UserID)
	}
	return out, err
}

// fallbackAvatar is the query of the avatar a takedown of the user's
// current one puts back: the latest of theirs confirmed, approved (or never
// checked), not deleted and not the current one, and meeting extra. It
// names the user by userExpr and the current avatar by currentExpr, SQL
// expressions of the statement it is part of.
func fallbackAvatar(userExpr, currentExpr, extra string) string {
	return `SELECT fb.id FROM uploads AS fb WHERE fb.user_id = ` + userExpr + ` AND fb.id <> ` + currentExpr + `
		AND fb.status = 'confirmed' AND fb.avatar_deleted_at IS NULL
		AND (fb.review_state IS NULL OR fb.review_state = 'approved') ` + extra + `
		ORDER BY fb.confirmed_at DESC, fb.id DESC LIMIT 1`
}

// revertAvatar gives the user, whose avatar takenDown was taken down, the
// fallback avatar, or none. One the sweeper has claimed is passed over: it
// may be deleting it right now.
func (d *DB) revertAvatar(ctx context.Context, tx *txn, userID, takenDown string, now time.Time) error {
	// The fallback is taken back from the sweeper by clearing its
	// replaced_at, under the same conditions as it was picked: on
	// PostgreSQL a sweeper claiming it meanwhile either committed first
	// (then this changes no row, and the next fallback is tried) or waits
	// for this row and then finds it no longer due.
	for range 3 {
		prev, err := scanUpload(tx.queryRow(ctx, `SELECT `+uploadColumns+` FROM uploads
			WHERE id = (`+fallbackAvatar("?", "?", "AND fb.sweep_claimed_at IS NULL")+`)`, userID, takenDown))
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return err
		}
		res, err := tx.exec(ctx, `UPDATE uploads SET replaced_at = NULL
			WHERE id = ? AND sweep_claimed_at IS NULL AND avatar_deleted_at IS NULL`, prev.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			_, err = d.showAvatar(ctx, tx, userID, prev, takenDown, now, "")
			return err
		}
	}
	_, err := tx.exec(ctx, `UPDATE users SET avatar_url = NULL, avatar_thumb_url = NULL, avatar_upload_id = NULL,
		updated_at = ? WHERE id = ?`, toMillis(now), userID)
	return err
}

// KeepEarlyVerdict keeps a verdict whose trace id no upload has yet; a
// second delivery keeps the first.
func (d *DB) KeepEarlyVerdict(ctx context.Context, traceID, verdict string, label int, now time.Time) error {
	_, err := d.exec(ctx, `INSERT INTO early_verdicts (trace_id, verdict, label, received_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (trace_id) DO NOTHING`, traceID, verdict, label, toMillis(now))
	return translate(err)
}

// keptVerdicts lists kept verdicts an upload now has the trace id of.
const keptVerdicts = `SELECT e.trace_id, e.verdict, e.label FROM early_verdicts AS e
	WHERE EXISTS (SELECT 1 FROM uploads WHERE uploads.review_trace_id = e.trace_id) LIMIT 100`

// KeptVerdicts lists up to 100 kept verdicts whose trace id an avatar now
// has.
func (d *DB) KeptVerdicts(ctx context.Context) ([]avatar.KeptVerdict, error) {
	rows, err := d.query(ctx, keptVerdicts)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var kept []avatar.KeptVerdict
	for rows.Next() {
		var k avatar.KeptVerdict
		if err := rows.Scan(&k.TraceID, &k.Verdict, &k.Label); err != nil {
			return nil, translate(err)
		}
		kept = append(kept, k)
	}
	return kept, translate(rows.Err())
}

// ForgetEarlyVerdict forgets the verdict kept for traceID.
func (d *DB) ForgetEarlyVerdict(ctx context.Context, traceID string) error {
	_, err := d.exec(ctx, `DELETE FROM early_verdicts WHERE trace_id = ?`, traceID)
	return translate(err)
}

// PruneEarlyVerdicts forgets the verdicts kept since before.
func (d *DB) PruneEarlyVerdicts(ctx context.Context, before time.Time) error {
	_, err := d.exec(ctx, `DELETE FROM early_verdicts WHERE received_at < ?`, toMillis(before))
	return translate(err)
}
