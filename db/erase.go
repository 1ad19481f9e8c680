package db

import (
	"context"
	"database/sql"
	"errors"
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
				notBefore := now
				if exp := fromMillis(expires).Add(grace); exp.After(now) {
					notBefore = exp
				}
				queued = append(queued, avatar.ObjectDeletion{Key: key, NotBefore: notBefore})
			}
			if avatarLeft && avatarKey != key {
				queued = append(queued, avatar.ObjectDeletion{Key: avatarKey, NotBefore: now})
				if thumbKey != "" {
					queued = append(queued, avatar.ObjectDeletion{Key: thumbKey, NotBefore: now})
				}
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
		res, err := tx.exec(ctx, `DELETE FROM users WHERE id = ?`, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return avatar.ErrNotFound
		}
		return nil
	}))
	if err != nil {
		return nil, translate(err)
	}
	return queued, nil
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

// ClaimObjectDeletions claims up to limit queued deletions due at now, each
// for lease; a deletion never finished is retaken once its lease is over.
func (d *DB) ClaimObjectDeletions(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error) {
	rows, err := d.query(ctx, `SELECT object_key FROM object_deletions
		WHERE not_before <= ? AND (claimed_at IS NULL OR claimed_at < ?) ORDER BY not_before LIMIT ?`,
		toMillis(now), toMillis(now.Add(-lease)), limit)
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

// FinishObjectDeletion forgets a queued key whose object is deleted.
func (d *DB) FinishObjectDeletion(ctx context.Context, key string) error {
	_, err := d.exec(ctx, `DELETE FROM object_deletions WHERE object_key = ?`, key)
	return translate(err)
}

// UserByOpenID returns the user WeChat knows by openID, or ErrNotFound.
func (d *DB) UserByOpenID(ctx context.Context, openID string) (avatar.User, error) {
	u, err := scanUser(d.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE openid = ?`, openID))
	return u, translate(err)
}

// RevokeProfile clears what the user withdrew: the nickname, and the avatar,
// whose objects (avatar, thumbnail, and its upload key if still there) are
// queued for deletion at once. An unknown user is ErrNotFound.
func (d *DB) RevokeProfile(ctx context.Context, userID string, nickname, avatarToo bool, now time.Time) ([]avatar.ObjectDeletion, error) {
	var queued []avatar.ObjectDeletion
	err := d.do(ctx, unit(func(ctx context.Context, tx *txn) error {
		queued = queued[:0]
		var uploadID sql.NullString
		if err := tx.queryRow(ctx, `SELECT avatar_upload_id FROM users WHERE id = ?`, userID).Scan(&uploadID); err != nil {
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
		if uploadID.Valid {
			var (
				key, avatarKey, thumbKey string
				keyLeft, avatarLeft      bool
			)
			err := tx.queryRow(ctx, `SELECT object_key, `+avatarKeyOf+`, thumb_key, object_deleted_at IS NULL,
				avatar_deleted_at IS NULL FROM uploads WHERE id = ?`, uploadID.String).Scan(&key, &avatarKey, &thumbKey, &keyLeft, &avatarLeft)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if err == nil {
				// The upload key stays the sweeper's: its signature may
				// still write it, and the sweeper deletes it after expiry.
				if avatarLeft && (avatarKey != key || keyLeft) {
					queued = append(queued, avatar.ObjectDeletion{Key: avatarKey, NotBefore: now})
					if thumbKey != "" {
						queued = append(queued, avatar.ObjectDeletion{Key: thumbKey, NotBefore: now})
					}
				}
				// The queue deletes them now: the sweeper's own rules must
				// not also take them.
				if _, err := tx.exec(ctx, `UPDATE uploads SET avatar_deleted_at = COALESCE(avatar_deleted_at, ?) WHERE id = ?`,
					toMillis(now), uploadID.String); err != nil {
					return err
				}
			}
		}
		if err := queueDeletions(ctx, tx, queued); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `UPDATE users SET avatar_url = NULL, avatar_thumb_url = NULL, avatar_upload_id = NULL,
			updated_at = ? WHERE id = ?`, toMillis(now), userID)
		return err
	}))
	if err != nil {
		return nil, translate(err)
	}
	return queued, nil
}
