package db

import (
	"context"
	"sync"
	"testing"
	"time"
)

func mustAllow(t *testing.T, d *DB, key string, perMinute int, now time.Time) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := d.Allow(context.Background(), key, perMinute, now)
	if err != nil {
		t.Fatalf("Allow(%q, %d, %v): %v", key, perMinute, now, err)
	}
	return ok, retry
}

func TestAllowBurstThenDeny(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		const perMinute = 5 // one every 12s
		for i := range perMinute {
			if ok, _ := mustAllow(t, d, "ip:1", perMinute, t0); !ok {
				t.Fatalf("request %d of the burst: denied; want allowed", i+1)
			}
		}
		ok, retry := mustAllow(t, d, "ip:1", perMinute, t0)
		if ok || retry != 12*time.Second {
			t.Errorf("request past the burst: got %v, retry after %v; want denied, 12s", ok, retry)
		}
		// A denied request costs nothing: the wait does not grow.
		if ok, retry := mustAllow(t, d, "ip:1", perMinute, t0.Add(2500*time.Millisecond)); ok || retry != 10*time.Second {
			t.Errorf("denied again 2.5s later: got %v, retry after %v; want denied, 10s (9.5s rounded up)", ok, retry)
		}
	})
}

func TestAllowRefills(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		const perMinute = 10 // one every 6s
		for range perMinute {
			mustAllow(t, d, "u1", perMinute, t0)
		}
		steps := []struct {
			after     time.Duration
			want      bool
			wantRetry time.Duration
		}{
			{6*time.Second - time.Millisecond, false, time.Second}, // 1ms short: at least 1s
			{6 * time.Second, true, 0},                             // one back
			{6 * time.Second, false, 6 * time.Second},              // and used
			{30 * time.Second, true, 0},                            // four more back by now
			{30 * time.Second, true, 0},
			{30 * time.Second, true, 0},
			{30 * time.Second, true, 0},
			{30 * time.Second, false, 6 * time.Second},
		}
		for i, s := range steps {
			ok, retry := mustAllow(t, d, "u1", perMinute, t0.Add(s.after))
			if ok != s.want || retry != s.wantRetry {
				t.Errorf("step %d at +%v: got %v, retry after %v; want %v, %v", i, s.after, ok, retry, s.want, s.wantRetry)
			}
		}
		// Idle for a minute: the whole burst is back, and no more.
		later := t0.Add(2 * time.Minute)
		for i := range perMinute {
			if ok, _ := mustAllow(t, d, "u1", perMinute, later); !ok {
				t.Fatalf("request %d after idling: denied; want allowed", i+1)
			}
		}
		if ok, _ := mustAllow(t, d, "u1", perMinute, later); ok {
			t.Errorf("request %d after idling: allowed; want denied", perMinute+1)
		}
	})
}

func TestAllowKeysAreIndependent(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		for range 3 {
			mustAllow(t, d, "ip:1", 3, t0)
		}
		if ok, _ := mustAllow(t, d, "ip:1", 3, t0); ok {
			t.Fatal("ip:1 past its burst: allowed; want denied")
		}
		for _, key := range []string{"ip:2", "user:ip:1", ""} {
			if ok, _ := mustAllow(t, d, key, 3, t0); !ok {
				t.Errorf("key %q: denied because of ip:1; want allowed", key)
			}
		}
	})
}

func TestAllowOffAndPrune(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		for _, perMinute := range []int{0, -1} {
			for range 100 {
				if ok, retry := mustAllow(t, d, "free", perMinute, t0); !ok || retry != 0 {
					t.Fatalf("perMinute %d: got %v, %v; want allowed", perMinute, ok, retry)
				}
			}
		}
		mustAllow(t, d, "once", 60, t0) // tat t0+1s
		for range 30 {
			mustAllow(t, d, "busy", 60, t0) // tat t0+30s
		}
		var rows int
		if err := d.queryRow(ctx, `SELECT COUNT(*) FROM rate_limits`).Scan(&rows); err != nil || rows != 2 {
			t.Errorf("rows: got %d, %v; want 2 (limit off stores nothing)", rows, err)
		}
		n, err := d.PruneRateLimits(ctx, t0.Add(10*time.Second))
		if err != nil || n != 1 {
			t.Errorf("PruneRateLimits at +10s: got %d, %v; want 1 (once), nil", n, err)
		}
		// busy kept its state.
		if ok, _ := mustAllow(t, d, "busy", 60, t0.Add(10*time.Second)); !ok {
			t.Error("busy after prune: denied; want allowed (30 of 60 left)")
		}
		if n, err := d.PruneRateLimits(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
			t.Errorf("PruneRateLimits an hour later: got %d, %v; want 1, nil", n, err)
		}
	})
}

// TestAllowAcrossInstances: two handles on one database (two instances) share the budget.
func TestAllowAcrossInstances(t *testing.T) {
	const workers, perMinute = 40, 10
	forEachSharedDB(t, func(t *testing.T, url string) {
		instances := []*DB{openTest(t, url), openTest(t, url)}
		var wg sync.WaitGroup
		allowed := make([]bool, workers)
		errs := make([]error, workers)
		for i := range workers {
			wg.Go(func() {
				allowed[i], _, errs[i] = instances[i%2].Allow(context.Background(), "session:203.0.113.7", perMinute, t0)
			})
		}
		wg.Wait()
		n := 0
		for i := range workers {
			if errs[i] != nil {
				t.Errorf("worker %d: %v", i, errs[i])
			}
			if allowed[i] {
				n++
			}
		}
		if n != perMinute {
			t.Errorf("allowed %d of %d; want exactly %d", n, workers, perMinute)
		}
	})
}

func TestWholeSeconds(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{
		{-time.Hour, time.Second}, {0, time.Second}, {time.Millisecond, time.Second},
		{time.Second, time.Second}, {time.Second + time.Millisecond, 2 * time.Second},
		{12 * time.Second, 12 * time.Second},
	} {
		if got := wholeSeconds(tt.in); got != tt.want {
			t.Errorf("wholeSeconds(%v) = %v; want %v", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		perMinute int
		want      int64
	}{{1, 60000}, {10, 6000}, {7, 8572}, {60000, 1}, {1 << 20, 1}} {
		if got := emissionIntervalMillis(tt.perMinute); got != tt.want {
			t.Errorf("emissionIntervalMillis(%d) = %d; want %d", tt.perMinute, got, tt.want)
		}
	}
}
