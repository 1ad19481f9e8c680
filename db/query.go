package db

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// Every statement goes through these wrappers, which hand the driver the query in its
// dialect: the package's SQL is written once with '?' placeholders, which SQLite takes as is
// and PostgreSQL needs as $1, $2, …

// bind returns query for the backend's dialect. The rebound text is computed once per query
// and cached, so the hot path pays one map lookup.
func (d *DB) bind(query string) string {
	if d.dialect != dialectPostgres {
		return query
	}
	if q, ok := d.bound.Load(query); ok {
		return q.(string)
	}
	q := rebind(query)
	d.bound.Store(query, q)
	return q
}

// rebind numbers the '?' placeholders of query as $1, $2, … Question marks inside string
// literals, quoted identifiers and comments are left alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// Copy through the closing quote; a doubled quote is an escaped one and simply
			// closes and reopens.
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+1])
			i += end
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// querier is what both the pool and a transaction offer.
type querier interface {
	queryRow(ctx context.Context, query string, args ...any) *sql.Row
}

func (d *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.sql.ExecContext(ctx, d.bind(query), args...)
}

func (d *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.sql.QueryContext(ctx, d.bind(query), args...)
}

func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return d.sql.QueryRowContext(ctx, d.bind(query), args...)
}

// txn is a transaction whose statements are rebound like the pool's.
type txn struct {
	tx *sql.Tx
	d  *DB
}

// begin starts a transaction: BEGIN IMMEDIATE on SQLite (set in the DSN), the server's
// default READ COMMITTED on PostgreSQL.
func (d *DB) begin(ctx context.Context) (*txn, error) {
	t, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &txn{tx: t, d: d}, nil
}

func (t *txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.bind(query), args...)
}

func (t *txn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.bind(query), args...)
}

func (t *txn) Commit() error   { return t.tx.Commit() }
func (t *txn) Rollback() error { return t.tx.Rollback() }
