package db

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

func TestClaimSweep(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		for _, id := range []string{"first", "second", "abandoned", "fresh"} {
			mustCreateUpload(t, d, testUpload("u1", id), t0)
		}
		// first, then second become the avatar: first is replaced at t0+1m.
		if _, _, err := d.ConfirmUpload(ctx, "u1", "first", 10, avatar.ReviewPlan{}, t0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.ConfirmUpload(ctx, "u1", "second", 10, avatar.ReviewPlan{}, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		fresh := testUpload("u1", "fresh2")
		fresh.ExpiresAt = t0.Add(time.Hour)
		mustCreateUpload(t, d, fresh, t0)
		now := t0.Add(30 * time.Minute)
		policy := avatar.SweepPolicy{ExpiredBefore: now.Add(-15 * time.Minute), ReplacedBefore: now.Add(-time.Hour), Lease: 5 * time.Minute, Limit: 10}

		// Replaced too recently for the grace period. Every upload key whose
		// signature expired goes: the abandoned pending uploads' (fresh
		// expired at t0+10m too) with any copy a losing confirm made, and
		// the confirmed uploads' keys (their avatars are copies).
		tasks := claim(t, d, policy, now)
		want := map[string]string{
			"abandoned:expired": "avatars/u1/abandoned.png avatars/u1/abandoned/avatar.png avatars/u1/abandoned/thumb",
			"fresh:expired":     "avatars/u1/fresh.png avatars/u1/fresh/avatar.png avatars/u1/fresh/thumb",
			"first:spent":       "avatars/u1/first.png",
			"second:spent":      "avatars/u1/second.png",
		}
		if !equalTasks(tasks, want) {
			t.Errorf("claimed %v; want %v", tasks, want)
		}
		// A claimed pending upload is expired: a late confirm cannot win.
		if _, up, err := d.ConfirmUpload(ctx, "u1", "abandoned", 10, avatar.ReviewPlan{}, now); err != avatar.ErrConflict || up.Status != avatar.UploadExpired {
			t.Errorf("confirm after claim: %v, status %s; want avatar.ErrConflict, expired", err, up.Status)
		}
		// Claimed tasks are not handed out again while the lease holds.
		if got := claim(t, d, policy, now); len(got) != 0 {
			t.Errorf("claimed again within the lease: %v", got)
		}
		// Unfinished tasks come back once the lease runs out; finished ones don't.
		for _, task := range tasks {
			if task.UploadID != "fresh" {
				if err := d.FinishSweep(ctx, task, now); err != nil {
					t.Fatal(err)
				}
			}
		}
		later := now.Add(6 * time.Minute)
		tasks = claim(t, d, policy, later)
		if want := map[string]string{"fresh:expired": "avatars/u1/fresh.png avatars/u1/fresh/avatar.png avatars/u1/fresh/thumb"}; !equalTasks(tasks, want) {
			t.Errorf("after the lease: %v; want %v", tasks, want)
		}
		if err := d.FinishSweep(ctx, tasks[0], later); err != nil {
			t.Fatal(err)
		}
		// After the grace period the replaced avatar goes, never the one in
		// use; its upload key is gone already. A finished task's claim is
		// released at once.
		policy.ReplacedBefore = t0.Add(2 * time.Minute)
		tasks = claim(t, d, policy, later)
		if want := map[string]string{"first:replaced": "avatars/u1/first/avatar.png avatars/u1/first/thumb"}; !equalTasks(tasks, want) {
			t.Errorf("after the grace period: %v; want %v", tasks, want)
		}
		if err := d.FinishSweep(ctx, tasks[0], later); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, d, policy, later.Add(time.Hour)); len(got) != 0 {
			t.Errorf("everything finished, yet claimed %v", got)
		}
	})
}

// TestClaimSweepLegacyAvatar: a row from before avatars were copies is its
// own avatar: its key is never swept as spent, and once replaced it is
// deleted once.
func TestClaimSweepLegacyAvatar(t *testing.T) {
	// Rows from before the migration have avatar_key = object_key; rows that
	// instances of the old version write during a rolling upgrade, ''.
	for name, legacy := range map[string]string{"migrated": "object_key", "old instance": "''"} {
		t.Run(name, func(t *testing.T) { testClaimSweepLegacyAvatar(t, legacy) })
	}
}

func testClaimSweepLegacyAvatar(t *testing.T, legacy string) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustCreateUpload(t, d, testUpload("u1", "old"), t0)
		mustCreateUpload(t, d, testUpload("u1", "abandoned"), t0)
		// Legacy rows have no thumbnail either.
		if _, err := d.exec(ctx, `UPDATE uploads SET avatar_key = `+legacy+`, thumb_key = '', thumb_url = '' WHERE id IN ('old', 'abandoned')`); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.ConfirmUpload(ctx, "u1", "old", 10, avatar.ReviewPlan{}, t0); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(time.Hour)
		policy := avatar.SweepPolicy{ExpiredBefore: now, ReplacedBefore: now, Lease: time.Minute, Limit: 10}
		// A legacy avatar in use is never due; an abandoned legacy upload has
		// no copy to delete.
		tasks := claim(t, d, policy, now)
		if want := map[string]string{"abandoned:expired": "avatars/u1/abandoned.png"}; !equalTasks(tasks, want) {
			t.Errorf("claimed %v; want %v", tasks, want)
		}
		for _, task := range tasks {
			if err := d.FinishSweep(ctx, task, now); err != nil {
				t.Fatal(err)
			}
		}
		if up, err := d.UploadForUser(ctx, "u1", "old"); err != nil || up.AvatarKey != up.Key {
			t.Errorf("legacy upload: AvatarKey %q, %v; want the upload key %q", up.AvatarKey, err, up.Key)
		}
		mustCreateUpload(t, d, testUpload("u1", "new"), t0)
		if _, _, err := d.ConfirmUpload(ctx, "u1", "new", 10, avatar.ReviewPlan{}, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		tasks = claim(t, d, policy, now.Add(time.Hour))
		want := map[string]string{"old:replaced": "avatars/u1/old.png", "new:spent": "avatars/u1/new.png"}
		if !equalTasks(tasks, want) {
			t.Fatalf("claimed %v; want %v", tasks, want)
		}
		for _, task := range tasks {
			if err := d.FinishSweep(ctx, task, now); err != nil {
				t.Fatal(err)
			}
		}
		if got := claim(t, d, policy, now.Add(time.Hour)); len(got) != 0 {
			t.Errorf("claimed %v after every task finished", got)
		}
	})
}

// confirmAtOnce confirms the user's uploads ids concurrently.
func confirmAtOnce(t *testing.T, d *DB, userID string, now time.Time, ids ...string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := d.ConfirmUpload(context.Background(), userID, id, 10, avatar.ReviewPlan{}, now); err != nil {
				t.Errorf("confirm %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
}

func claim(t *testing.T, d *DB, p avatar.SweepPolicy, now time.Time) []avatar.SweepTask {
	t.Helper()
	tasks, err := d.ClaimSweep(context.Background(), p, now)
	if err != nil {
		t.Fatalf("ClaimSweep: %v", err)
	}
	return tasks
}

// equalTasks compares tasks with want, "id:reason" → space-separated keys.
func equalTasks(tasks []avatar.SweepTask, want map[string]string) bool {
	if len(tasks) != len(want) {
		return false
	}
	for _, task := range tasks {
		if keys, ok := want[task.UploadID+":"+string(task.Reason)]; !ok || keys != strings.Join(task.Keys, " ") {
			return false
		}
	}
	return true
}

// TestClaimSweepManyInstances: several processes on one database never claim
// the same task twice.
func TestClaimSweepManyInstances(t *testing.T) {
	forEachSharedDB(t, func(t *testing.T, url string) {
		first := openTest(t, url)
		mustUpsert(t, first, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		const n = 60
		for i := 0; i < n; i++ {
			mustCreateUpload(t, first, testUpload("u1", "up"+string(rune('A'+i/26))+string(rune('a'+i%26))), t0)
		}
		now := t0.Add(time.Hour)
		policy := avatar.SweepPolicy{ExpiredBefore: now, ReplacedBefore: now, Lease: time.Hour, Limit: 7}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			d := openTest(t, url) // its own pool, as another instance would have
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					tasks, err := d.ClaimSweep(context.Background(), policy, now)
					if err != nil {
						t.Errorf("ClaimSweep: %v", err)
						return
					}
					if len(tasks) == 0 {
						return
					}
					mu.Lock()
					for _, task := range tasks {
						seen[task.UploadID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("%d tasks claimed; want %d", len(seen), n)
		}
		for id, count := range seen {
			if count != 1 {
				t.Errorf("task %s claimed %d times", id, count)
			}
		}
	})
}

// TestSweepRejectedAndRacingConfirms: a rejected upload's key is swept once
// its signature has expired (it may have been uploaded to again), and two
// confirms racing for one user leave every avatar they replaced sweepable.
func TestSweepRejectedAndRacingConfirms(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		for _, id := range []string{"x", "a", "b", "bad"} {
			mustCreateUpload(t, d, testUpload("u1", id), t0)
		}
		if _, err := d.RejectUpload(ctx, "u1", "bad", t0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.ConfirmUpload(ctx, "u1", "x", 10, avatar.ReviewPlan{}, t0); err != nil {
			t.Fatal(err)
		}
		confirmAtOnce(t, d, "u1", t0.Add(time.Minute), "a", "b")
		u, err := d.UserByID(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		winner, loser := "a", "b"
		if strings.HasSuffix(u.AvatarURL, "/b/avatar.png") {
			winner, loser = "b", "a"
		}
		now := t0.Add(time.Hour)
		policy := avatar.SweepPolicy{ExpiredBefore: now, ReplacedBefore: now, Lease: time.Minute, Limit: 10}
		want := map[string]string{
			"bad:rejected":      "avatars/u1/bad.png avatars/u1/bad/avatar.png avatars/u1/bad/thumb",
			loser + ":replaced": "avatars/u1/" + loser + ".png avatars/u1/" + loser + "/avatar.png avatars/u1/" + loser + "/thumb",
			winner + ":spent":   "avatars/u1/" + winner + ".png",
			"x:replaced":        "avatars/u1/x.png avatars/u1/x/avatar.png avatars/u1/x/thumb",
		}
		if got := claim(t, d, policy, now); !equalTasks(got, want) {
			t.Errorf("claimed %v; want %v (avatar in use: %s)", got, want, winner)
		}
	})
}

// TestRacingConfirmsMarkEveryReplacedAvatar: many confirms racing for one
// user; afterwards every confirmed upload but the avatar in use is marked
// replaced (and so will be swept).
func TestRacingConfirmsMarkEveryReplacedAvatar(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		n := 0
		for round := 0; round < 15; round++ {
			var ids []string
			for k := 0; k < 6; k++ {
				id := fmt.Sprintf("r%02dk%d", round, k)
				mustCreateUpload(t, d, testUpload("u1", id), t0)
				n++
				ids = append(ids, id)
			}
			confirmAtOnce(t, d, "u1", t0.Add(time.Minute), ids...)
		}
		var unmarked int
		if err := d.queryRow(ctx, `SELECT COUNT(*) FROM uploads
			WHERE status = 'confirmed' AND replaced_at IS NULL`).Scan(&unmarked); err != nil {
			t.Fatal(err)
		}
		if unmarked != 1 {
			t.Errorf("%d confirmed uploads are neither the avatar nor marked replaced; want only the avatar (1)", unmarked)
		}
	})
}

// TestPruneUploads: a record goes once its objects are all deleted, past
// the retention; never one whose object is still there, one a sweeper holds,
// one a check waits on, or one a user names.
func TestPruneUploads(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		// gone: expired and swept; replaced and swept.
		mustCreateUpload(t, d, testUpload("u1", "expired"), t0)
		confirmAs(t, d, "u1", "replaced", avatar.ReviewPlan{}, t0)
		// kept: the avatar; an expired one whose key is not deleted yet;
		// one the sweeper holds; one waiting for its check.
		confirmAs(t, d, "u1", "current", avatar.ReviewPlan{}, t0.Add(time.Minute))
		mustCreateUpload(t, d, testUpload("u1", "notyet"), t0)
		mustCreateUpload(t, d, testUpload("u1", "held"), t0)
		deleted := toMillis(t0.Add(time.Hour))
		for _, q := range []string{
			`UPDATE uploads SET status = 'expired', object_deleted_at = ?, avatar_deleted_at = ? WHERE id = 'expired'`,
			`UPDATE uploads SET object_deleted_at = ?, avatar_deleted_at = ? WHERE id IN ('replaced', 'current')`,
			`UPDATE uploads SET status = 'expired', object_deleted_at = ?, avatar_deleted_at = ?, sweep_claimed_at = 1 WHERE id = 'held'`,
		} {
			if _, err := d.exec(ctx, q, deleted, deleted); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.exec(ctx, `UPDATE uploads SET status = 'expired', avatar_deleted_at = ? WHERE id = 'notyet'`, deleted); err != nil {
			t.Fatal(err)
		}
		confirmAs(t, d, "u1", "checking", avatar.ReviewPlan{Deadline: t0.Add(48 * time.Hour), Hold: true}, t0)
		if _, err := d.exec(ctx, `UPDATE uploads SET object_deleted_at = ?, avatar_deleted_at = ? WHERE id = 'checking'`, deleted, deleted); err != nil {
			t.Fatal(err)
		}

		if n, err := d.PruneUploads(ctx, t0.Add(time.Hour), 100); err != nil || n != 0 {
			t.Errorf("within the retention: pruned %d, %v; want none", n, err)
		}
		n, err := d.PruneUploads(ctx, t0.Add(2*time.Hour), 1)
		if err != nil || n != 1 {
			t.Errorf("a batch of one: pruned %d, %v; want 1", n, err)
		}
		if n, err := d.PruneUploads(ctx, t0.Add(2*time.Hour), 100); err != nil || n != 1 {
			t.Errorf("the rest: pruned %d, %v; want 1", n, err)
		}
		var left []string
		rows, err := d.query(ctx, `SELECT id FROM uploads ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			left = append(left, id)
		}
		rows.Close()
		if want := "[checking current held notyet]"; fmt.Sprint(left) != want {
			t.Errorf("left %v; want %s", left, want)
		}
	})
}
