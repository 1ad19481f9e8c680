package db

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// TestMigration4KeepsUploads: 00004 rebuilds uploads without object_key's
// unique index. Every column of every row survives it, object_key no longer
// has to be unique, and down and up again work.
func TestMigration4KeepsUploads(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		p, err := d.migrator()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 3); err != nil {
			t.Fatalf("down to 3: %v", err)
		}
		// As the schema of 00003 has it; UpsertUser writes today's.
		if _, err := d.exec(ctx, `INSERT INTO users (id, openid, nickname, created_at, updated_at)
			VALUES ('u1', 'o1', '', 1, 1)`); err != nil {
			t.Fatal(err)
		}
		// Every column set, NULLs where a row may hold them, and a legacy row
		// (avatar_key '') as instances of an older version write them.
		if _, err := d.exec(ctx, `INSERT INTO uploads (id, user_id, object_key, content_type, max_bytes, status,
				size, url, created_at, expires_at, confirmed_at, rejected_at, replaced_at, sweep_claimed_at,
				object_deleted_at, avatar_key, avatar_deleted_at, copy_etag, copy_claimed_at)
			VALUES ('a', 'u1', 'k/a.png', 'image/png', 5, 'confirmed', 3, 'https://cdn/k/a/avatar.png', 1, 2, 3, NULL, 4, 5, 6,
				'k/a/avatar.png', 7, '"e"', 8),
			('b', 'u1', 'k/b.jpg', 'image/jpeg', 9, 'pending', 0, 'https://cdn/k/b.jpg', 10, 11, NULL, NULL, NULL, NULL, NULL,
				'', NULL, NULL, NULL)`); err != nil {
			t.Fatal(err)
		}
		before := uploadRows(t, d)
		if len(before) != 2 {
			t.Fatalf("%d rows before; want 2", len(before))
		}
		if _, err := d.exec(ctx, `INSERT INTO uploads (id, user_id, object_key, content_type, max_bytes, url, created_at, expires_at)
			VALUES ('c', 'u1', 'k/a.png', 'image/png', 1, 'u', 1, 1)`); err == nil {
			t.Fatal("before 00004: a second row with one object_key was stored; want the unique index to refuse it")
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}
		if after := uploadRows(t, d); !reflect.DeepEqual(after, before) {
			t.Fatalf("rows after 00004:\n%v\nwant\n%v", after, before)
		}
		// The index is gone (CreateUpload keeps keys unique instead)...
		if _, err := d.exec(ctx, `INSERT INTO uploads (id, user_id, object_key, content_type, max_bytes, url, created_at, expires_at)
			VALUES ('c', 'u1', 'k/a.png', 'image/png', 1, 'u', 1, 1)`); err != nil {
			t.Fatalf("after 00004, a second row with one object_key: %v; want it stored", err)
		}
		if _, err := d.exec(ctx, `DELETE FROM uploads WHERE id = 'c'`); err != nil {
			t.Fatal(err)
		}
		// ... and the foreign key and the primary key are still there.
		if _, err := d.exec(ctx, `INSERT INTO uploads (id, user_id, object_key, content_type, max_bytes, url, created_at, expires_at)
			VALUES ('c', 'nobody', 'k/c.png', 'image/png', 1, 'u', 1, 1)`); err == nil {
			t.Error("after 00004, an upload of an unknown user was stored; want the foreign key to refuse it")
		}
		if _, err := d.exec(ctx, `INSERT INTO uploads (id, user_id, object_key, content_type, max_bytes, url, created_at, expires_at)
			VALUES ('a', 'u1', 'k/a2.png', 'image/png', 1, 'u', 1, 1)`); !errors.Is(translate(err), avatar.ErrConflict) {
			t.Errorf("after 00004, a second row with one id: %v; want avatar.ErrConflict", translate(err))
		}
		// What the service relies on still works on the rebuilt table.
		if _, err := d.UploadForUser(ctx, "u1", "a"); err != nil {
			t.Errorf("UploadForUser after 00004: %v", err)
		}
		mustCreateUpload(t, d, testUpload("u1", "new"), t0)
		if _, err := p.DownTo(ctx, 3); err != nil {
			t.Fatalf("down to 3 again: %v", err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("up again: %v", err)
		}
		if n := len(uploadRows(t, d)); n != 3 {
			t.Errorf("%d rows after down and up; want 3", n)
		}
	})
}

// uploadRows is every column of every upload, in id order, as text.
func uploadRows(t *testing.T, d *DB) [][]any {
	t.Helper()
	rows, err := d.query(context.Background(), `SELECT id, user_id, object_key, content_type, max_bytes, status,
		size, url, created_at, expires_at, confirmed_at, rejected_at, replaced_at, sweep_claimed_at,
		object_deleted_at, avatar_key, avatar_deleted_at, copy_etag, copy_claimed_at FROM uploads ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var all [][]any
	for rows.Next() {
		vals := make([]any, 19)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		all = append(all, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return all
}

// TestMigration5RecordsAvatarUpload: 00005 brings users.avatar_upload_id to
// both kinds of database found before it. One without the column (00001 as
// first released) gets it, with the current avatar's upload filled in, so the
// next confirm marks that upload replaced. One that already has it (00001 as
// a later release wrote it) keeps its values.
func TestMigration5RecordsAvatarUpload(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		p, err := d.migrator()
		if err != nil {
			t.Fatal(err)
		}
		index := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?`
		if d.dialect == dialectPostgres {
			index = `SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?`
		}
		indexes := func() (byURL, byUpload int) {
			t.Helper()
			if err := d.queryRow(ctx, index, "users_avatar_url").Scan(&byURL); err != nil {
				t.Fatal(err)
			}
			if err := d.queryRow(ctx, index, "users_avatar_upload").Scan(&byUpload); err != nil {
				t.Fatal(err)
			}
			return byURL, byUpload
		}
		avatarUpload := func(userID string) sql.NullString {
			t.Helper()
			var id sql.NullString
			if err := d.queryRow(ctx, `SELECT avatar_upload_id FROM users WHERE id = ?`, userID).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustUpsert(t, d, avatar.User{ID: "u2", OpenID: "o2"}, t0)
		mustUpsert(t, d, avatar.User{ID: "u3", OpenID: "o3"}, t0)
		for _, u := range []string{"u1", "u2"} {
			mustCreateUpload(t, d, testUpload(u, u+"-old"), t0)
			if _, _, err := d.ConfirmUpload(ctx, u, u+"-old", 10, avatar.ReviewPlan{}, t0); err != nil {
				t.Fatal(err)
			}
		}

		// Before 00005, as first released: no column, an index on avatar_url.
		if _, err := p.DownTo(ctx, 4); err != nil {
			t.Fatalf("down to 4: %v", err)
		}
		if _, err := d.exec(ctx, `SELECT avatar_upload_id FROM users`); err == nil {
			t.Fatal("after down to 4: users.avatar_upload_id is still there")
		}
		if byURL, byUpload := indexes(); byURL != 1 || byUpload != 0 {
			t.Fatalf("after down to 4: indexes by avatar_url %d, by avatar_upload_id %d; want 1, 0", byURL, byUpload)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("up from 00001 as first released: %v", err)
		}
		if byURL, byUpload := indexes(); byURL != 0 || byUpload != 1 {
			t.Errorf("after up: indexes by avatar_url %d, by avatar_upload_id %d; want 0, 1", byURL, byUpload)
		}
		for _, c := range []struct {
			user string
			want sql.NullString
		}{{"u1", sql.NullString{String: "u1-old", Valid: true}}, {"u2", sql.NullString{String: "u2-old", Valid: true}}, {"u3", sql.NullString{}}} {
			if got := avatarUpload(c.user); got != c.want {
				t.Errorf("after up: %s's avatar_upload_id = %v; want %v", c.user, got, c.want)
			}
		}
		mustCreateUpload(t, d, testUpload("u1", "u1-new"), t0)
		if _, _, err := d.ConfirmUpload(ctx, "u1", "u1-new", 10, avatar.ReviewPlan{}, t0.Add(time.Minute)); err != nil {
			t.Fatalf("confirm after the upgrade: %v", err)
		}
		var replaced sql.NullInt64
		if err := d.queryRow(ctx, `SELECT replaced_at FROM uploads WHERE id = 'u1-old'`).Scan(&replaced); err != nil {
			t.Fatal(err)
		}
		if !replaced.Valid {
			t.Error("after up, a new confirm did not mark the avatar it replaced")
		}

		// Before 00005, as a later release left it: the column and its index
		// already there, with values that must stay.
		if _, err := p.DownTo(ctx, 4); err != nil {
			t.Fatalf("down to 4: %v", err)
		}
		for _, s := range []string{
			`ALTER TABLE users ADD COLUMN avatar_upload_id TEXT`,
			`DROP INDEX users_avatar_url`,
			`CREATE INDEX users_avatar_upload ON users (avatar_upload_id)`,
			`UPDATE users SET avatar_upload_id = 'kept' WHERE id = 'u2'`,
		} {
			if _, err := d.exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("up from 00001 with the column: %v", err)
		}
		if got := avatarUpload("u2"); got != (sql.NullString{String: "kept", Valid: true}) {
			t.Errorf("after up: u2's avatar_upload_id = %v; want kept", got)
		}
		if got := avatarUpload("u1"); got != (sql.NullString{String: "u1-new", Valid: true}) {
			t.Errorf("after up: u1's avatar_upload_id = %v; want u1-new (filled in again)", got)
		}
		if byURL, byUpload := indexes(); byURL != 0 || byUpload != 1 {
			t.Errorf("after up: indexes by avatar_url %d, by avatar_upload_id %d; want 0, 1", byURL, byUpload)
		}
	})
}

// TestMigration6Thumbnails: users and uploads from before thumbnails name
// their avatar as its own thumbnail, with no thumbnail key to sweep.
func TestMigration6Thumbnails(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		p, err := d.migrator()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 5); err != nil {
			t.Fatalf("down to 5: %v", err)
		}
		if _, err := d.exec(ctx, `INSERT INTO users (id, openid, nickname, avatar_url, created_at, updated_at)
			VALUES ('u1', 'o1', '', 'https://cdn/avatars/u1/a/avatar.png', 1, 1), ('u2', 'o2', '', NULL, 1, 1)`); err != nil {
			t.Fatal(err)
		}
		if _, err := d.exec(ctx, `INSERT INTO uploads (id, user_id, object_key, avatar_key, content_type, max_bytes, status,
				size, url, created_at, expires_at, confirmed_at)
			VALUES ('a', 'u1', 'uploads/u1/a.png', 'avatars/u1/a/avatar.png', 'image/png', 5, 'confirmed', 3,
				'https://cdn/avatars/u1/a/avatar.png', 1, 2, 3)`); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}
		u1, err := d.UserByID(ctx, "u1")
		if err != nil || u1.AvatarThumbURL != u1.AvatarURL {
			t.Errorf("user with an avatar: thumb %q, %v; want its avatar %q", u1.AvatarThumbURL, err, u1.AvatarURL)
		}
		if u2, err := d.UserByID(ctx, "u2"); err != nil || u2.AvatarThumbURL != "" {
			t.Errorf("user without an avatar: thumb %q, %v; want none", u2.AvatarThumbURL, err)
		}
		up, err := d.UploadForUser(ctx, "u1", "a")
		if err != nil || up.ThumbKey != "" || up.ThumbURL != up.URL {
			t.Errorf("upload from before: thumb key %q, url %q, %v; want none and the avatar's URL", up.ThumbKey, up.ThumbURL, err)
		}
	})
}
