package db

import (
	"context"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// EraseUser deletes the user and every record of their uploads in one
// transaction, and queues for deletion every object those records name
// (upload keys, avatars, thumbnails) that is not deleted yet. An upload key
// whose signature expires after now is queued not before its expiry plus
// grace: until then the client may still write it. An unknown user is
// ErrNotFound. It returns the keys queued.
func (d *DB) EraseUser(ctx context.Context, userID string, grace time.Duration, now time.Time) ([]avatar.ObjectDeletion, error) {
	var queued []avatar.ObjectDeletion
	err := d.do(ctx, unit(func(ctx context.Context, tx *txn) error {
		queued = queued[:0]
		// The user row first, locked on PostgreSQL: a CreateUpload, whose
		// insert's foreign key check takes a share lock on that row,
		// either commits before this reads the uploads, or waits and then
		// finds no user. Without the lock, an upload inserted between the
		// reads and the delete would make the delete fail on the foreign
		// key.
		var id string
		if err := tx.queryRow(ctx, d.lockUser(`id`), userID).Scan(&id); err != nil {
			return err // sql.ErrNoRows: ErrNotFound
		}
		rows, err := tx.query(ctx, `SELECT object_key, `+avatarKeyOf+`, thumb_key, expires_at,
				object_deleted_at IS NULL, avatar_deleted_at IS NULL FROM uploads WHERE user_id = ?`, userID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				key, avatarKey, thumbKey string
				expires                  int64
				keyLeft, avatarLeft      bool
			)
			if err := rows.Scan(&key, &avatarKey, &thumbKey, &expires, &keyLeft, &avatarLeft); err != nil {
				rows.Close()
				return err
			}
			if keyLeft {
				queued = append(queued, avatar.ObjectDeletion{Key: key, NotBefore: later(now, fromMillis(expires).Add(grace))})
			}
			if avatarLeft && avatarKey != key {
				queued = appendRenditions(queued, avatarKey, thumbKey, now)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if err := queueDeletions(ctx, tx, queued); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM uploads WHERE user_id = ?`, userID); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `DELETE FROM users WHERE id = ?`, userID)
		return err
	}))
	if err != nil {
		return nil, translate(err)
	}
	return queued, nil
}

// QueueObjectDeletions queues objects no record names for the sweeper.
func (d *DB) QueueObjectDeletions(ctx context.Context, queued []avatar.ObjectDeletion) error {
	return translate(d.do(ctx, unit(func(ctx context.Context, tx *txn) error {
		return queueDeletions(ctx, tx, queued)
	})))
}

// queueDeletions adds keys to object_deletions. A key queued twice keeps
// the later time: an upload key waits for its signature whatever else asked.
func queueDeletions(ctx context.Context, tx *txn, queued []avatar.ObjectDeletion) error {
	for _, q := range queued {
		if _, err := tx.exec(ctx, `INSERT INTO object_deletions (object_key, not_before) VALUES (?, ?)
			ON CONFLICT (object_key) DO UPDATE SET not_before = CASE
				WHEN excluded.not_before > object_deletions.not_before THEN excluded.not_before
				ELSE object_deletions.not_before END`,
			q.Key, toMillis(q.NotBefore)); err != nil {
			return err
		}
	}
	return nil
}

// deletionCandidates picks queued deletions due. Args: now, lease end.
const deletionCandidates = `SELECT object_key FROM object_deletions
	WHERE not_before <= ? AND (claimed_at IS NULL OR claimed_at < ?) ORDER BY not_before`

// ClaimObjectDeletions claims up to limit queued deletions due at now, each
// for lease; a deletion never finished is retaken once its lease is over.
func (d *DB) ClaimObjectDeletions(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error) {
	rows, err := d.query(ctx, limited(deletionCandidates, limit), toMillis(now), toMillis(now.Add(-lease)))
	if err != nil {
		return nil, translate(err)
	}
	var candidates []string
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			rows.Close()
			return nil, translate(err)
		}
		candidates = append(candidates, key)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	var claimed []string
	for _, key := range candidates {
		// The condition again, under the row's lock: of several sweepers,
		// one claims each key.
		n, err := d.exec(ctx, `UPDATE object_deletions SET claimed_at = ?
			WHERE object_key = ? AND not_before <= ? AND (claimed_at IS NULL OR claimed_at < ?)`,
			toMillis(now), key, toMillis(now), toMillis(now.Add(-lease)))
		if err != nil {
			return claimed, translate(err)
		}
		if n == 1 {
			claimed = append(claimed, key)
		}
	}
	return claimed, nil
}

// FinishObjectDeletion forgets a queued key whose object is deleted, unless
// it was queued again since claimedAt for a later time (an upload key whose
// signature was still valid): that deletion is still to come.
func (d *DB) FinishObjectDeletion(ctx context.Context, key string, claimedAt time.Time) error {
	_, err := d.exec(ctx, `DELETE FROM object_deletions WHERE object_key = ? AND not_before <= ?`, key, toMillis(claimedAt))
	return translate(err)
}

// UserByOpenID returns the user WeChat knows by openID, or ErrNotFound.
func (d *DB) UserByOpenID(ctx context.Context, openID string) (avatar.User, error) {
	u, err := scanUser(d.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE openid = ?`, openID))
	return u, translate(err)
}

// RevokeProfile clears what the user withdrew: the nickname, and the avatar.
// Withdrawing the avatar deletes every avatar of theirs not deleted yet
// (the current one, those replaced within the grace period, those waiting
// for a verdict, which will never be shown), queued for deletion at once;
// their upload keys stay the sweeper's, deleted once their signatures
// expire. An unknown user is ErrNotFound.
func (d *DB) RevokeProfile(ctx context.Context, userID string, nickname, avatarToo bool, grace time.Duration, now time.Time) ([]avatar.ObjectDeletion, error) {
	var queued []avatar.ObjectDeletion
	err := d.do(ctx, unit(func(ctx context.Context, tx *txn) error {
		queued = queued[:0]
		var id string
		if err := tx.queryRow(ctx, d.lockUser(`id`), userID).Scan(&id); err != nil {
			return err
		}
		if nickname {
			if _, err := tx.exec(ctx, `UPDATE users SET nickname = '', nickname_check = NULL, updated_at = ? WHERE id = ?`,
				toMillis(now), userID); err != nil {
				return err
			}
		}
		if !avatarToo {
			return nil
		}
		// Rows from before avatars were copies keep the avatar under the
		// upload key: it goes too, once its signature has expired.
		rows, err := tx.query(ctx, `SELECT object_key, `+avatarKeyOf+`, thumb_key, expires_at FROM uploads
			WHERE user_id = ? AND status = 'confirmed' AND avatar_deleted_at IS NULL
				AND (`+avatarKeyOf+` <> object_key OR object_deleted_at IS NULL)`, userID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				key, avatarKey, thumbKey string
				expires                  int64
			)
			if err := rows.Scan(&key, &avatarKey, &thumbKey, &expires); err != nil {
				rows.Close()
				return err
			}
			if avatarKey == key {
				queued = append(queued, avatar.ObjectDeletion{Key: key, NotBefore: later(now, fromMillis(expires).Add(grace))})
			} else {
				queued = appendRenditions(queued, avatarKey, thumbKey, now)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if err := queueDeletions(ctx, tx, queued); err != nil {
			return err
		}
		// The queue deletes them now: the sweeper's own rules must not also
		// take them, and no verdict may show them again.
		if _, err := tx.exec(ctx, `UPDATE uploads SET avatar_deleted_at = COALESCE(avatar_deleted_at, ?),
				review_state = CASE WHEN review_state IN ('queued', 'waiting') THEN 'taken_down' ELSE review_state END,
				review_next_at = NULL
			WHERE user_id = ? AND status = 'confirmed'`, toMillis(now), userID); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE users SET avatar_url = NULL, avatar_thumb_url = NULL, avatar_upload_id = NULL,
			avatar_review = NULL, avatar_review_upload_id = NULL, avatar_review_reason = NULL,
			updated_at = ? WHERE id = ?`, toMillis(now), userID)
		return err
	}))
	if err != nil {
		return nil, translate(err)
	}
	return queued, nil
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// appendRenditions queues an avatar and its thumbnail ("" for uploads from
// before thumbnails) for deletion from notBefore.
func appendRenditions(queued []avatar.ObjectDeletion, avatarKey, thumbKey string, notBefore time.Time) []avatar.ObjectDeletion {
	queued = append(queued, avatar.ObjectDeletion{Key: avatarKey, NotBefore: notBefore})
	if thumbKey != "" {
		queued = append(queued, avatar.ObjectDeletion{Key: thumbKey, NotBefore: notBefore})
	}
	return queued
}
