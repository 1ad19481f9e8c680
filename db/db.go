// Package db owns the records of users, avatar uploads and rate limits: the schema and its
// migrations, and the queries that read and change them. Two backends share every migration
// and every query: SQLite (modernc.org/sqlite, no cgo), the default, and PostgreSQL (pgx v5
// through database/sql), for several instances on one database. The SQL is written once, in
// the subset both accept, with '?' placeholders that query.go rebinds for PostgreSQL.
// Every write goes through one path, DB.do (query.go); what is SQLite's alone (opening a
// file, the statement cache, group commit, the WAL checkpointer) is in sqlite.go, and
// opening PostgreSQL in postgres.go.
//
// It implements the records the avatar package declares, with its types. Every error an
// exported method returns has been through translate, so callers only need to know the
// domain's avatar.ErrNotFound, ErrConflict, ErrTooManyPending, ErrRecordsUnavailable and
// context errors.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/wxavatar/wxavatar/avatar"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The errors callers act on are the domain's (avatar.ErrNotFound,
// avatar.ErrConflict, avatar.ErrTooManyPending, avatar.ErrRecordsUnavailable):
// every driver error is translated into one of these once, in translate.

// DB implements the domain's records.
var (
	_ avatar.Records      = (*DB)(nil)
	_ avatar.SweepRecords = (*DB)(nil)
)

//go:embed migrations/*.sql
var embedded embed.FS

// defaultBusyTimeout bounds how long a writer waits for another writer before the call
// fails with avatar.ErrRecordsUnavailable. It is well inside the 10 s budget the API gives a request.
const defaultBusyTimeout = 5 * time.Second

// DB is a handle on the database. It is safe for concurrent use.
type DB struct {
	sql *sql.DB // reads (and everything, on PostgreSQL and the memory database)
	// write takes every write. On a SQLite file writers also take the
	// writers lock, so they queue in Go instead of sleeping in SQLite's busy
	// handler (which backs off in steps up to 100 ms and wrecks tail
	// latency); WAL lets the readers of sql go on meanwhile.
	write   *sql.DB
	dialect dialect
	// writers is held by each write on a SQLite file (nil elsewhere): one
	// writer at a time, queued in Go rather than in SQLite's busy handler.
	writers *sync.Mutex
	// stmts caches prepared statements on a SQLite file, whose driver would
	// parse every query text again on every call.
	stmts sync.Map
	// batch groups concurrent writes on a SQLite file into one commit (see
	// sqlite.go); nil elsewhere.
	batch *batcher
	// checkpoints stops the background WAL checkpointer of a SQLite file.
	checkpoints struct {
		quit chan struct{}
		once sync.Once
		wg   sync.WaitGroup
	}
	// bound caches each query rebound for the dialect (see query.go). The keys are the
	// package's constant queries, so it stays small.
	bound sync.Map
	// applied is how many migrations Open applied.
	applied int
	// busyTimeout is SQLite's busy_timeout on every connection.
	busyTimeout time.Duration
}

// MigrationsApplied is how many migrations Open applied (0: the schema was
// already current).
func (d *DB) MigrationsApplied() int { return d.applied }

// dialect is the SQL flavour of the backend.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// Open parses the database url and applies the embedded migrations before returning.
//
//   - "sqlite:<path>" (creating the parent directory) or "sqlite::memory:": WAL journal,
//     busy_timeout, foreign keys on, write transactions BEGIN IMMEDIATE. The in-memory
//     database lives in a single connection (each SQLite connection to ":memory:" is its own
//     database), so all calls on it are serialized; it is meant for tests.
//   - "postgres://…" or "postgresql://…" (any libpq URL pgx accepts): a pool of up to 16
//     connections; several instances may open, migrate and use one database at once.
//
// Unknown scheme → error naming it. No error ever repeats the url, which may hold a password.
func Open(ctx context.Context, url string) (*DB, error) {
	return open(ctx, url, defaultBusyTimeout)
}

func open(ctx context.Context, rawURL string, busyTimeout time.Duration) (*DB, error) {
	scheme, rest, ok := strings.Cut(rawURL, ":")
	switch {
	case ok && (scheme == "postgres" || scheme == "postgresql"):
		return openPostgres(ctx, rawURL)
	case !ok || scheme != "sqlite":
		// Only the scheme is named: the rest of a URL may carry a password.
		return nil, fmt.Errorf("db: unsupported database url scheme %q (want sqlite:<path>, sqlite::memory: or postgres://…)", scheme)
	}
	return openSQLiteURL(ctx, rest, busyTimeout)
}

// migrate applies the embedded migrations that the database has not seen yet and reports how
// many it applied. The same files serve both dialects.
func (d *DB) migrate(ctx context.Context) (int, error) {
	p, err := d.migrator()
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("db: migrate: %w", translate(err))
	}
	return len(res), nil
}

// migrator is the goose provider of the embedded migrations for d.
func (d *DB) migrator() (*goose.Provider, error) {
	fsys, err := fs.Sub(embedded, "migrations")
	if err != nil {
		return nil, fmt.Errorf("db: migrations: %w", err)
	}
	gooseDialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(d.avatarUploadMigration()),
	}
	if d.dialect == dialectPostgres {
		gooseDialect = goose.DialectPostgres
		// Instances starting together on one database take turns: a session advisory lock
		// is held while migrating, retried every second for up to 5 minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("db: migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gooseDialect, d.write, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("db: migrations: %w", err)
	}
	return p, nil
}

// Close releases the database. An in-memory database is gone afterwards.
func (d *DB) Close() error {
	d.stopBatcher()
	d.stopCheckpointer()
	if d.write != d.sql {
		return errors.Join(d.sql.Close(), d.write.Close())
	}
	return d.sql.Close()
}

// Ping reports whether the database answers.
func (d *DB) Ping(ctx context.Context) error {
	return translate(d.sql.PingContext(ctx))
}

// foreignKeyViolation reports a SQLite foreign key failure (a missing
// referenced row).
func foreignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// translate turns driver errors into the package's vocabulary. It is the only place that
// knows SQLite result codes and PostgreSQL SQLSTATEs; the cause stays reachable through %w
// for logs.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, avatar.ErrNotFound), errors.Is(err, avatar.ErrConflict),
		errors.Is(err, avatar.ErrTooManyPending), errors.Is(err, avatar.ErrRecordsUnavailable):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return avatar.ErrNotFound
	case errors.Is(err, sql.ErrConnDone),
		// database/sql does not export its "database is closed" error.
		strings.Contains(err.Error(), "sql: database is closed"):
		return fmt.Errorf("%w: %w", avatar.ErrRecordsUnavailable, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		// Codes are extended result codes; the low byte is the primary code.
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %w", avatar.ErrRecordsUnavailable, err)
		case sqlite3.SQLITE_CONSTRAINT:
			switch se.Code() {
			case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
				return fmt.Errorf("%w: %w", avatar.ErrConflict, err)
			}
		}
		return err
	}
	// PostgreSQL. A connection that could not be made is unavailable whatever the server said
	// (too many connections, starting up, bad password), so that check comes first.
	var (
		ce *pgconn.ConnectError
		pe *pgconn.PgError
		ne net.Error
	)
	switch {
	case errors.As(err, &ce), pgconn.Timeout(err), errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", avatar.ErrRecordsUnavailable, err)
	case errors.As(err, &pe):
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %w", avatar.ErrConflict, err)
		case pgUnavailable(pe.Code), strings.HasPrefix(pe.Code, "08"): // 08: connection exception
			return fmt.Errorf("%w: %w", avatar.ErrRecordsUnavailable, err)
		}
		// 23503 foreign_key_violation stays as is, as on SQLite: the methods check the
		// referenced row first and answer ErrNotFound themselves.
	}
	return err
}

// pgUnavailable reports the SQLSTATEs after which the same call may succeed later.
func pgUnavailable(code string) bool {
	switch code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03", // lock_not_available (lock_timeout)
		"57014", // query_canceled (statement_timeout; a cancelled ctx is reported as such)
		"57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now
		"53300", // too_many_connections
		"53000", // insufficient_resources
		"25006": // read_only_sql_transaction: a failover left us on a standby
		return true
	}
	return false
}

// rowScanner is satisfied by *sql.Row and *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// Times are stored as unix milliseconds, so values read back compare equal to values
// returned by the writes only after the same truncation.
func toMillis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
