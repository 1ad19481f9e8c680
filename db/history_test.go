package db

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/db/dbtest"
)

// The size of the history TestHistoryPlans and BenchmarkHistory fill: what
// a month of traffic at about 23 signatures a minute leaves, kept for
// UPLOAD_RETENTION.
const (
	historyUsers   = 100_000
	historyUploads = 1_000_000
)

// fillHistory adds historyUsers users (h0, h1, …) and historyUploads upload
// records, in SQL, as traffic leaves them: each user's current avatar (the
// last historyUsers records, one per user, set within the last year: most
// older than the retention), and before them 225 pending
// uploads still valid at t0 (ten minutes of signatures), and of the rest,
// in every twenty, four rejected, six expired and ten confirmed then
// replaced, all with their objects deleted within the month before t0. On PostgreSQL it ends with ANALYZE, as autovacuum would.
func fillHistory(tb testing.TB, d *DB) {
	tb.Helper()
	ctx := context.Background()
	const day = int64(24 * time.Hour / time.Millisecond)
	at := toMillis(t0)
	firstCurrent := historyUploads - historyUsers + 1
	// A recursive CTE: both databases have it, where generate_series is
	// PostgreSQL's.
	series := func(n int) string {
		return fmt.Sprintf(`WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %d)`, n)
	}
	stmts := []string{
		series(historyUsers) + `
		INSERT INTO users (id, openid, nickname, created_at, updated_at)
		SELECT 'h' || (n - 1), 'openid-h' || (n - 1), '', ` + fmt.Sprint(at-40*day) + `, ` + fmt.Sprint(at) + ` FROM g`,
		series(historyUploads) + `
		INSERT INTO uploads (id, user_id, object_key, avatar_key, thumb_key, content_type, url, thumb_url, max_bytes,
			status, size, created_at, expires_at, confirmed_at, rejected_at, replaced_at, object_deleted_at, avatar_deleted_at)
		SELECT id, user_id, 'uploads/' || user_id || '/' || id || '.png', 'avatars/' || user_id || '/' || id || '/avatar',
			'avatars/' || user_id || '/' || id || '/thumb', 'image/png',
			'https://cdn.example.com/avatars/' || user_id || '/' || id || '/avatar',
			'https://cdn.example.com/avatars/' || user_id || '/' || id || '/thumb', 5242880,
			status, CASE WHEN status = 'confirmed' THEN 300000 ELSE 0 END, created, created + 600000,
			CASE WHEN status = 'confirmed' THEN created + 60000 END,
			CASE WHEN status = 'rejected' THEN created + 60000 END,
			CASE WHEN status = 'confirmed' AND NOT current THEN created + 120000 END,
			CASE WHEN status = 'pending' THEN NULL ELSE created + 1500000 END,
			CASE WHEN status = 'pending' OR current THEN NULL ELSE created + 1500000 END
		FROM (SELECT 'hx' || n AS id, 'h' || (n % ` + fmt.Sprint(historyUsers) + `) AS user_id,
				n >= ` + fmt.Sprint(firstCurrent) + ` AS current,
				CASE WHEN n >= ` + fmt.Sprint(firstCurrent) + ` THEN 'confirmed'
					WHEN n % 4000 = 0 THEN 'pending'
					WHEN n % 20 <= 3 THEN 'rejected'
					WHEN n % 20 <= 9 THEN 'expired'
					ELSE 'confirmed' END AS status,
				CASE WHEN n % 4000 = 0 AND n < ` + fmt.Sprint(firstCurrent) + ` THEN ` + fmt.Sprint(at-60000) + `
					WHEN n >= ` + fmt.Sprint(firstCurrent) + ` THEN ` + fmt.Sprint(at-365*day) + ` + (CAST(n AS BIGINT) * 2591) % ` + fmt.Sprint(364*day) + `
					ELSE ` + fmt.Sprint(at-30*day) + ` + (CAST(n AS BIGINT) * 2591) % ` + fmt.Sprint(29*day) + ` END AS created
			FROM g) AS h`,
		`UPDATE users SET avatar_upload_id = 'hx' || (` + fmt.Sprint(firstCurrent) + ` +
			((CAST(SUBSTR(id, 2) AS INTEGER) - ` + fmt.Sprint(firstCurrent) + `) % ` + fmt.Sprint(historyUsers) + ` + ` +
			fmt.Sprint(historyUsers) + `) % ` + fmt.Sprint(historyUsers) + `)
		WHERE id LIKE 'h%'`,
		`UPDATE users SET avatar_url = 'https://cdn.example.com/' || avatar_upload_id WHERE id LIKE 'h%'`,
	}
	if d.dialect == dialectPostgres {
		// As autovacuum would; the service never analyzes SQLite, whose
		// planner goes by its own rules without statistics.
		stmts = append(stmts, `ANALYZE`)
	}
	start := time.Now()
	for _, q := range stmts {
		if _, err := d.write.ExecContext(ctx, d.bind(q)); err != nil {
			tb.Fatalf("fill: %v\n%s", err, q)
		}
	}
	tb.Logf("history of %d uploads over %d users filled in %v", historyUploads, historyUsers, time.Since(start).Round(time.Millisecond))
}

// hotStatements are the statements of a signature, a confirm and a sweeper
// pass that read by something other than a primary key, with arguments as
// the service sends them at t0.
func hotStatements() map[string][]any {
	at := toMillis(t0)
	return map[string][]any{
		pendingCount: {"h42", at},
		insertUploadCapped: {"new1", "h42", "uploads/h42/new1.png", "avatars/h42/new1/avatar", "avatars/h42/new1/thumb",
			"image/png", "https://cdn.example.com/a", "https://cdn.example.com/t", 5242880, at, at + 600000, "h42", at, 5},
		`SELECT ` + uploadColumns + ` FROM uploads WHERE id = ? AND user_id = ?`: {"hx950000", "h50000"},
		limited(keyCandidates, 100):                        {at - 300000, at - 900000},
		limited(avatarCandidates, 100):                     {at - 300000, at - 86400000},
		limited(reviewCandidates, 20):                      {at},
		limited(pruneCandidates, 1000):                     {at - 30*86400000},
		keptVerdicts:                                       nil,
		limited(deletionCandidates, 100):                   {at, at - 300000},
		`DELETE FROM rate_limits WHERE tat < ?`:            {at},
		`DELETE FROM early_verdicts WHERE received_at < ?`: {at},
	}
}

// TestHistoryPlans: on PostgreSQL with a month's history (a million upload
// records over 100,000 users), the generic plan of every hot statement
// reads uploads and users through an index, never a sequential scan, so that a
// signature, a confirm and a sweeper pass cost what they cost on an empty
// database (BenchmarkHistory measures it). Slow (the fill takes seconds):
// skipped with -short.
func TestHistoryPlans(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million rows")
	}
	d := openTest(t, dbtest.PostgresURL(t))
	fillHistory(t, d)
	ctx := context.Background()
	// The service's connections use generic plans (openPostgres): the
	// plans to check are those, prepared as pgx prepares them.
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mode string
	if err := conn.QueryRowContext(ctx, `SHOW plan_cache_mode`).Scan(&mode); err != nil || mode != "force_generic_plan" {
		t.Fatalf("plan_cache_mode %q, %v; want force_generic_plan", mode, err)
	}
	i := 0
	for q, args := range hotStatements() {
		i++
		name := fmt.Sprintf("hot%d", i)
		if _, err := conn.ExecContext(ctx, `PREPARE `+name+` AS `+d.bind(q)); err != nil {
			t.Fatalf("PREPARE %s: %v", q, err)
		}
		values := make([]string, len(args))
		for j, a := range args {
			values[j] = "'" + strings.ReplaceAll(fmt.Sprint(a), "'", "''") + "'"
		}
		explain := `EXPLAIN (FORMAT JSON) EXECUTE ` + name
		if len(values) > 0 {
			explain += `(` + strings.Join(values, ", ") + `)`
		}
		var plan string
		if err := conn.QueryRowContext(ctx, explain).Scan(&plan); err != nil {
			t.Fatalf("%s: %v", explain, err)
		}
		// Past jit_above_cost (100,000 by default) PostgreSQL compiles the
		// query, tens of milliseconds each time: a sign of a plan gone
		// wrong on a statement that should touch a few rows.
		if cost := totalCost(t, plan); cost > 10_000 {
			t.Errorf("plan cost %.0f for\n%s", cost, q)
		}
		if scans := seqScans(t, plan); len(scans) > 0 {
			t.Errorf("sequential scan of %v in the plan of\n%s\n%s", scans, q, plan)
		}
		// A right plan on a wrong index still reads what it filters out:
		// the reads must stay a handful of pages, not grow with the users.
		if strings.HasPrefix(strings.TrimSpace(q), "SELECT") {
			if err := conn.QueryRowContext(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE `+
				strings.TrimPrefix(explain, `EXPLAIN (FORMAT JSON) EXECUTE `)).Scan(&plan); err != nil {
				t.Fatalf("%s: %v", explain, err)
			}
			if blocks := sharedBlocks(t, plan); blocks > 200 {
				t.Errorf("%d pages read for\n%s\n%s", blocks, q, plan)
			}
		}
	}
}

// sharedBlocks is the pages an analyzed JSON plan read, from the buffer
// cache or not.
func sharedBlocks(t *testing.T, plan string) int {
	var doc []struct {
		Plan struct {
			Hit  int `json:"Shared Hit Blocks"`
			Read int `json:"Shared Read Blocks"`
		}
	}
	if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) != 1 {
		t.Fatalf("plan: %v", err)
	}
	return doc[0].Plan.Hit + doc[0].Plan.Read
}

// totalCost is the estimated cost of a JSON plan.
func totalCost(t *testing.T, plan string) float64 {
	var doc []struct {
		Plan struct {
			TotalCost float64 `json:"Total Cost"`
		}
	}
	if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) != 1 {
		t.Fatalf("plan: %v", err)
	}
	return doc[0].Plan.TotalCost
}

// seqScans lists the relations a JSON plan reads by sequential scan.
func seqScans(t *testing.T, plan string) []string {
	var doc []struct{ Plan json.RawMessage }
	if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) != 1 {
		t.Fatalf("plan: %v", err)
	}
	var found []string
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		var n struct {
			NodeType string            `json:"Node Type"`
			Relation string            `json:"Relation Name"`
			Plans    []json.RawMessage `json:"Plans"`
		}
		if err := json.Unmarshal(raw, &n); err != nil {
			t.Fatal(err)
		}
		// The queues (object_deletions, early_verdicts) and rate_limits
		// are small by design: a scan of them is the planner's right call.
		if strings.Contains(n.NodeType, "Seq Scan") && (n.Relation == "uploads" || n.Relation == "users") {
			found = append(found, n.Relation)
		}
		for _, p := range n.Plans {
			walk(p)
		}
	}
	walk(doc[0].Plan)
	return found
}

// BenchmarkHistory: a signature, a confirm and a sweeper pass on an empty
// database and on one with a month's history, on each backend:
//
//	go test ./db -run '^$' -bench History -benchtime 2000x
//
// The history's figures should be within 1.2× of the empty database's.
func BenchmarkHistory(b *testing.B) {
	for _, be := range backends {
		for _, full := range []bool{false, true} {
			name := be.name + "/empty"
			if full {
				name = be.name + "/history"
			}
			b.Run(name, func(b *testing.B) {
				if be.name == "memory" {
					b.Skip("the file is SQLite's production shape")
				}
				d := openTest(b, be.url(b))
				if full {
					fillHistory(b, d)
				}
				for i := range 200 {
					mustUpsert(b, d, avatar.User{ID: fmt.Sprintf("b%03d", i), OpenID: fmt.Sprintf("ob%03d", i)}, t0)
				}
				benchOps(b, d)
			})
		}
	}
}

// benchOps measures the three operations one after the other on d.
func benchOps(b *testing.B, d *DB) {
	ctx := context.Background()
	n := 0
	next := func() avatar.Upload {
		n++
		u := testUpload(fmt.Sprintf("b%03d", n%200), fmt.Sprintf("bench%08d", n))
		u.ExpiresAt = t0.Add(10 * time.Minute)
		return u
	}
	b.Run("sign", func(b *testing.B) {
		for range b.N {
			if err := d.CreateUpload(ctx, next(), 5000, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("confirm", func(b *testing.B) {
		ups := make([]avatar.Upload, b.N)
		for i := range ups {
			ups[i] = next()
			if err := d.CreateUpload(ctx, ups[i], 0, t0); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for _, u := range ups {
			if _, _, err := d.ConfirmUpload(ctx, u.UserID, u.ID, 10, avatar.ReviewPlan{}, t0.Add(time.Second)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sweep-pass", func(b *testing.B) {
		s := &avatar.Sweeper{Records: d, Objects: noDeletes{}, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 },
			Grace: 24 * time.Hour, Retention: 30 * 24 * time.Hour}
		for range b.N {
			if _, err := s.SweepOnce(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// noDeletes deletes nothing: a pass over a history with nothing due.
type noDeletes struct{}

func (noDeletes) Delete(context.Context, string) error { return nil }
