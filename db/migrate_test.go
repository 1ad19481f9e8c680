package db

import (
	"context"
	"errors"
	"reflect"
	"testing"
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
		mustUpsert(t, d, User{ID: "u1", OpenID: "o1"}, t0)
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
			VALUES ('a', 'u1', 'k/a2.png', 'image/png', 1, 'u', 1, 1)`); !errors.Is(translate(err), ErrConflict) {
			t.Errorf("after 00004, a second row with one id: %v; want ErrConflict", translate(err))
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
