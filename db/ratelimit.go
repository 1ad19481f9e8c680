package db

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Rate limits are kept in the database so that every instance counts against one budget.
// The algorithm is GCRA (the generic cell rate algorithm): one stored time per key, the
// theoretical arrival time (tat) of the next request. With emission interval T = 1m/perMinute
// and a burst of perMinute, a request at now is allowed iff max(tat, now) + T - now <= burst*T,
// that is iff tat <= now + (burst-1)*T; it then moves tat to max(tat, now) + T. A key whose
// tat has passed is as good as absent, which is what PruneRateLimits relies on.

// Allow counts one request under key against perMinute requests a minute, in bursts of up to
// perMinute, and reports whether it is allowed. When it is not, retryAfter (whole seconds,
// at least 1s) is how long until one request would be. perMinute <= 0 allows everything
// without touching the database.
//
// The check and the update are one statement, so concurrent calls from any number of
// instances never allow more than the budget: on PostgreSQL, INSERT … ON CONFLICT DO UPDATE
// locks the existing row and evaluates the WHERE on its latest version, under READ COMMITTED
// too; SQLite serializes writers.
func (d *DB) Allow(ctx context.Context, key string, perMinute int, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	if perMinute <= 0 {
		return true, 0, nil
	}
	t := emissionIntervalMillis(perMinute)
	nowMs := toMillis(now)
	latest := nowMs + int64(perMinute-1)*t // the latest tat that still admits a request

	// CASE rather than GREATEST/MAX: SQLite has no GREATEST and PostgreSQL's MAX is an
	// aggregate. A denied request leaves the row as it was and returns no row.
	var tat int64
	err = d.writeRow(ctx, func(r rowScanner) error { return r.Scan(&tat) }, `
		INSERT INTO rate_limits (key, tat) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET
			tat = CASE WHEN rate_limits.tat > ? THEN rate_limits.tat + ? ELSE excluded.tat END
		WHERE rate_limits.tat <= ?
		RETURNING tat`,
		key, nowMs+t, nowMs, t, latest)
	switch {
	case err == nil:
		return true, 0, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, 0, translate(err)
	}

	// Denied. The row may have moved (or been pruned) since: the answer is a hint anyway.
	err = d.queryRow(ctx, `SELECT tat FROM rate_limits WHERE key = ?`, key).Scan(&tat)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, 0, translate(err)
	}
	return false, wholeSeconds(time.Duration(tat-latest) * time.Millisecond), nil
}

// emissionIntervalMillis is 1m/perMinute in the table's unit, rounded up so that the rate
// never exceeds perMinute.
func emissionIntervalMillis(perMinute int) int64 {
	ms := time.Minute.Milliseconds()
	return (ms + int64(perMinute) - 1) / int64(perMinute)
}

// wholeSeconds rounds d up to whole seconds, at least one: Retry-After counts seconds, and
// a client told 0 would come straight back.
func wholeSeconds(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// PruneRateLimits deletes the keys idle long enough to have their whole burst back (their tat
// is before now), which changes no decision, and reports how many it deleted.
func (d *DB) PruneRateLimits(ctx context.Context, now time.Time) (int64, error) {
	n, err := d.exec(ctx, `DELETE FROM rate_limits WHERE tat < ?`, toMillis(now))
	return n, translate(err)
}
