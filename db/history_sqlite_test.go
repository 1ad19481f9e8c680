//go:build !race

// The SQLite history test runs without the race detector only: SQLite here
// is Go translated from C, and filling a million rows under the race
// detector's instrumentation takes many minutes (the test itself has no
// concurrency to check).

package db

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestHistoryPlansSQLite: the same on SQLite, which the service never
// analyzes: its planner's own rules keep every hot read of uploads and users
// on an index (EXPLAIN QUERY PLAN: SEARCH, or a SCAN of an index, never of
// the table). Slow: skipped with -short.
func TestHistoryPlansSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million rows")
	}
	d := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "history.db"))
	fillHistory(t, d)
	ctx := context.Background()
	for q, args := range hotStatements() {
		rows, err := d.sql.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q, args...)
		if err != nil {
			if strings.HasPrefix(strings.TrimSpace(q), "SELECT") {
				t.Fatalf("EXPLAIN QUERY PLAN %s: %v", q, err)
			}
			continue // a write: the read pool refuses to plan it
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if step == "SCAN uploads" || step == "SCAN users" {
				t.Errorf("a scan of the table in the plan of\n%s\n%s", q, strings.Join(plan, "\n"))
			}
		}
	}
}
