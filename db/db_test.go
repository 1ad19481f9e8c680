package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/db/dbtest"
)

// t0 is the test clock's origin, on a millisecond so stored times compare equal.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC)

// backends lists the databases every behavioural test runs against. Each url is a fresh
// database. postgres needs a server (WXAVATAR_TEST_POSTGRES, see dbtest); without one it
// skips, except under CI.
var backends = []struct {
	name   string
	url    func(t testing.TB) string
	shared bool // several handles may open the url and see one database
}{
	{"memory", func(testing.TB) string { return "sqlite::memory:" }, false},
	{"file", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "test.db") }, true},
	{"postgres", func(t testing.TB) string { return dbtest.PostgresURL(t) }, true},
}

// forEachDB runs f once per backend, each with a fresh migrated database.
func forEachDB(t *testing.T, f func(t *testing.T, d *DB)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f(t, openTest(t, b.url(t)))
		})
	}
}

// forEachSharedDB runs f once per backend that several instances can share, with the url of a
// fresh database for f to open as many times as it needs.
func forEachSharedDB(t *testing.T, f func(t *testing.T, url string)) {
	t.Helper()
	for _, b := range backends {
		if b.shared {
			t.Run(b.name, func(t *testing.T) { f(t, b.url(t)) })
		}
	}
}

func openTest(t testing.TB, url string) *DB {
	t.Helper()
	d, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err) // not the url: a postgres one holds a password
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func TestOpenRejectsBadURLs(t *testing.T) {
	tests := []struct {
		url      string
		wantText string // the error must name this
	}{
		{"mysql://wx:s3cret@localhost/wx", `"mysql"`},
		{"mysql:whatever", `"mysql"`},
		{"postgres://wx:s3cret@localhost:notaport/wx", "cannot parse the postgres url"},
		{"postgres://wx:s3/cret@localhost/wx", "cannot parse the postgres url"},
		{"postgresql://wx:s3cret@localhost/wx?sslmode=bogus", "cannot parse the postgres url"},
		{"postgres://wx:s3cret@127.0.0.1:1/wx?connect_timeout=5", "database unavailable"},
		{"./data/wxavatar.db", `"./data/wxavatar.db"`},
		{"", `""`},
		{"sqlite:", "no path"},
		{"sqlite:/tmp/x.db?mode=ro", `unknown sqlite url option "mode"`},
		{"sqlite:/tmp/x.db?busy_timeout=forever", "busy_timeout"},
		{"sqlite:/tmp/x.db?busy_timeout=1s?x", "busy_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			d, err := Open(context.Background(), tt.url)
			if err == nil {
				d.Close()
				t.Fatalf("Open(%q): got nil error; want one", tt.url)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Open(%q) error = %q; want it to contain %s", tt.url, err, tt.wantText)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open(%q) error = %q; leaks the password", tt.url, err)
			}
		})
	}
}

func TestOpenBusyTimeoutOption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	d := openTest(t, "sqlite:"+path+"?busy_timeout=150ms")
	var ms int
	if err := d.sql.QueryRow("PRAGMA busy_timeout").Scan(&ms); err != nil || ms != 150 {
		t.Errorf("busy_timeout = %d, %v; want 150", ms, err)
	}
}

func TestOpenFileSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "wx.db")
	d := openTest(t, "sqlite:"+path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}

	// Hold two connections of each pool at once so the second is a fresh one: every connection
	// must carry the settings, not only the first.
	ctx := context.Background()
	for pool, db := range map[string]*sql.DB{"readers": d.sql, "writers": d.write} {
		for i := range 2 {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, p := range []struct{ pragma, want string }{
				{"journal_mode", "wal"},
				{"foreign_keys", "1"},
				{"busy_timeout", "5000"},
				{"synchronous", "1"},   // NORMAL
				{"cache_size", "-256"}, // KiB
			} {
				var got string
				if err := c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
					t.Fatalf("%s conn %d: PRAGMA %s: %v", pool, i, p.pragma, err)
				}
				if got != p.want {
					t.Errorf("%s conn %d: PRAGMA %s = %q; want %q", pool, i, p.pragma, got, p.want)
				}
			}
		}
	}
}

func TestMemoryIsOneDatabase(t *testing.T) {
	d := openTest(t, "sqlite::memory:")
	ctx := context.Background()
	if _, err := d.UpsertUser(ctx, avatar.User{ID: "u1", OpenID: "o1"}, t0); err != nil {
		t.Fatal(err)
	}
	// Calls from many goroutines must all see the same in-memory database.
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := d.UserByID(ctx, "u1")
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("UserByID: got %v; want nil", err)
		}
	}
}

func TestMigrationsTwiceIsNoop(t *testing.T) {
	ctx := context.Background()
	t.Run("memory", func(t *testing.T) {
		d := openTest(t, "sqlite::memory:")
		n, err := d.migrate(ctx)
		if err != nil || n != 0 {
			t.Errorf("second migrate: got %d applied, %v; want 0, nil", n, err)
		}
	})
	forEachSharedDB(t, func(t *testing.T, url string) {
		d, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.UpsertUser(ctx, avatar.User{ID: "u1", OpenID: "o1"}, t0); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		d = openTest(t, url) // migrates again on open
		n, err := d.migrate(ctx)
		if err != nil || n != 0 {
			t.Errorf("third migrate: got %d applied, %v; want 0, nil", n, err)
		}
		if _, err := d.UserByID(ctx, "u1"); err != nil {
			t.Errorf("UserByID after reopen: got %v; want the user kept", err)
		}
		var versions int
		if err := d.sql.QueryRowContext(ctx,
			`SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		if want := migrationCount(t, d); versions != want {
			t.Errorf("recorded migrations: got %d; want %d", versions, want)
		}
	})
}

func TestPingAndClosed(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		if err := d.Ping(ctx); err != nil {
			t.Fatalf("Ping: got %v; want nil", err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Ping(ctx); !errors.Is(err, avatar.ErrRecordsUnavailable) {
			t.Errorf("Ping after Close: got %v; want avatar.ErrRecordsUnavailable", err)
		}
		if _, err := d.UserByID(ctx, "x"); !errors.Is(err, avatar.ErrRecordsUnavailable) {
			t.Errorf("UserByID after Close: got %v; want avatar.ErrRecordsUnavailable", err)
		}
	})
}

// busyError provokes a real SQLITE_BUSY: one handle holds the write lock, another with a zero
// busy timeout tries to take it.
func busyError(t *testing.T) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "busy.db")
	holder := openRaw(t, path, 0)
	ctx := context.Background()
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other := openRaw(t, path, 0)
	tx2, err := other.BeginTx(ctx, nil)
	if err == nil {
		tx2.Rollback()
		t.Fatal("second BEGIN IMMEDIATE: got nil error; want SQLITE_BUSY")
	}
	return err
}

// openRaw opens path with the package's settings but no migrations and no translation.
func openRaw(t *testing.T, path string, busy time.Duration) *sql.DB {
	t.Helper()
	reads, sqldb, err := openSQLite(path, busy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqldb.Close(); reads.Close() })
	return sqldb
}

func TestTranslate(t *testing.T) {
	busy := busyError(t)
	var se *sqlite.Error
	if !errors.As(busy, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY {
		t.Fatalf("provoked error %v (%T); want a *sqlite.Error with SQLITE_BUSY", busy, busy)
	}
	other := errors.New("something else")
	tests := []struct {
		name string
		in   error
		want error // matched with errors.Is; nil means translate must return nil
	}{
		{"nil", nil, nil},
		{"no rows", sql.ErrNoRows, avatar.ErrNotFound},
		{"wrapped no rows", fmt.Errorf("scan: %w", sql.ErrNoRows), avatar.ErrNotFound},
		{"busy", busy, avatar.ErrRecordsUnavailable},
		{"conn done", sql.ErrConnDone, avatar.ErrRecordsUnavailable},
		{"canceled", context.Canceled, context.Canceled},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), context.DeadlineExceeded},
		{"already ours", avatar.ErrTooManyPending, avatar.ErrTooManyPending},
		{"other", other, other},
		// PostgreSQL: the server's SQLSTATEs, and connections that failed or broke.
		{"pg unique", fmt.Errorf("exec: %w", &pgconn.PgError{Code: "23505"}), avatar.ErrConflict},
		{"pg serialization", &pgconn.PgError{Code: "40001"}, avatar.ErrRecordsUnavailable},
		{"pg deadlock", &pgconn.PgError{Code: "40P01"}, avatar.ErrRecordsUnavailable},
		{"pg lock timeout", &pgconn.PgError{Code: "55P03"}, avatar.ErrRecordsUnavailable},
		{"pg admin shutdown", &pgconn.PgError{Code: "57P01"}, avatar.ErrRecordsUnavailable},
		{"pg starting up", &pgconn.PgError{Code: "57P03"}, avatar.ErrRecordsUnavailable},
		{"pg too many connections", &pgconn.PgError{Code: "53300"}, avatar.ErrRecordsUnavailable},
		{"pg connection failure", &pgconn.PgError{Code: "08006"}, avatar.ErrRecordsUnavailable},
		{"pg conn closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), avatar.ErrRecordsUnavailable},
		{"bad conn", driver.ErrBadConn, avatar.ErrRecordsUnavailable},
		{"net", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, avatar.ErrRecordsUnavailable},
		{"unexpected eof", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), avatar.ErrRecordsUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate(tt.in)
			if tt.want == nil {
				if got != nil {
					t.Errorf("translate(nil) = %v; want nil", got)
				}
				return
			}
			if !errors.Is(got, tt.want) {
				t.Errorf("translate(%v) = %v; want %v", tt.in, got, tt.want)
			}
		})
	}
	// The driver's error must stay visible for the log.
	if got := translate(busy); !errors.As(got, &se) {
		t.Errorf("translate(busy) = %v; want the *sqlite.Error kept in the chain", got)
	}
	// Constraint failures that are not uniqueness, and other SQLSTATEs, stay as they are.
	for _, code := range []string{"23503", "23514", "22021", "42P01"} {
		pe := &pgconn.PgError{Code: code}
		if got := translate(pe); got != error(pe) {
			t.Errorf("translate(SQLSTATE %s) = %v; want it unchanged", code, got)
		}
	}
	var pe *pgconn.PgError
	if got := translate(&pgconn.PgError{Code: "40P01"}); !errors.As(got, &pe) {
		t.Errorf("translate(deadlock) = %v; want the *pgconn.PgError kept in the chain", got)
	}
}

func TestTranslateUniqueViolation(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		_, err := d.exec(ctx,
			`INSERT INTO users (id, openid, created_at, updated_at) VALUES ('a', 'o', 0, 0), ('b', 'o', 0, 0)`)
		if got := translate(err); !errors.Is(got, avatar.ErrConflict) {
			t.Errorf("translate(%v) = %v; want avatar.ErrConflict", err, got)
		}
		// A foreign key failure is not a conflict the caller can act on.
		_, err = d.exec(ctx, `
			INSERT INTO uploads (id, user_id, object_key, content_type, url, max_bytes, created_at, expires_at)
			VALUES ('x', 'nobody', 'k', 'image/png', 'u', 1, 0, 0)`)
		if err == nil {
			t.Fatal("insert with unknown user_id: got nil error; want a foreign key failure")
		}
		if got := translate(err); errors.Is(got, avatar.ErrConflict) || errors.Is(got, avatar.ErrRecordsUnavailable) {
			t.Errorf("translate(%v) = %v; want it left as is", err, got)
		}
	})
}

// TestBusyThroughAPI checks that a writer that cannot get the lock in time reports
// avatar.ErrRecordsUnavailable from the public methods, with the driver's cause kept.
func TestBusyThroughAPI(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wx.db")
	d, err := open(ctx, "sqlite:"+path, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.UpsertUser(ctx, avatar.User{ID: "u1", OpenID: "o1"}, t0); err != nil {
		t.Fatal(err)
	}

	holder := openRaw(t, path, 0)
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	calls := []struct {
		name string
		call func() error
	}{
		{"SetNickname", func() error { _, err := d.SetNickname(ctx, "u1", "n", "", t0); return err }},
		{"CreateUpload", func() error { return d.CreateUpload(ctx, testUpload("u1", "up1"), 5, t0) }},
		{"ConfirmUpload", func() error { _, _, err := d.ConfirmUpload(ctx, "u1", "up1", 1, avatar.ReviewPlan{}, t0); return err }},
	}
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, avatar.ErrRecordsUnavailable) {
			t.Errorf("%s while locked: got %v; want avatar.ErrRecordsUnavailable", c.name, err)
		}
		var se *sqlite.Error
		if !errors.As(err, &se) {
			t.Errorf("%s while locked: got %v; want the *sqlite.Error kept", c.name, err)
		}
	}
	// Readers are not blocked by a writer in WAL mode.
	if _, err := d.UserByID(ctx, "u1"); err != nil {
		t.Errorf("UserByID while locked: got %v; want nil", err)
	}
}
