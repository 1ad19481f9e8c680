package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pool settings for PostgreSQL. A request makes a handful of short statements, so a pool this
// size keeps two cores busy without holding many server processes per instance (PostgreSQL
// allows 100 connections by default, shared by every instance).
const (
	pgMaxOpenConns    = 16
	pgMaxIdleConns    = 16 // as many as open: no reconnect churn under a steady load
	pgConnMaxLifetime = 30 * time.Minute
	pgConnMaxIdleTime = 5 * time.Minute
)

// openPostgres opens a pool on rawURL through pgx's database/sql driver, checks the server
// answers, and migrates. Transactions use the server's default READ COMMITTED: every
// method is written to be correct there (see the comments at each conditional UPDATE).
func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's own message quotes the url with the password masked on a best-effort basis
		// only, and the wrapped cause may quote it verbatim: say nothing about it.
		return nil, errors.New("db: cannot parse the postgres url (details withheld: it may hold a password)")
	}
	// Generic plans: the service's statements are few, prepared once per
	// connection, and each reads by an index whatever its arguments
	// (db/history_test.go checks their generic plans). With the default
	// (auto), PostgreSQL kept planning the sweeper's and the signature's
	// statements for each call, because a plan for the very arguments
	// always looks cheaper: with a month of history that planning was
	// most of a sweeper pass (455 µs against 88 µs on an empty database
	// for the pruning statement). An operator's own setting in the url
	// wins.
	if _, set := cfg.RuntimeParams["plan_cache_mode"]; !set {
		cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	sqldb := stdlib.OpenDB(*cfg)
	sqldb.SetMaxOpenConns(pgMaxOpenConns)
	sqldb.SetMaxIdleConns(pgMaxIdleConns)
	sqldb.SetConnMaxLifetime(pgConnMaxLifetime)
	sqldb.SetConnMaxIdleTime(pgConnMaxIdleTime)
	// pgx's connect errors name the user, database and host, never the password.
	if err := sqldb.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("db: connect to postgres: %w", translate(err)), sqldb.Close())
	}
	d := &DB{sql: sqldb, write: sqldb, dialect: dialectPostgres}
	if d.applied, err = d.migrate(ctx); err != nil {
		return nil, errors.Join(err, sqldb.Close())
	}
	return d, nil
}

// pipelined runs queries on one connection in one round trip: pgx sends them
// with a single Sync, so PostgreSQL runs them in order in one implicit
// transaction (a failure rolls back those before it), each with its own
// snapshot under READ COMMITTED. read gets their results in order. Where a
// write's statements do not depend on each other's answers, this replaces
// BEGIN, each statement and COMMIT, a round trip each, through
// database/sql; the pool stays database/sql's.
func (d *DB) pipelined(ctx context.Context, queries []pgQuery, read func(pgx.BatchResults) error) error {
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("db: pipelined: a %T is not pgx's", driverConn)
		}
		b := &pgx.Batch{}
		for _, q := range queries {
			b.Queue(d.bind(q.sql), q.args...)
		}
		br := c.Conn().SendBatch(ctx, b)
		return errors.Join(read(br), br.Close())
	})
}

// pgLockUploadCap is the first key of the advisory locks (two int4 keys,
// a key space apart from goose's single int8 key) that serialize one
// user's signatures while the pending cap is counted.
const pgLockUploadCap = 0x77786176 // "wxav"

// pgQuery is one statement of a pipeline.
type pgQuery struct {
	sql  string
	args []any
}

// foreignKeyViolationPG reports PostgreSQL's foreign_key_violation (a
// missing referenced row).
func foreignKeyViolationPG(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}
