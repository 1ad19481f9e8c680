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

// Every write goes through do, as one of two kinds of write. The kind says
// what undoing a failure takes where writes share a transaction (a SQLite
// file commits concurrent writes together, see sqlite.go), so that no caller
// has to know:
//
//   - stmt is one statement. A statement that fails changes nothing, and
//     the writes beside it are unaffected.
//   - unit is several statements that take effect together or not at all.
//     Sharing a transaction, it runs inside a savepoint of its own.
//
// A write's effects count only when do returns nil.
type write interface{ isWrite() }

// stmt is a write of one statement.
type stmt struct {
	query string
	args  []any
	// scan, when set, reads the row the statement returns (… RETURNING);
	// otherwise the statement is executed, and affected, when set, gets
	// the number of rows it changed.
	scan     func(rowScanner) error
	affected *int64
}

// unit is a write of several statements, run in a transaction (or a
// savepoint of one) that it must not commit or roll back itself.
type unit func(ctx context.Context, tx *txn) error

func (stmt) isWrite() {}
func (unit) isWrite() {}

// writer runs a write's statements: a transaction, or the write pool for a
// statement on its own.
type writer interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	queryRow(ctx context.Context, query string, args ...any) *sql.Row
}

func (s stmt) run(ctx context.Context, w writer) error {
	if s.scan != nil {
		return s.scan(w.queryRow(ctx, s.query, s.args...))
	}
	res, err := w.exec(ctx, s.query, s.args...)
	if err != nil || s.affected == nil {
		return err
	}
	*s.affected, err = res.RowsAffected()
	return err
}

// do runs w and commits it.
func (d *DB) do(ctx context.Context, w write) error {
	if d.batch != nil {
		return d.enqueue(ctx, w)
	}
	switch w := w.(type) {
	case stmt:
		// A statement on its own is its own transaction. (Only the group
		// commit's writer needs the writers' lock; without it, as here,
		// there is none to take.)
		return w.run(ctx, writePool{d})
	case unit:
		tx, err := d.begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := w(ctx, tx); err != nil {
			return err
		}
		return tx.Commit()
	}
	panic("db: unknown kind of write")
}

// exec runs a write of one statement and returns the number of rows it
// changed.
func (d *DB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := d.do(ctx, stmt{query: query, args: args, affected: &n})
	return n, err
}

// writeRow runs a write of one statement that returns a row (INSERT/UPDATE
// … RETURNING) and hands the row to scan.
func (d *DB) writeRow(ctx context.Context, scan func(rowScanner) error, query string, args ...any) error {
	return d.do(ctx, stmt{query: query, args: args, scan: scan})
}

// writePool runs statements on the write pool, outside any transaction.
type writePool struct{ d *DB }

func (p writePool) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q := p.d.bind(query)
	if st := p.d.prepared(ctx, p.d.write, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.d.write.ExecContext(ctx, q, args...)
}

// queryRow's row holds the statement, and its implicit transaction, open
// until it is scanned: stmt.run scans it at once.
func (p writePool) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := p.d.bind(query)
	if st := p.d.prepared(ctx, p.d.write, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.d.write.QueryRowContext(ctx, q, args...)
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

func (t *txn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.d.bind(query), args...)
}

func (t *txn) Commit() error {
	defer t.done.Do(t.unlock)
	return t.tx.Commit()
}

func (t *txn) Rollback() error {
	defer t.done.Do(t.unlock)
	return t.tx.Rollback()
}

// limited is query with a LIMIT of n written into it rather than bound: the
// planner then knows how few rows are wanted, also in the generic plan
// PostgreSQL reuses for a prepared statement, which for an unknown limit
// assumed a tenth of the table and planned parallel scans. n comes from the
// code, never from a request.
func limited(query string, n int) string {
	return query + " LIMIT " + strconv.Itoa(max(n, 1))
}
