package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// confirmAs creates and confirms the upload id of userID at at, with plan.
func confirmAs(t *testing.T, d *DB, userID, id string, plan avatar.ReviewPlan, at time.Time) avatar.User {
	t.Helper()
	mustCreateUpload(t, d, testUpload(userID, id), at)
	u, _, err := d.ConfirmUpload(context.Background(), userID, id, 10, plan, at)
	if err != nil {
		t.Fatalf("ConfirmUpload(%s): %v", id, err)
	}
	return u
}

// reviewRow is what an upload's review columns hold.
type reviewRow struct {
	state, verdict, trace string
	attempts              int
	replaced, deleted     bool
}

func reviewOf(t *testing.T, d *DB, id string) reviewRow {
	t.Helper()
	var (
		r                      reviewRow
		state, verdict, trace  sql.NullString
		replaced, avatarIsGone bool
	)
	if err := d.queryRow(context.Background(), `SELECT review_state, review_verdict, review_trace_id, review_attempts,
			replaced_at IS NOT NULL, avatar_deleted_at IS NOT NULL FROM uploads WHERE id = ?`, id).
		Scan(&state, &verdict, &trace, &r.attempts, &replaced, &avatarIsGone); err != nil {
		t.Fatalf("review of %s: %v", id, err)
	}
	r.state, r.verdict, r.trace, r.replaced, r.deleted = state.String, verdict.String, trace.String, replaced, avatarIsGone
	return r
}

// queuedKeys lists object_deletions.
func queuedKeys(t *testing.T, d *DB) []string {
	t.Helper()
	rows, err := d.query(context.Background(), `SELECT object_key FROM object_deletions ORDER BY object_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func userNow(t *testing.T, d *DB, id string) avatar.User {
	t.Helper()
	u, err := d.UserByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func avatarURL(userID, id string) string { return testUpload(userID, id).URL }

// TestReviewShownAtOnce (AVATAR_REVIEW=after): the avatar is the user's at
// once and pending; the queue hands it to one reviewer at a time, retries a
// failed request when due, and waits for the verdict until the deadline; the
// replaced avatar is kept meanwhile; a risky verdict takes the avatar down,
// gives the user back the approved one, queues the objects and says why; the
// same verdict again, or one for no trace, changes nothing.
func TestReviewShownAtOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		confirmAs(t, d, "u1", "a", avatar.ReviewPlan{}, t0) // before content security: approved
		t1 := t0.Add(time.Hour)
		deadline := t1.Add(time.Hour)
		u := confirmAs(t, d, "u1", "b", avatar.ReviewPlan{Deadline: deadline}, t1)
		if u.AvatarURL != avatarURL("u1", "b") || u.AvatarReview != avatar.ReviewPending || u.AvatarReviewUploadID != "b" {
			t.Fatalf("after confirm: %+v; want avatar b, review pending for b", u)
		}

		tasks, err := d.ClaimReviews(ctx, t1, time.Minute, 10)
		want := avatar.ReviewTask{UploadID: "b", UserID: "u1", OpenID: "o1", URL: avatarURL("u1", "b"), State: "queued", Deadline: deadline}
		if err != nil || len(tasks) != 1 || tasks[0] != want {
			t.Fatalf("ClaimReviews: %+v, %v; want [%+v]", tasks, err, want)
		}
		if again, _ := d.ClaimReviews(ctx, t1.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
			t.Errorf("claimed again within the lease: %+v", again)
		}
		if err := d.ReviewFailed(ctx, "b", true, t1.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if early, _ := d.ClaimReviews(ctx, t1.Add(90*time.Second), time.Minute, 10); len(early) != 0 {
			t.Errorf("claimed before the retry is due: %+v", early)
		}
		tasks, _ = d.ClaimReviews(ctx, t1.Add(2*time.Minute), time.Minute, 10)
		if len(tasks) != 1 || tasks[0].Attempts != 1 || !tasks[0].Refused {
			t.Fatalf("the retry: %+v; want b after one refused attempt", tasks)
		}
		if err := d.ReviewAsked(ctx, "b", "trace-b", t1.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if r := reviewOf(t, d, "b"); r.state != "waiting" || r.trace != "trace-b" {
			t.Errorf("after the request: %+v; want waiting for trace-b", r)
		}
		if waiting, _ := d.ClaimReviews(ctx, deadline.Add(-time.Second), time.Minute, 10); len(waiting) != 0 {
			t.Errorf("a waiting avatar claimed before its deadline: %+v", waiting)
		}

		// a, replaced by b, outlives the sweeper's grace while b waits.
		sweep := avatar.SweepPolicy{ExpiredBefore: t0, ReplacedBefore: deadline, Lease: time.Minute, Limit: 10}
		if claimed, _ := d.ClaimSweep(ctx, sweep, t1.Add(3*time.Minute)); len(claimed) != 0 {
			t.Errorf("swept while a later avatar waits for its verdict: %+v", claimed)
		}

		now := t1.Add(10 * time.Minute)
		out, err := d.DecideReview(ctx, avatar.ReviewDecision{TraceID: "trace-b", Verdict: "risky", Label: 20002}, 15*time.Minute, now)
		if err != nil || !out.Reverted || out.Shown || out.UserID != "u1" || len(out.Deletions) != 2 {
			t.Fatalf("DecideReview risky: %+v, %v; want b reverted with two deletions", out, err)
		}
		u = userNow(t, d, "u1")
		if u.AvatarURL != avatarURL("u1", "a") || u.AvatarThumbURL != testUpload("u1", "a").ThumbURL ||
			u.AvatarReview != avatar.ReviewRejected || u.AvatarReviewUploadID != "b" || u.AvatarReviewReason != "risky" {
			t.Errorf("after the takedown: %+v; want avatar a back, review rejected for b (risky)", u)
		}
		if keys := queuedKeys(t, d); fmt.Sprint(keys) != "[avatars/u1/b/avatar.png avatars/u1/b/thumb]" {
			t.Errorf("queued %v; want b's avatar and thumbnail", keys)
		}
		if r := reviewOf(t, d, "a"); r.replaced || r.deleted {
			t.Errorf("a, the avatar again: %+v; want neither replaced nor deleted", r)
		}
		if r := reviewOf(t, d, "b"); r.state != "taken_down" || r.verdict != "risky" || !r.deleted {
			t.Errorf("b: %+v; want taken down, risky, deleted", r)
		}
		if _, err := d.DecideReview(ctx, avatar.ReviewDecision{TraceID: "trace-b", Verdict: "risky"}, 15*time.Minute, now); !errors.Is(err, avatar.ErrConflict) {
			t.Errorf("the same verdict again: %v; want ErrConflict", err)
		}
		if _, err := d.DecideReview(ctx, avatar.ReviewDecision{TraceID: "nobody", Verdict: "pass", Approve: true}, 15*time.Minute, now); !errors.Is(err, avatar.ErrNotFound) {
			t.Errorf("a verdict for no trace: %v; want ErrNotFound", err)
		}
		if u2 := userNow(t, d, "u1"); u2.AvatarURL != u.AvatarURL || u2.AvatarReview != u.AvatarReview {
			t.Errorf("the repeated verdicts changed the user: %+v", u2)
		}
	})
}

// TestReviewFirstAvatarTakenDown: with nothing approved to go back to, the
// user has no avatar.
func TestReviewFirstAvatarTakenDown(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		confirmAs(t, d, "u1", "a", avatar.ReviewPlan{Deadline: t0.Add(time.Hour)}, t0)
		if _, err := d.DecideReview(context.Background(), avatar.ReviewDecision{UploadID: "a", Deadline: t0.Add(time.Hour), Verdict: "unchecked"}, 15*time.Minute, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if u := userNow(t, d, "u1"); u.AvatarURL != "" || u.AvatarThumbURL != "" || u.AvatarReview != avatar.ReviewRejected || u.AvatarReviewReason != "unchecked" {
			t.Errorf("after the takedown: %+v; want no avatar, rejected (unchecked)", u)
		}
	})
}

// TestReviewHeld (AVATAR_REVIEW=before): the avatar stays the approved one
// while the new one waits; a pass shows the latest held avatar, not one
// superseded meanwhile (which the sweeper gets); a risky one never shows.
func TestReviewHeld(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		confirmAs(t, d, "u1", "a", avatar.ReviewPlan{}, t0)
		held := avatar.ReviewPlan{Deadline: t0.Add(time.Hour), Hold: true}
		u := confirmAs(t, d, "u1", "b", held, t0.Add(time.Minute))
		if u.AvatarURL != avatarURL("u1", "a") || u.AvatarReview != avatar.ReviewPending || u.AvatarReviewUploadID != "b" {
			t.Fatalf("after a held confirm: %+v; want avatar a, pending b", u)
		}
		confirmAs(t, d, "u1", "c", held, t0.Add(2*time.Minute))

		out, err := d.DecideReview(ctx, avatar.ReviewDecision{UploadID: "b", Deadline: t0.Add(time.Hour), Verdict: "pass", Approve: true}, 15*time.Minute, t0.Add(3*time.Minute))
		if err != nil || out.Shown {
			t.Fatalf("pass for the superseded b: %+v, %v; want not shown", out, err)
		}
		if u := userNow(t, d, "u1"); u.AvatarURL != avatarURL("u1", "a") || u.AvatarReviewUploadID != "c" {
			t.Errorf("after b passed: %+v; want avatar a, pending c", u)
		}
		if r := reviewOf(t, d, "b"); r.state != "approved" || !r.replaced {
			t.Errorf("b: %+v; want approved and replaced (the sweeper's)", r)
		}

		out, err = d.DecideReview(ctx, avatar.ReviewDecision{UploadID: "c", Deadline: t0.Add(time.Hour), Verdict: "pass", Approve: true}, 15*time.Minute, t0.Add(4*time.Minute))
		if err != nil || !out.Shown {
			t.Fatalf("pass for c: %+v, %v; want shown", out, err)
		}
		u = userNow(t, d, "u1")
		if u.AvatarURL != avatarURL("u1", "c") || u.AvatarThumbURL != testUpload("u1", "c").ThumbURL || u.AvatarReview != "" {
			t.Errorf("after c passed: %+v; want avatar c, nothing to tell", u)
		}
		if r := reviewOf(t, d, "a"); !r.replaced {
			t.Errorf("a: %+v; want replaced by c", r)
		}

		confirmAs(t, d, "u1", "d", held, t0.Add(5*time.Minute))
		out, err = d.DecideReview(ctx, avatar.ReviewDecision{UploadID: "d", Deadline: t0.Add(time.Hour), Verdict: "review"}, 15*time.Minute, t0.Add(6*time.Minute))
		if err != nil || out.Reverted || len(out.Deletions) != 2 {
			t.Fatalf("review for the held d: %+v, %v; want its objects deleted, nothing reverted", out, err)
		}
		if u := userNow(t, d, "u1"); u.AvatarURL != avatarURL("u1", "c") || u.AvatarReview != avatar.ReviewRejected ||
			u.AvatarReviewUploadID != "d" || u.AvatarReviewReason != "review" {
			t.Errorf("after d was refused: %+v; want avatar c, rejected d (review)", u)
		}
	})
}

// TestReviewLateVerdict: an avatar kept unchecked at its deadline is still
// taken down by a risky verdict that comes later; a late pass changes only
// the record.
func TestReviewLateVerdict(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		for _, id := range []string{"a", "b"} {
			confirmAs(t, d, "u1", id, avatar.ReviewPlan{Deadline: t0.Add(time.Hour)}, t0)
			if err := d.ReviewAsked(ctx, id, "trace-"+id, t0); err != nil {
				t.Fatal(err)
			}
			if _, err := d.DecideReview(ctx, avatar.ReviewDecision{UploadID: id, Deadline: t0.Add(time.Hour), Verdict: "unchecked", Approve: true}, 15*time.Minute, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.DecideReview(ctx, avatar.ReviewDecision{UploadID: "b", Deadline: t0.Add(time.Hour), Verdict: "unchecked", Approve: true}, 15*time.Minute, t0.Add(time.Hour)); !errors.Is(err, avatar.ErrConflict) {
			t.Errorf("a second deadline decision: %v; want ErrConflict", err)
		}
		if _, err := d.DecideReview(ctx, avatar.ReviewDecision{TraceID: "trace-a", Verdict: "pass", Approve: true}, 15*time.Minute, t0.Add(2*time.Hour)); err != nil {
			t.Errorf("late pass: %v", err)
		}
		if r := reviewOf(t, d, "a"); r.state != "approved" || r.verdict != "pass" {
			t.Errorf("a after a late pass: %+v; want approved, pass", r)
		}
		out, err := d.DecideReview(ctx, avatar.ReviewDecision{TraceID: "trace-b", Verdict: "risky"}, 15*time.Minute, t0.Add(2*time.Hour))
		if err != nil || !out.Reverted {
			t.Fatalf("late risky: %+v, %v; want b taken down", out, err)
		}
		if u := userNow(t, d, "u1"); u.AvatarURL != avatarURL("u1", "a") || u.AvatarReviewReason != "risky" {
			t.Errorf("after the late risky verdict: %+v; want avatar a, rejected b", u)
		}
	})
}

// TestRequeueReview: the current avatar is queued again once, however many
// times WeChat asks.
func TestRequeueReview(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustUpsert(t, d, avatar.User{ID: "u2", OpenID: "o2"}, t0)
		confirmAs(t, d, "u1", "a", avatar.ReviewPlan{}, t0)
		for range 2 {
			if err := d.RequeueReview(ctx, "u1", t0.Add(2*time.Hour), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.RequeueReview(ctx, "u2", t0.Add(2*time.Hour), t0.Add(time.Hour)); err != nil {
			t.Errorf("a user without an avatar: %v; want nothing to do", err)
		}
		tasks, err := d.ClaimReviews(ctx, t0.Add(time.Hour), time.Minute, 10)
		if err != nil || len(tasks) != 1 || tasks[0].UploadID != "a" || !tasks[0].Deadline.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("ClaimReviews: %+v, %v; want a, once", tasks, err)
		}
	})
}

// TestRevokeDeletesEveryAvatar: withdrawing the avatar deletes the current
// one, those replaced within the grace period and those waiting for a
// verdict, which can then never show.
func TestRevokeDeletesEveryAvatar(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		confirmAs(t, d, "u1", "a", avatar.ReviewPlan{}, t0)
		confirmAs(t, d, "u1", "b", avatar.ReviewPlan{}, t0.Add(time.Minute))
		confirmAs(t, d, "u1", "c", avatar.ReviewPlan{Deadline: t0.Add(time.Hour), Hold: true}, t0.Add(2*time.Minute))
		now := t0.Add(3 * time.Minute)
		queued, err := d.RevokeProfile(ctx, "u1", false, true, 15*time.Minute, now)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, q := range queued {
			keys = append(keys, q.Key)
		}
		sort.Strings(keys)
		want := "[avatars/u1/a/avatar.png avatars/u1/a/thumb avatars/u1/b/avatar.png avatars/u1/b/thumb avatars/u1/c/avatar.png avatars/u1/c/thumb]"
		if fmt.Sprint(keys) != want {
			t.Errorf("queued %v; want %s", keys, want)
		}
		if u := userNow(t, d, "u1"); u.AvatarURL != "" || u.AvatarReview != "" {
			t.Errorf("after the revocation: %+v; want no avatar, nothing to tell", u)
		}
		if _, err := d.DecideReview(ctx, avatar.ReviewDecision{UploadID: "c", Deadline: t0.Add(time.Hour), Verdict: "pass", Approve: true}, 15*time.Minute, now); !errors.Is(err, avatar.ErrConflict) {
			t.Errorf("a verdict for the revoked c: %v; want ErrConflict", err)
		}
		if u := userNow(t, d, "u1"); u.AvatarURL != "" {
			t.Errorf("a verdict showed a revoked avatar: %+v", u)
		}
	})
}

// TestFinishKeepsALaterDeletion: a key queued again, for later, while its
// first deletion ran is not forgotten when that one finishes.
func TestFinishKeepsALaterDeletion(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		if err := d.QueueObjectDeletions(ctx, []avatar.ObjectDeletion{{Key: "k", NotBefore: t0}}); err != nil {
			t.Fatal(err)
		}
		if claimed, _ := d.ClaimObjectDeletions(ctx, t0, time.Minute, 10); len(claimed) != 1 {
			t.Fatalf("claimed %v; want k", claimed)
		}
		if err := d.QueueObjectDeletions(ctx, []avatar.ObjectDeletion{{Key: "k", NotBefore: t0.Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		if err := d.FinishObjectDeletion(ctx, "k", t0); err != nil {
			t.Fatal(err)
		}
		if claimed, _ := d.ClaimObjectDeletions(ctx, t0.Add(time.Hour), time.Minute, 10); len(claimed) != 1 {
			t.Errorf("at the later time: claimed %v; want k again", claimed)
		}
		if err := d.FinishObjectDeletion(ctx, "k", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if keys := queuedKeys(t, d); len(keys) != 0 {
			t.Errorf("left queued: %v", keys)
		}
	})
}

// TestEraseRacingCreateUpload: an erasure and new uploads of the same user
// at once end with the user gone and nothing else: each create either
// lands first (and is erased) or finds no user; no foreign key error, no
// orphan row.
func TestEraseRacingCreateUpload(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		for round := range 20 {
			user := fmt.Sprintf("r%02d", round)
			mustUpsert(t, d, avatar.User{ID: user, OpenID: "o-" + user}, t0)
			var wg sync.WaitGroup
			errs := make(chan error, 5)
			for i := range 4 {
				wg.Go(func() {
					err := d.CreateUpload(ctx, testUpload(user, fmt.Sprintf("%s-%d", user, i)), 0, t0)
					if err != nil && !errors.Is(err, avatar.ErrNotFound) {
						errs <- fmt.Errorf("CreateUpload: %w", err)
					}
				})
			}
			wg.Go(func() {
				if _, err := d.EraseUser(ctx, user, time.Minute, t0); err != nil {
					errs <- fmt.Errorf("EraseUser: %w", err)
				}
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("round %d: %v", round, err)
			}
			var n int
			if err := d.queryRow(ctx, `SELECT COUNT(*) FROM uploads WHERE user_id = ?`, user).Scan(&n); err != nil || n != 0 {
				t.Errorf("round %d: %d uploads left of the erased user (%v)", round, n, err)
			}
		}
	})
}

// TestMigration9DownAndUp: the review columns go and come back, keeping the
// rows, so that a release can be rolled back.
func TestMigration9DownAndUp(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		confirmAs(t, d, "u1", "a", avatar.ReviewPlan{Deadline: t0.Add(time.Hour)}, t0)
		p, err := d.migrator()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 8); err != nil {
			t.Fatalf("down to 8: %v", err)
		}
		var url string
		if err := d.queryRow(ctx, `SELECT avatar_url FROM users WHERE id = 'u1'`).Scan(&url); err != nil || url != avatarURL("u1", "a") {
			t.Errorf("at 8: avatar %q, %v; want a kept", url, err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}
		if u := userNow(t, d, "u1"); u.AvatarURL != avatarURL("u1", "a") || u.AvatarReview != "" {
			t.Errorf("up again: %+v; want avatar a, nothing to tell", u)
		}
	})
}

// TestReviewLegacyTakedownDeletesTheKey: an avatar from before avatars were
// copies lives under its upload key; taken down, that key is queued (no
// sweeper rule takes it from a confirmed row).
func TestReviewLegacyTakedownDeletesTheKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		confirmAs(t, d, "u1", "a", avatar.ReviewPlan{}, t0)
		if _, err := d.exec(ctx, `UPDATE uploads SET avatar_key = object_key, thumb_key = '' WHERE id = 'a'`); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(48 * time.Hour)
		if err := d.RequeueReview(ctx, "u1", now.Add(time.Hour), now); err != nil {
			t.Fatal(err)
		}
		if err := d.ReviewAsked(ctx, "a", "trace-a", now); err != nil {
			t.Fatal(err)
		}
		out, err := d.DecideReview(ctx, avatar.ReviewDecision{TraceID: "trace-a", Verdict: "risky"}, 15*time.Minute, now)
		key := testUpload("u1", "a").Key
		if err != nil || len(out.Deletions) != 1 || out.Deletions[0].Key != key || !out.Deletions[0].NotBefore.Equal(now) {
			t.Fatalf("DecideReview: %+v, %v; want the upload key queued now", out, err)
		}
		if keys := queuedKeys(t, d); len(keys) != 1 || keys[0] != key {
			t.Errorf("queued %v; want %s", keys, key)
		}
	})
}

// TestEraseRacingConfirm: an erasure and a confirm of the same user at once
// both finish, on PostgreSQL too: every transaction locks the user row
// before upload rows, so none waits on another in a cycle.
func TestEraseRacingConfirm(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		for round := range 20 {
			user := fmt.Sprintf("c%02d", round)
			mustUpsert(t, d, avatar.User{ID: user, OpenID: "o-" + user}, t0)
			confirmAs(t, d, user, user+"-old", avatar.ReviewPlan{}, t0)
			mustCreateUpload(t, d, testUpload(user, user+"-new"), t0)
			var wg sync.WaitGroup
			var confirmErr, eraseErr error
			wg.Go(func() {
				_, _, confirmErr = d.ConfirmUpload(ctx, user, user+"-new", 10, avatar.ReviewPlan{}, t0.Add(time.Minute))
			})
			wg.Go(func() { _, eraseErr = d.EraseUser(ctx, user, time.Minute, t0.Add(time.Minute)) })
			wg.Wait()
			if confirmErr != nil && !errors.Is(confirmErr, avatar.ErrNotFound) {
				t.Errorf("round %d: confirm: %v; want it done, or the user gone", round, confirmErr)
			}
			if eraseErr != nil {
				t.Errorf("round %d: erase: %v", round, eraseErr)
			}
		}
	})
}

// TestSweepKeepsOnlyTheFallback: while the user's avatar waits for its
// verdict, the sweeper keeps the one avatar a takedown would put back, and
// sweeps the other replaced ones; a held avatar waiting (never the user's
// avatar, so never reverted) keeps nothing.
func TestSweepKeepsOnlyTheFallback(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		mustUpsert(t, d, avatar.User{ID: "u2", OpenID: "o2"}, t0)
		for i, id := range []string{"a", "b", "c"} {
			confirmAs(t, d, "u1", id, avatar.ReviewPlan{}, t0.Add(time.Duration(i)*time.Minute))
			confirmAs(t, d, "u2", "h"+id, avatar.ReviewPlan{}, t0.Add(time.Duration(i)*time.Minute))
		}
		confirmAs(t, d, "u1", "d", avatar.ReviewPlan{Deadline: t0.Add(2 * time.Hour)}, t0.Add(3*time.Minute))
		confirmAs(t, d, "u2", "hd", avatar.ReviewPlan{Deadline: t0.Add(2 * time.Hour), Hold: true}, t0.Add(3*time.Minute))
		now := t0.Add(time.Hour)
		tasks, err := d.ClaimSweep(ctx, avatar.SweepPolicy{ExpiredBefore: t0, ReplacedBefore: now, Lease: time.Minute, Limit: 10}, now)
		if err != nil {
			t.Fatal(err)
		}
		var swept []string
		for _, task := range tasks {
			swept = append(swept, task.UploadID)
		}
		sort.Strings(swept)
		if want := "[a b ha hb]"; fmt.Sprint(swept) != want {
			t.Errorf("swept %v; want %s (c kept for u1's pending d; hc is u2's avatar)", swept, want)
		}
	})
}

// TestRevertPassesOverAvatarBeingSwept: a takedown does not put back an
// avatar the sweeper has claimed, which it may be deleting right now.
func TestRevertPassesOverAvatarBeingSwept(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		confirmAs(t, d, "u1", "a", avatar.ReviewPlan{}, t0)
		t1 := t0.Add(time.Minute)
		confirmAs(t, d, "u1", "b", avatar.ReviewPlan{Deadline: t1.Add(time.Hour)}, t1)
		if err := d.ReviewAsked(ctx, "b", "trace-b", t1); err != nil {
			t.Fatal(err)
		}
		if _, err := d.DecideReview(ctx, avatar.ReviewDecision{UploadID: "b", Deadline: t1.Add(time.Hour), Verdict: "unchecked", Approve: true},
			15*time.Minute, t1.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		now := t1.Add(2 * time.Hour)
		tasks, err := d.ClaimSweep(ctx, avatar.SweepPolicy{ExpiredBefore: t0, ReplacedBefore: now, Lease: time.Minute, Limit: 10}, now)
		if err != nil || len(tasks) != 1 || tasks[0].UploadID != "a" {
			t.Fatalf("ClaimSweep: %+v, %v; want a", tasks, err)
		}
		if _, err := d.DecideReview(ctx, avatar.ReviewDecision{TraceID: "trace-b", Verdict: "risky"}, 15*time.Minute, now); err != nil {
			t.Fatal(err)
		}
		if err := d.FinishSweep(ctx, tasks[0], now); err != nil {
			t.Fatal(err)
		}
		if u := userNow(t, d, "u1"); u.AvatarURL != "" {
			t.Errorf("after the takedown: avatar %q; want none (a was being deleted)", u.AvatarURL)
		}
	})
}

// TestDecisionAnswersItsRequest: a verdict for a trace id the avatar no
// longer waits for (its check queued again since), or a deadline decision
// under another deadline, changes nothing.
func TestDecisionAnswersItsRequest(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		mustUpsert(t, d, avatar.User{ID: "u1", OpenID: "o1"}, t0)
		confirmAs(t, d, "u1", "a", avatar.ReviewPlan{Deadline: t0.Add(time.Hour)}, t0)
		if err := d.ReviewAsked(ctx, "a", "trace-1", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := d.DecideReview(ctx, avatar.ReviewDecision{TraceID: "trace-1", Verdict: "pass", Approve: true}, 15*time.Minute, t0); err != nil {
			t.Fatal(err)
		}
		if err := d.RequeueReview(ctx, "u1", t0.Add(3*time.Hour), t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.DecideReview(ctx, avatar.ReviewDecision{UploadID: "a", Deadline: t0.Add(time.Hour), Verdict: "unchecked"},
			15*time.Minute, t0.Add(2*time.Hour)); !errors.Is(err, avatar.ErrConflict) {
			t.Errorf("a decision under the old deadline: %v; want ErrConflict", err)
		}
		if r := reviewOf(t, d, "a"); r.state != "queued" {
			t.Errorf("a: %+v; want queued again, undecided", r)
		}
		if u := userNow(t, d, "u1"); u.AvatarURL != avatarURL("u1", "a") {
			t.Errorf("avatar %q; want a", u.AvatarURL)
		}
	})
}
