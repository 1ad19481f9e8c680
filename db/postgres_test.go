package db

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/db/dbtest"
)

// migrationCount is how many migrations the package has: the embedded SQL
// files and the Go ones.
func migrationCount(t *testing.T, d *DB) int {
	t.Helper()
	p, err := d.migrator()
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(embedded, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v, %v", files, err)
	}
	if n := len(p.ListSources()); n <= len(files) {
		t.Fatalf("%d migrations, %d of them SQL files; want the Go ones too", n, len(files))
	}
	return len(p.ListSources())
}

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"VALUES (?,?,?)", "VALUES ($1,$2,$3)"},
		{"WHERE a = '?' AND b = ?", "WHERE a = '?' AND b = $1"},
		{"WHERE a = 'it''s ?' AND b = ?", "WHERE a = 'it''s ?' AND b = $1"},
		{`SELECT "odd?name" FROM t WHERE x = ?`, `SELECT "odd?name" FROM t WHERE x = $1`},
		{"-- why?\nSELECT ? -- and ?\n, ?", "-- why?\nSELECT $1 -- and ?\n, $2"},
		{"WHERE a = 'unterminated ?", "WHERE a = 'unterminated ?"},
		{"?", "$1"},
	}
	for _, tt := range tests {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	// Ten and more placeholders get two digits.
	q := "??????????" + "?"
	if got, want := rebind(q), "$1$2$3$4$5$6$7$8$9$10$11"; got != want {
		t.Errorf("rebind(%q) = %q; want %q", q, got, want)
	}
}

func TestBindOnlyRebindsForPostgres(t *testing.T) {
	q := "SELECT ? FROM t WHERE a = ?"
	sqlite := &DB{dialect: dialectSQLite}
	if got := sqlite.bind(q); got != q {
		t.Errorf("sqlite bind = %q; want the query unchanged", got)
	}
	pg := &DB{dialect: dialectPostgres}
	for range 2 { // the second call is served from the cache
		if got, want := pg.bind(q), "SELECT $1 FROM t WHERE a = $2"; got != want {
			t.Errorf("postgres bind = %q; want %q", got, want)
		}
	}
}

func BenchmarkBindPostgres(b *testing.B) {
	d := &DB{dialect: dialectPostgres}
	q := `SELECT ` + uploadColumns + ` FROM uploads WHERE id = ? AND user_id = ?`
	for b.Loop() {
		_ = d.bind(q)
	}
}

func TestOpenPostgresPool(t *testing.T) {
	d := openTest(t, dbtest.PostgresURL(t))
	if got := d.sql.Stats().MaxOpenConnections; got != pgMaxOpenConns {
		t.Errorf("max open connections = %d; want %d", got, pgMaxOpenConns)
	}
	var iso string
	if err := d.queryRow(context.Background(), `SHOW transaction_isolation`).Scan(&iso); err != nil || iso != "read committed" {
		t.Errorf("transaction_isolation = %q, %v; want the default read committed the methods are written for", iso, err)
	}
}

// TestOpenPostgresConcurrently: instances starting together on a fresh database take turns
// to migrate instead of failing on each other's CREATE TABLE.
func TestOpenPostgresConcurrently(t *testing.T) {
	url := dbtest.PostgresURL(t)
	const instances = 4
	handles := make([]*DB, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() { handles[i], errs[i] = Open(context.Background(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: Open: %v", i, err)
			continue
		}
		handles[i].Close()
	}
	d := openTest(t, url)
	var versions int
	if err := d.queryRow(context.Background(),
		`SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t, d); versions != want {
		t.Errorf("recorded migrations: got %d; want %d (each once)", versions, want)
	}
}

// TestPostgresLockTimeoutIsUnavailable provokes a real lock_not_available on the server.
func TestPostgresLockTimeoutIsUnavailable(t *testing.T) {
	d := openTest(t, dbtest.PostgresURL(t))
	ctx := context.Background()
	mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)

	holder, err := d.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.exec(ctx, `UPDATE users SET nickname = 'a' WHERE id = ?`, "u1"); err != nil {
		t.Fatal(err)
	}

	waiter, err := d.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Rollback()
	if _, err := waiter.exec(ctx, `SET LOCAL lock_timeout = '50ms'`); err != nil {
		t.Fatal(err)
	}
	_, err = waiter.exec(ctx, `UPDATE users SET nickname = 'b' WHERE id = ?`, "u1")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55P03" {
		t.Fatalf("update of a locked row: got %v; want SQLSTATE 55P03", err)
	}
	if got := translate(err); !errors.Is(got, avatar.ErrRecordsUnavailable) || !errors.As(got, &pe) {
		t.Errorf("translate(%v) = %v; want avatar.ErrRecordsUnavailable with the *pgconn.PgError kept", err, got)
	}
}

// TestPostgresContextEnds: a call cut short by its context reports the context's error, not
// avatar.ErrRecordsUnavailable (the server answers query_canceled to the cancel request pgx sends).
func TestPostgresContextEnds(t *testing.T) {
	d := openTest(t, dbtest.PostgresURL(t))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var x string
	err := translate(d.queryRow(ctx, `SELECT pg_sleep(5)::text`).Scan(&x))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, avatar.ErrRecordsUnavailable) {
		t.Errorf("query past its deadline: got %v; want context.DeadlineExceeded", err)
	}
	// The pool is still usable afterwards.
	if err := d.Ping(context.Background()); err != nil {
		t.Errorf("Ping after a cancelled query: %v", err)
	}
}
