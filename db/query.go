package db

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
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

// prepared returns query prepared on pool, from the cache, on a SQLite file;
// nil on PostgreSQL, whose driver caches prepared statements itself, and on
// the one-connection memory database, where preparing inside a transaction
// would wait for the connection the transaction holds.
func (d *DB) prepared(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	if d.dialect != dialectSQLite || d.write == d.sql {
		return nil
	}
	type key struct {
		pool  *sql.DB
		query string
	}
	k := key{pool, query}
	if st, ok := d.stmts.Load(k); ok {
		return st.(*sql.Stmt)
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain call below reports the error
	}
	if prev, loaded := d.stmts.LoadOrStore(k, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	return st
}

// lockWrites serializes writers on a SQLite file (see DB.write); elsewhere it
// is a no-op.
func (d *DB) lockWrites() func() {
	if d.writers == nil {
		return func() {}
	}
	d.writers.Lock()
	return d.writers.Unlock
}

// exec runs a write.
func (d *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer d.lockWrites()()
	q := d.bind(query)
	if st := d.prepared(ctx, d.write, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.write.ExecContext(ctx, q, args...)
}

// writeRow runs a write that returns a row (INSERT/UPDATE … RETURNING) and
// hands the row to scan while the write lock is held: the statement, and its
// implicit transaction, end only once the row is read.
func (d *DB) writeRow(ctx context.Context, scan func(rowScanner) error, query string, args ...any) error {
	defer d.lockWrites()()
	q := d.bind(query)
	if st := d.prepared(ctx, d.write, q); st != nil {
		return scan(st.QueryRowContext(ctx, args...))
	}
	return scan(d.write.QueryRowContext(ctx, q, args...))
}

func (d *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := d.bind(query)
	if st := d.prepared(ctx, d.sql, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.sql.QueryContext(ctx, q, args...)
}

func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := d.bind(query)
	if st := d.prepared(ctx, d.sql, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.sql.QueryRowContext(ctx, q, args...)
}

// txn is a transaction whose statements are rebound like the pool's.
type txn struct {
	tx     *sql.Tx
	d      *DB
	unlock func()
	done   sync.Once
}

// begin starts a write transaction: BEGIN IMMEDIATE on SQLite (set in the DSN), the
// server's default READ COMMITTED on PostgreSQL.
func (d *DB) begin(ctx context.Context) (*txn, error) {
	unlock := d.lockWrites()
	t, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		unlock()
		return nil, err
	}
	return &txn{tx: t, d: d, unlock: unlock}, nil
}

func (t *txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q := t.d.bind(query)
	if st := t.d.prepared(ctx, t.d.write, q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *txn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := t.d.bind(query)
	if st := t.d.prepared(ctx, t.d.write, q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *txn) Commit() error {
	defer t.done.Do(t.unlock)
	return t.tx.Commit()
}

func (t *txn) Rollback() error {
	defer t.done.Do(t.unlock)
	return t.tx.Rollback()
}
