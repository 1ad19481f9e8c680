package db

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxavatar/wxavatar/avatar"
)

// avatarKeyOf is the one definition of an upload's avatar key. Rows from
// before avatars were copies keep the avatar under the upload key: migrated
// ones say so (avatar_key = object_key), those that instances of that
// version write during a rolling upgrade leave avatar_key ”.
const avatarKeyOf = `COALESCE(NULLIF(avatar_key, ''), object_key)`

// thumbURLOf is an upload's thumbnail URL: rows from before thumbnails, and
// those that instances of that version write during a rolling upgrade, name
// the avatar itself.
const thumbURLOf = `COALESCE(NULLIF(thumb_url, ''), url)`

const uploadColumns = `id, user_id, object_key, ` + avatarKeyOf + `, thumb_key, content_type, url, ` + thumbURLOf + `,
	max_bytes, status, size, created_at, expires_at, confirmed_at`

func scanUpload(row rowScanner) (avatar.Upload, error) {
	var (
		u                avatar.Upload
		status           string
		created, expires int64
		confirmed        sql.NullInt64
	)
	if err := row.Scan(&u.ID, &u.UserID, &u.Key, &u.AvatarKey, &u.ThumbKey, &u.ContentType, &u.URL, &u.ThumbURL,
		&u.MaxBytes, &status, &u.Size, &created, &expires, &confirmed); err != nil {
		return avatar.Upload{}, err
	}
	u.Status = avatar.UploadStatus(status)
	u.CreatedAt, u.ExpiresAt = fromMillis(created), fromMillis(expires)
	if confirmed.Valid {
		u.ConfirmedAt = fromMillis(confirmed.Int64)
	}
	return u, nil
}

func uploadForUser(ctx context.Context, q querier, userID, uploadID string) (avatar.Upload, error) {
	return scanUpload(q.queryRow(ctx,
		`SELECT `+uploadColumns+` FROM uploads WHERE id = ? AND user_id = ?`, uploadID, userID))
}

// CreateUpload inserts a pending upload. When maxPending > 0 and the user already holds
// maxPending uploads that are pending and not expired at now, it returns ErrTooManyPending;
// the count and the insert are one statement on SQLite (whose writers are serialized) and one
// transaction on PostgreSQL, so concurrent calls cannot exceed the cap.
//
// u.Status, u.Size and u.ConfirmedAt are ignored and CreatedAt is now. An unknown user is
// ErrNotFound; a reused id is ErrConflict; keys that do not name the id are refused.
func (d *DB) CreateUpload(ctx context.Context, u avatar.Upload, maxPending int, now time.Time) error {
	if u.ID == "" || u.UserID == "" || u.Key == "" || u.AvatarKey == "" || u.ContentType == "" || u.URL == "" ||
		u.MaxBytes <= 0 || u.ExpiresAt.IsZero() {
		return errors.New("db: create upload: id, user id, keys, content type, url, max bytes and expiry are required")
	}
	if u.AvatarKey == u.Key || !keysNameID(u) {
		// The signatures name Key until they expire, so the avatar must live
		// elsewhere. The keys' uniqueness follows from the id's only for keys
		// that name it: neither key is indexed, since every signature inserts
		// a row (migrations 00003 and 00004).
		return errors.New("db: create upload: the keys must differ and name the id (<prefix>/<id>.<ext>, <prefix>/<id>/<name>, the thumbnail beside the avatar)")
	}
	return translate(d.createUpload(ctx, u, maxPending, now))
}

// keysNameID reports whether u's keys name its ID as Upload says. An ID has
// no '.' or '/', so two uploads' Keys are equal only if their IDs are, and so
// are two AvatarKeys.
func keysNameID(u avatar.Upload) bool {
	if u.ID == "" || strings.ContainsAny(u.ID, "./") {
		return false
	}
	_, name := cutLast(u.Key)
	dir, _ := cutLast(u.AvatarKey)
	_, parent := cutLast(dir)
	if u.ThumbKey != "" { // beside the avatar, under another name
		thumbDir, thumbName := cutLast(u.ThumbKey)
		if thumbDir != dir || u.ThumbKey == u.AvatarKey || thumbName == "" {
			return false
		}
	}
	return strings.HasPrefix(name, u.ID+".") && parent == u.ID
}

// cutLast splits key at its last '/'.
func cutLast(key string) (before, after string) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return "", key
	}
	return key[:i], key[i+1:]
}

func (d *DB) createUpload(ctx context.Context, u avatar.Upload, maxPending int, now time.Time) error {
	if d.dialect == dialectPostgres {
		return d.createPipelined(ctx, u, maxPending, now)
	}
	w, finish := d.createWrite(u, maxPending, now)
	return finish(d.do(ctx, w))
}

// The insert of a pending upload. Args: id, user id, key, avatar key,
// thumb key, content type, url, thumb url, max bytes, created, expires.
const insertUpload = `
	INSERT INTO uploads (id, user_id, object_key, avatar_key, thumb_key, content_type, url, thumb_url, max_bytes,
		status, size, created_at, expires_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`

// pendingCount counts a user's unexpired pending uploads (the cap). Args:
// user id, now.
const pendingCount = `SELECT COUNT(*) FROM uploads WHERE user_id = ? AND status = 'pending' AND expires_at > ?`

// insertUploadCapped inserts only while the user holds fewer unexpired
// pending uploads than the cap. Args: insertUpload's, then user id, now, cap.
const insertUploadCapped = `
	INSERT INTO uploads (id, user_id, object_key, avatar_key, thumb_key, content_type, url, thumb_url, max_bytes,
		status, size, created_at, expires_at)
	SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?
	WHERE (` + pendingCount + `) < ?`

// createWrite is CreateUpload's write on SQLite; finish turns what do
// returned for it into CreateUpload's answer.
func (d *DB) createWrite(u avatar.Upload, maxPending int, now time.Time) (w write, finish func(error) error) {
	// SQLite serializes writers, so the count and the insert can be one
	// statement, and its foreign key check finds a missing user.
	s := stmt{query: insertUpload, args: uploadArgs(u, now)}
	if maxPending > 0 {
		s.query, s.args = insertUploadCapped, append(s.args, u.UserID, toMillis(now), maxPending)
	}
	var n int64
	s.affected = &n
	return s, func(err error) error {
		switch {
		case foreignKeyViolation(err):
			return avatar.ErrNotFound
		case err == nil && n == 0:
			return avatar.ErrTooManyPending
		}
		return err
	}
}

// uploadArgs are insertUpload's arguments.
func uploadArgs(u avatar.Upload, now time.Time) []any {
	return []any{u.ID, u.UserID, u.Key, u.AvatarKey, u.ThumbKey, u.ContentType, u.URL, u.ThumbURL, u.MaxBytes,
		toMillis(now), toMillis(u.ExpiresAt)}
}

// createPipelined is CreateUpload on PostgreSQL, in one round trip. Without
// a cap it is the insert alone, whose foreign key check finds a missing
// user (also when an erasure, which locks the user row, wins). With one,
// transactions being READ COMMITTED, the insert is pipelined after a lock
// on the user's cap: it counts the pending uploads with a snapshot taken
// once it holds the lock, so concurrent creates cannot exceed the cap (one
// statement would count with a snapshot from before it waited). The lock
// is an advisory one, in PostgreSQL's memory: a row lock would write the
// user's row, and its WAL, on every signature.
func (d *DB) createPipelined(ctx context.Context, u avatar.Upload, maxPending int, now time.Time) error {
	queries := []pgQuery{{insertUpload, uploadArgs(u, now)}}
	if maxPending > 0 {
		queries = []pgQuery{
			{`SELECT pg_advisory_xact_lock(` + strconv.Itoa(pgLockUploadCap) + `, hashtext(?))`, []any{u.UserID}},
			{insertUploadCapped, append(uploadArgs(u, now), u.UserID, toMillis(now), maxPending)},
		}
	}
	var inserted int64
	err := d.pipelined(ctx, queries, func(br pgx.BatchResults) error {
		for range queries {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			inserted = tag.RowsAffected() // the insert's, last
		}
		return nil
	})
	switch {
	case foreignKeyViolationPG(err):
		return avatar.ErrNotFound
	case err == nil && inserted == 0:
		return avatar.ErrTooManyPending
	}
	return err
}

// UploadForUser returns the upload only when it belongs to userID; otherwise ErrNotFound
// (same error for missing and foreign: callers must not be able to tell them apart).
func (d *DB) UploadForUser(ctx context.Context, userID, uploadID string) (avatar.Upload, error) {
	u, err := uploadForUser(ctx, d, userID, uploadID)
	return u, translate(err)
}

// ConfirmUpload, in ONE transaction: a pending upload becomes confirmed with size and
// confirmed_at=now, and the user's avatar_url becomes upload.URL and updated_at=now.
// An already-confirmed upload is returned unchanged with the current user (idempotent, changes
// nothing — even if the user has since confirmed a newer avatar). A rejected upload → ErrConflict.
// Missing/foreign → ErrNotFound. Safe under concurrent calls for the same upload (recorded once).
// Expiry is not checked: a signature that expired after the object was stored still counts.
//
// A plan with a Deadline queues the avatar's content check (review_state 'queued') and tells
// the user it is pending; one that Holds it leaves the user's avatar as it is, for
// DecideReview to change once the check passes.
func (d *DB) ConfirmUpload(ctx context.Context, userID, uploadID string, size int64, plan avatar.ReviewPlan, now time.Time) (avatar.User, avatar.Upload, error) {
	user, up, err := d.confirmUpload(ctx, userID, uploadID, size, plan, now)
	return user, up, translate(err)
}

func (d *DB) confirmUpload(ctx context.Context, userID, uploadID string, size int64, plan avatar.ReviewPlan, now time.Time) (avatar.User, avatar.Upload, error) {
	var (
		user avatar.User
		up   avatar.Upload
	)
	err := d.do(ctx, unit(func(ctx context.Context, tx *txn) error {
		var err error
		user, up, err = d.confirmIn(ctx, tx, userID, uploadID, size, plan, now)
		return err
	}))
	if err != nil && !errors.Is(err, avatar.ErrConflict) {
		return avatar.User{}, avatar.Upload{}, err
	}
	return user, up, err
}

// confirmIn is ConfirmUpload's work inside tx; on ErrConflict the upload is
// returned too.
func (d *DB) confirmIn(ctx context.Context, tx *txn, userID, uploadID string, size int64, plan avatar.ReviewPlan, now time.Time) (avatar.User, avatar.Upload, error) {
	// Every transaction that changes a user's avatar or deletes their
	// uploads locks the user row first, then upload rows (EraseUser,
	// RevokeProfile, DecideReview; CreateUpload's foreign key check
	// too): one order, so that PostgreSQL never finds two of them
	// waiting on each other. A user who is gone is sql.ErrNoRows here
	// (ErrNotFound).
	var previous sql.NullString // the avatar this one replaces
	if err := tx.queryRow(ctx, d.lockUser(`avatar_upload_id`), userID).Scan(&previous); err != nil {
		return avatar.User{}, avatar.Upload{}, err
	}

	// The state check is in the UPDATE itself, so of two racing confirms exactly one changes
	// the row even where transactions are not serialized (PostgreSQL read committed). It
	// queues the avatar's check as well, when there is one.
	queue := !plan.Deadline.IsZero()
	up, err := scanUpload(tx.queryRow(ctx, `
		UPDATE uploads SET status = 'confirmed', size = ?, confirmed_at = ?,
			review_state = CASE WHEN ? THEN 'queued' ELSE review_state END,
			review_next_at = CASE WHEN ? THEN ? ELSE review_next_at END,
			review_deadline = CASE WHEN ? THEN ? ELSE review_deadline END
		WHERE id = ? AND user_id = ? AND status = 'pending'
		RETURNING `+uploadColumns,
		size, toMillis(now), queue, queue, toMillis(now), queue, toMillis(plan.Deadline), uploadID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		// Not pending: confirmed before (answered as it was), or not to be.
		if up, err = uploadForUser(ctx, tx, userID, uploadID); err != nil {
			return avatar.User{}, avatar.Upload{}, err
		}
		if up.Status != avatar.UploadConfirmed {
			return avatar.User{}, up, avatar.ErrConflict
		}
		user, err := scanUser(tx.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, userID))
		return user, up, err
	}
	if err != nil {
		return avatar.User{}, avatar.Upload{}, err
	}

	review, reviewUpload := sql.NullString{}, sql.NullString{}
	if queue {
		review, reviewUpload = nullString(avatar.ReviewPending), nullString(uploadID)
	}
	if plan.Hold {
		// Shown once it passes. The user row changes all the same, so that
		// a held avatar confirmed earlier knows, when its own verdict
		// comes, that it is no longer the latest.
		user, err := scanUser(tx.queryRow(ctx, `UPDATE users SET avatar_review = ?, avatar_review_upload_id = ?,
			avatar_review_reason = NULL, updated_at = ? WHERE id = ? RETURNING `+userColumns,
			review, reviewUpload, toMillis(now), userID))
		return user, up, err
	}
	user, err := d.showAvatar(ctx, tx, userID, up, previous.String, now,
		`avatar_review = ?, avatar_review_upload_id = ?, avatar_review_reason = NULL`, review, reviewUpload)
	return user, up, err
}

// showAvatar makes up the user's avatar in place of previous (its id, ""
// for none), setting also the columns of set (with args), and marks
// previous replaced, for the sweeper after its grace period. The caller
// read previous with the user row locked (lockUser): two confirms racing
// under READ COMMITTED must each see the avatar the other replaced, or one
// replaced avatar would never be marked (and never swept).
func (d *DB) showAvatar(ctx context.Context, tx *txn, userID string, up avatar.Upload, previous string, now time.Time, set string, args ...any) (avatar.User, error) {
	if previous != "" && previous != up.ID {
		if _, err := tx.exec(ctx, `UPDATE uploads SET replaced_at = ? WHERE id = ? AND replaced_at IS NULL`,
			toMillis(now), previous); err != nil {
			return avatar.User{}, err
		}
	}
	if set != "" {
		set += ", "
	}
	return scanUser(tx.queryRow(ctx, `UPDATE users SET `+set+`avatar_url = ?, avatar_thumb_url = ?, avatar_upload_id = ?,
		updated_at = ? WHERE id = ? RETURNING `+userColumns,
		append(args, up.URL, up.ThumbURL, up.ID, toMillis(now), userID)...))
}

// lockUser reads columns of one user (arg: the id), locking the row on
// PostgreSQL until the transaction ends; SQLite serializes writers anyway.
func (d *DB) lockUser(columns string) string {
	q := `SELECT ` + columns + ` FROM users WHERE id = ?`
	if d.dialect == dialectPostgres {
		q += ` FOR UPDATE`
	}
	return q
}

// ClaimWrite reserves, for the caller, writing the avatar made from version
// etag of a pending upload's object (copy_etag: releases before 00006
// copied it). Two confirms that read the same version may both write it;
// one that read another version may not until the claim is older than
// staleBefore (its holder has given up). Otherwise it returns ErrConflict
// with the upload as it is: confirmed (nothing to write), pending (another
// version is being written), rejected or expired.
// Missing/foreign → ErrNotFound. A claim taken returns no upload: the caller
// has it already.
func (d *DB) ClaimWrite(ctx context.Context, userID, uploadID, etag string, now, staleBefore time.Time) (avatar.Upload, error) {
	n, err := d.exec(ctx, `
		UPDATE uploads SET copy_etag = ?, copy_claimed_at = ?
		WHERE id = ? AND user_id = ? AND status = 'pending'
			AND (copy_etag IS NULL OR copy_etag = ? OR copy_claimed_at < ?)`,
		etag, toMillis(now), uploadID, userID, etag, toMillis(staleBefore))
	if err != nil || n > 0 {
		return avatar.Upload{}, translate(err)
	}
	// Not taken: the upload as it is now says why.
	up, err := uploadForUser(ctx, d, userID, uploadID)
	if err != nil {
		return avatar.Upload{}, translate(err)
	}
	return up, avatar.ErrConflict
}

// RejectUpload marks a pending upload rejected; rejected again → returns it unchanged;
// confirmed → ErrConflict; missing/foreign → ErrNotFound.
func (d *DB) RejectUpload(ctx context.Context, userID, uploadID string, now time.Time) (avatar.Upload, error) {
	up, err := d.rejectUpload(ctx, userID, uploadID, now)
	return up, translate(err)
}

func (d *DB) rejectUpload(ctx context.Context, userID, uploadID string, now time.Time) (avatar.Upload, error) {
	var up avatar.Upload
	err := d.do(ctx, unit(func(ctx context.Context, tx *txn) error {
		if _, err := tx.exec(ctx, `
			UPDATE uploads SET status = 'rejected', rejected_at = ?
			WHERE id = ? AND user_id = ? AND status = 'pending'`,
			toMillis(now), uploadID, userID); err != nil {
			return err
		}
		var err error
		if up, err = uploadForUser(ctx, tx, userID, uploadID); err != nil {
			return err
		}
		if up.Status != avatar.UploadRejected {
			return avatar.ErrConflict
		}
		return nil
	}))
	if err != nil {
		return avatar.Upload{}, err
	}
	return up, nil
}
