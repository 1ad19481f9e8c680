package db

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// avatarUploadMigration (version 5) records on each user the upload whose
// object avatar_url names (users.avatar_upload_id): confirm marks the upload
// it replaces by that id, and the sweeper never touches it.
//
// It is Go and not SQL because databases disagree on what they hold before
// it: a release put the column and its index into 00001 itself, so databases
// created by that release have them, while those created before it (or by
// 00001 as released first, which it is again) have neither. SQLite has no
// ADD COLUMN IF NOT EXISTS, so the column is looked up first. Users whose
// avatar was confirmed before the column existed get its upload's id, so that
// their next confirm marks it replaced and the sweeper deletes it in time.
func (d *DB) avatarUploadMigration() *goose.Migration {
	hasColumn := `SELECT COUNT(*) FROM pragma_table_info('users') WHERE name = 'avatar_upload_id'`
	if d.dialect == dialectPostgres {
		hasColumn = `SELECT COUNT(*) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'avatar_upload_id'`
	}
	up := func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, hasColumn).Scan(&n); err != nil {
			return err
		}
		stmts := []string{
			`DROP INDEX IF EXISTS users_avatar_url`,
			`CREATE INDEX IF NOT EXISTS users_avatar_upload ON users (avatar_upload_id)`,
			`UPDATE users SET avatar_upload_id = (
				SELECT uploads.id FROM uploads
				WHERE uploads.user_id = users.id AND uploads.status = 'confirmed' AND uploads.url = users.avatar_url
				ORDER BY uploads.confirmed_at DESC, uploads.id DESC LIMIT 1)
			WHERE avatar_upload_id IS NULL AND avatar_url IS NOT NULL`,
		}
		if n == 0 {
			stmts = append([]string{`ALTER TABLE users ADD COLUMN avatar_upload_id TEXT`}, stmts...)
		}
		return execAll(ctx, tx, stmts)
	}
	down := func(ctx context.Context, tx *sql.Tx) error {
		return execAll(ctx, tx, []string{
			`DROP INDEX IF EXISTS users_avatar_upload`,
			`ALTER TABLE users DROP COLUMN avatar_upload_id`,
			`CREATE INDEX users_avatar_url ON users (avatar_url)`,
		})
	}
	return goose.NewGoMigration(5, &goose.GoFunc{RunTx: up}, &goose.GoFunc{RunTx: down})
}

func execAll(ctx context.Context, tx *sql.Tx, stmts []string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
