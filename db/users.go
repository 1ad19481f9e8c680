package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// Queries use '?' placeholders; the PostgreSQL backend rebinds them to $n.
const userColumns = `id, openid, unionid, nickname, nickname_check, avatar_url, avatar_thumb_url,
	avatar_review, avatar_review_upload_id, avatar_review_reason, created_at, updated_at`

func scanUser(row rowScanner) (avatar.User, error) {
	var (
		u                                   avatar.User
		unionID, check, avatarURL, thumbURL sql.NullString
		review, reviewUpload, reviewReason  sql.NullString
		created, updated                    int64
	)
	if err := row.Scan(&u.ID, &u.OpenID, &unionID, &u.Nickname, &check, &avatarURL, &thumbURL,
		&review, &reviewUpload, &reviewReason, &created, &updated); err != nil {
		return avatar.User{}, err
	}
	u.UnionID, u.NicknameCheck, u.AvatarURL, u.AvatarThumbURL = unionID.String, check.String, avatarURL.String, thumbURL.String
	u.AvatarReview, u.AvatarReviewUploadID, u.AvatarReviewReason = review.String, reviewUpload.String, reviewReason.String
	// A thumbnail is written beside its avatar. An instance of the release
	// before thumbnails that confirms an avatar during a rolling upgrade
	// changes avatar_url alone: the thumbnail left is another avatar's, and
	// the avatar stands for itself.
	if dir(u.AvatarThumbURL) != dir(u.AvatarURL) {
		u.AvatarThumbURL = u.AvatarURL
	}
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	return u, nil
}

// UpsertUser creates the user with id u.ID on first login (keyed by OpenID) or returns the existing
// one (its ID unchanged); a non-empty UnionID updates the stored one.
//
// Only u.ID, u.OpenID and u.UnionID are read. updated_at moves only when the unionid changes.
// One statement, so two first logins racing on the same openid both get the same user, on
// SQLite and on PostgreSQL alike.
func (d *DB) UpsertUser(ctx context.Context, u avatar.User, now time.Time) (avatar.User, error) {
	if u.ID == "" || u.OpenID == "" {
		return avatar.User{}, errors.New("db: upsert user: id and openid are required")
	}
	var got avatar.User
	err := d.writeRow(ctx, func(r rowScanner) (err error) { got, err = scanUser(r); return err }, `
		INSERT INTO users (id, openid, unionid, nickname, created_at, updated_at)
		VALUES (?, ?, ?, '', ?, ?)
		ON CONFLICT (openid) DO UPDATE SET
			unionid = COALESCE(excluded.unionid, users.unionid),
			updated_at = CASE
				WHEN excluded.unionid IS NOT NULL
				 AND (users.unionid IS NULL OR users.unionid <> excluded.unionid)
				THEN excluded.updated_at
				ELSE users.updated_at
			END
		RETURNING `+userColumns,
		u.ID, u.OpenID, nullString(u.UnionID), toMillis(now), toMillis(now))
	return got, translate(err)
}

// UserByID returns the user with the given id, or ErrNotFound.
func (d *DB) UserByID(ctx context.Context, id string) (avatar.User, error) {
	u, err := scanUser(d.queryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, translate(err)
}

// SetNickname stores the nickname as given (the caller validates it) with what its check
// said ("" for none) and returns the user, or ErrNotFound.
func (d *DB) SetNickname(ctx context.Context, userID, nickname, check string, now time.Time) (avatar.User, error) {
	var u avatar.User
	err := d.writeRow(ctx, func(r rowScanner) (err error) { u, err = scanUser(r); return err },
		`UPDATE users SET nickname = ?, nickname_check = ?, updated_at = ? WHERE id = ? RETURNING `+userColumns,
		nickname, nullString(check), toMillis(now), userID)
	return u, translate(err)
}

// dir is url up to its last '/'.
func dir(url string) string {
	before, _ := cutLast(url)
	return before
}
