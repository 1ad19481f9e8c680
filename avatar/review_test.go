package avatar_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/wxavatar/wxavatar/avatar"
)

// checker is an ImageChecker that answers trace-1, trace-2… unless err is
// set, and records what it was asked.
type checker struct {
	err   error
	asked []string // openid url
}

func (c *checker) CheckImage(_ context.Context, openID, url string) (string, error) {
	c.asked = append(c.asked, openID+" "+url)
	if c.err != nil {
		return "", c.err
	}
	return fmt.Sprintf("trace-%d", len(c.asked)), nil
}

var errWeChatDown = fmt.Errorf("%w: errcode -1", avatar.ErrModerationUnavailable)

// reviewed is a service whose avatars are checked by c, with policy set by
// m (Images is set to c).
func reviewed(t *testing.T, c *checker, m avatar.Moderation) (*service, events) {
	t.Helper()
	ev := events{}
	m.Images = c
	s := newService(t, func(cfg *avatar.Config) { cfg.Moderation, cfg.Events = m, ev })
	return s, ev
}

// confirmNew uploads and confirms a fresh PNG.
func (s *service) confirmNew(t *testing.T) (avatar.User, avatar.Upload) {
	t.Helper()
	up := s.upload(t, "image/png", png)
	u, confirmed, err := s.Confirm(context.Background(), s.user.ID, up.ID)
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	return u, confirmed
}

func (s *service) reviewOnce(t *testing.T, want int) {
	t.Helper()
	if n, err := s.ReviewOnce(context.Background()); err != nil || n != want {
		t.Fatalf("ReviewOnce: %d, %v; want %d", n, err, want)
	}
}

func (s *service) me(t *testing.T) avatar.User {
	t.Helper()
	u, err := s.User(context.Background(), s.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestAvatarReviewShownAtOnce (AVATAR_REVIEW=after): the avatar shows at once
// and is checked at its permanent URL for the user's openid; a pass clears
// the notice; a risky verdict on the next one puts the first back, deletes
// the second's objects and says why; a "review" verdict keeps the avatar.
func TestAvatarReviewShownAtOnce(t *testing.T) {
	ctx := context.Background()
	c := &checker{}
	s, ev := reviewed(t, c, avatar.Moderation{})
	u, first := s.confirmNew(t)
	if u.AvatarURL != first.URL || u.AvatarReview != avatar.ReviewPending || u.AvatarReviewUploadID != first.ID {
		t.Fatalf("after confirm: %+v; want the avatar shown, pending", u)
	}
	s.reviewOnce(t, 1)
	if len(c.asked) != 1 || c.asked[0] != "openid-1 "+first.URL {
		t.Fatalf("the checker was asked %q; want the user's openid and the avatar's URL", c.asked)
	}
	s.reviewOnce(t, 0) // nothing more to ask: it waits for the verdict
	if err := s.AvatarVerdict(ctx, "trace-1", "pass", 100); err != nil {
		t.Fatal(err)
	}
	if u := s.me(t); u.AvatarURL != first.URL || u.AvatarReview != "" {
		t.Errorf("after a pass: %+v; want the avatar, nothing to tell", u)
	}

	_, second := s.confirmNew(t)
	s.reviewOnce(t, 1)
	if err := s.AvatarVerdict(ctx, "trace-2", "risky", 20002); err != nil {
		t.Fatal(err)
	}
	u = s.me(t)
	if u.AvatarURL != first.URL || u.AvatarThumbURL != first.ThumbURL || u.AvatarReview != avatar.ReviewRejected ||
		u.AvatarReviewUploadID != second.ID || u.AvatarReviewReason != avatar.VerdictRisky {
		t.Errorf("after a risky verdict: %+v; want the first avatar back, the second rejected as risky", u)
	}
	for _, key := range []string{second.AvatarKey, second.ThumbKey} {
		if _, ok := s.bucket.Objects[key]; ok {
			t.Errorf("%s is still stored after the takedown", key)
		}
	}
	for _, key := range []string{first.AvatarKey, first.ThumbKey} {
		if _, ok := s.bucket.Objects[key]; !ok {
			t.Errorf("%s, the avatar put back, is gone", key)
		}
	}
	if err := s.AvatarVerdict(ctx, "trace-2", "risky", 20002); err != nil {
		t.Errorf("the verdict delivered again: %v; want it ignored", err)
	}

	_, third := s.confirmNew(t)
	s.reviewOnce(t, 1)
	if err := s.AvatarVerdict(ctx, "trace-3", "review", 21000); err != nil {
		t.Fatal(err)
	}
	if u := s.me(t); u.AvatarURL != third.URL || u.AvatarReview != "" {
		t.Errorf("after a review verdict, shown at once: %+v; want the avatar kept", u)
	}
	if ev["avatar:asked"] != 3 || ev["avatar:pass"] != 1 || ev["avatar:risky"] != 1 || ev["avatar:review"] != 1 {
		t.Errorf("counted %v; want 3 asked, one pass, one risky, one review (the repeat not counted)", ev)
	}
}

// TestAvatarReviewHeld (AVATAR_REVIEW=before): the avatar shows only once it
// passes; one sent to review never shows, and its objects go.
func TestAvatarReviewHeld(t *testing.T) {
	ctx := context.Background()
	c := &checker{}
	s, _ := reviewed(t, c, avatar.Moderation{HoldAvatars: true})
	u, first := s.confirmNew(t)
	if u.AvatarURL != "" || u.AvatarReview != avatar.ReviewPending || u.AvatarReviewUploadID != first.ID {
		t.Fatalf("after confirm: %+v; want no avatar yet, pending", u)
	}
	s.reviewOnce(t, 1)
	if err := s.AvatarVerdict(ctx, "trace-1", "pass", 100); err != nil {
		t.Fatal(err)
	}
	if u := s.me(t); u.AvatarURL != first.URL || u.AvatarThumbURL != first.ThumbURL || u.AvatarReview != "" {
		t.Errorf("after a pass: %+v; want the avatar shown", u)
	}
	_, second := s.confirmNew(t)
	if u := s.me(t); u.AvatarURL != first.URL {
		t.Errorf("while the second waits: %q; want the first", u.AvatarURL)
	}
	s.reviewOnce(t, 1)
	if err := s.AvatarVerdict(ctx, "trace-2", "review", 21000); err != nil {
		t.Fatal(err)
	}
	if u := s.me(t); u.AvatarURL != first.URL || u.AvatarReview != avatar.ReviewRejected || u.AvatarReviewReason != avatar.VerdictReview {
		t.Errorf("after a review verdict, held: %+v; want the first avatar, the second rejected (review)", u)
	}
	if _, ok := s.bucket.Objects[second.AvatarKey]; ok {
		t.Error("the refused avatar is still stored")
	}
}

// TestAvatarVerdictUnknown: a verdict nobody can read (a v1 push for an
// image WeChat could not fetch) changes nothing; the deadline decides.
func TestAvatarVerdictUnknown(t *testing.T) {
	c := &checker{}
	s, ev := reviewed(t, c, avatar.Moderation{})
	s.confirmNew(t)
	s.reviewOnce(t, 1)
	if err := s.AvatarVerdict(context.Background(), "trace-1", "", 0); err != nil {
		t.Fatal(err)
	}
	if u := s.me(t); u.AvatarReview != avatar.ReviewPending {
		t.Errorf("after an unknown verdict: %+v; want still pending", u)
	}
	if len(ev) != 1 {
		t.Errorf("counted %v; want only the request", ev)
	}
}

// TestAvatarReviewRetriesThenDeadline: a request WeChat cannot take is asked
// again with a growing backoff, never lost; at the deadline, the policy
// decides: kept when failing open and WeChat was only unavailable, taken
// down otherwise (and when it refused the call, even failing open).
func TestAvatarReviewRetriesThenDeadline(t *testing.T) {
	for _, tt := range []struct {
		name     string
		err      error
		failOpen bool
		kept     bool
		outcome  string
	}{
		{"unavailable, failing closed", errWeChatDown, false, false, "unavailable"},
		{"unavailable, failing open", errWeChatDown, true, true, "unavailable"},
		{"refused, failing open", errors.New("wechat refused the call: errcode 40003"), true, false, "refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &checker{err: tt.err}
			s, ev := reviewed(t, c, avatar.Moderation{FailOpen: tt.failOpen, VerdictTimeout: time.Hour})
			_, up := s.confirmNew(t)
			start := s.now
			s.reviewOnce(t, 1)
			s.reviewOnce(t, 0) // not before the backoff
			for _, wait := range []time.Duration{15 * time.Second, 30 * time.Second, time.Minute} {
				s.now = s.now.Add(wait - time.Second)
				s.reviewOnce(t, 0)
				s.now = s.now.Add(time.Second)
				s.reviewOnce(t, 1)
			}
			if len(c.asked) != 4 || ev["avatar:"+tt.outcome] != 4 {
				t.Fatalf("asked %d times, counted %v; want 4 requests, each counted %s", len(c.asked), ev, tt.outcome)
			}
			s.now = start.Add(time.Hour)
			s.reviewOnce(t, 1)
			u := s.me(t)
			if tt.kept {
				if u.AvatarURL != up.URL || u.AvatarReview != "" {
					t.Errorf("at the deadline: %+v; want the avatar kept", u)
				}
			} else {
				if u.AvatarURL != "" || u.AvatarReview != avatar.ReviewRejected || u.AvatarReviewReason != avatar.VerdictUnchecked {
					t.Errorf("at the deadline: %+v; want the avatar taken down (unchecked)", u)
				}
				if _, ok := s.bucket.Objects[up.AvatarKey]; ok {
					t.Error("the avatar taken down is still stored")
				}
			}
			if ev["avatar:timeout"] != 1 {
				t.Errorf("counted %v; want one timeout", ev)
			}
			s.reviewOnce(t, 0)
		})
	}
}

// TestAvatarVerdictNeverComes: asked, and no verdict by the deadline:
// decided as unchecked; a risky verdict after that still takes it down.
func TestAvatarVerdictNeverComes(t *testing.T) {
	c := &checker{}
	s, ev := reviewed(t, c, avatar.Moderation{FailOpen: true})
	_, up := s.confirmNew(t)
	s.reviewOnce(t, 1)
	s.now = s.now.Add(avatar.DefaultVerdictTimeout - time.Second)
	s.reviewOnce(t, 0)
	s.now = s.now.Add(time.Second)
	s.reviewOnce(t, 1)
	if u := s.me(t); u.AvatarURL != up.URL || u.AvatarReview != "" || ev["avatar:timeout"] != 1 {
		t.Fatalf("at the deadline, failing open: %+v, counted %v; want the avatar kept, one timeout", u, ev)
	}
	if err := s.AvatarVerdict(context.Background(), "trace-1", "risky", 20001); err != nil {
		t.Fatal(err)
	}
	if u := s.me(t); u.AvatarURL != "" || u.AvatarReviewReason != avatar.VerdictRisky {
		t.Errorf("after a late risky verdict: %+v; want the avatar taken down", u)
	}
}

// TestRecheck (user_info_modified): the nickname is checked again and
// cleared when refused or when WeChat will not judge for the user; a check
// that could not be made is an error (the push is delivered again) and
// keeps it; the avatar is queued for a check again.
func TestRecheck(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		verdict avatar.Verdict
		err     error
		want    error
		cleared bool
	}{
		{"pass", avatar.Verdict{Suggest: "pass"}, nil, nil, false},
		{"risky", avatar.Verdict{Suggest: "risky"}, nil, nil, true},
		{"inactive user", avatar.Verdict{}, avatar.ErrModeratorInactiveUser, nil, true},
		{"unavailable", avatar.Verdict{}, errWeChatDown, avatar.ErrModerationUnavailable, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &moderator{verdict: avatar.Verdict{Suggest: "pass"}}
			c := &checker{}
			s, _ := reviewed(t, c, avatar.Moderation{Moderator: m})
			if _, err := s.SetNickname(ctx, s.user.ID, "小明"); err != nil {
				t.Fatal(err)
			}
			s.confirmNew(t)
			s.reviewOnce(t, 1)
			if err := s.AvatarVerdict(ctx, "trace-1", "pass", 100); err != nil {
				t.Fatal(err)
			}
			m.verdict, m.err = tt.verdict, tt.err
			if err := s.Recheck(ctx, "openid-1"); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Recheck: %v; want %v", err, tt.want)
			}
			if u := s.me(t); (u.Nickname == "") != tt.cleared {
				t.Errorf("nickname after the recheck: %q; cleared: want %v", u.Nickname, tt.cleared)
			}
			s.reviewOnce(t, 1)
			if len(c.asked) != 2 {
				t.Errorf("the avatar was checked %d times; want again after the recheck", len(c.asked))
			}
		})
	}
	t.Run("unknown user", func(t *testing.T) {
		s, _ := reviewed(t, &checker{}, avatar.Moderation{})
		if err := s.Recheck(ctx, "nobody"); err != nil {
			t.Errorf("Recheck: %v; want nothing to do", err)
		}
	})
}

// TestEraseDuringConfirmStorageDown: when storage refuses to delete what a
// confirm wrote for a user erased meanwhile, the keys stay queued, and the
// sweeper deletes them once storage answers.
func TestEraseDuringConfirmStorageDown(t *testing.T) {
	ctx := context.Background()
	s := newService(t, nil)
	up := s.upload(t, "image/png", png)
	s.bucket.OnPut = func(key string, data []byte, spec avatar.PutSpec) error {
		if key == up.ThumbKey {
			s.bucket.OnPut = nil
			if err := s.Erase(ctx, s.user.ID); err != nil {
				t.Fatal(err)
			}
			// The sweeper ran before the writes landed: the erasure's
			// deletions are done, and the writes below come after.
			sweeper := &avatar.Sweeper{Records: s.records, Objects: s.bucket, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return s.now }}
			if _, err := sweeper.SweepOnce(ctx); err != nil {
				t.Fatal(err)
			}
			s.bucket.OnDelete = func(string) error { return errors.New("storage down") }
		}
		s.bucket.Store(key, spec.ContentType, data)
		return nil
	}
	if _, _, err := s.Confirm(ctx, s.user.ID, up.ID); !errors.Is(err, avatar.ErrUserGone) {
		t.Fatalf("confirm: %v; want ErrUserGone", err)
	}
	if _, ok := s.bucket.Objects[up.ThumbKey]; !ok {
		t.Fatal("the thumbnail was deleted although storage refused; the test is wrong")
	}
	s.bucket.OnDelete = nil
	sweeper := &avatar.Sweeper{Records: s.records, Objects: s.bucket, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return s.now }}
	if _, err := sweeper.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{up.AvatarKey, up.ThumbKey} {
		if _, ok := s.bucket.Objects[key]; ok {
			t.Errorf("%s is left after the sweep", key)
		}
	}
}

// TestReviewsAfterContentSecurityOff: avatars queued for a check when
// content security is then turned off are approved unchecked: a held one
// shows, nothing waits for a verdict that will never be asked for.
func TestReviewsAfterContentSecurityOff(t *testing.T) {
	c := &checker{}
	s, _ := reviewed(t, c, avatar.Moderation{HoldAvatars: true})
	_, held := s.confirmNew(t)
	off, err := avatar.New(avatar.Config{Records: s.records, Objects: s.bucket, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return s.now }, MaxBytes: maxBytes, UploadTTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := off.ReviewOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("ReviewOnce without a checker: %d, %v; want the held avatar decided", n, err)
	}
	if u := s.me(t); u.AvatarURL != held.URL || u.AvatarReview != "" {
		t.Errorf("after content security was turned off: %+v; want the held avatar shown", u)
	}
	if len(c.asked) != 0 {
		t.Errorf("the checker was asked %q; want nothing", c.asked)
	}
}

// TestAvatarVerdictBeforeItsTrace: a verdict pushed before the reviewer
// stored the trace id it answers (WeChat answered and pushed at once) is
// kept, and applied once the trace id is stored.
func TestAvatarVerdictBeforeItsTrace(t *testing.T) {
	ctx := context.Background()
	var s *service
	c := &earlyChecker{push: func(trace string) {
		if err := s.AvatarVerdict(ctx, trace, "risky", 20002); err != nil {
			t.Errorf("the early verdict: %v", err)
		}
	}}
	s = newService(t, func(cfg *avatar.Config) { cfg.Moderation.Images = c })
	_, up := s.confirmNew(t)
	s.reviewOnce(t, 1)
	if u := s.me(t); u.AvatarURL != "" || u.AvatarReviewReason != avatar.VerdictRisky {
		t.Errorf("after the early risky verdict: %+v; want the avatar taken down", u)
	}
	if _, ok := s.bucket.Objects[up.AvatarKey]; ok {
		t.Error("the avatar taken down is still stored")
	}
}

// earlyChecker pushes the verdict before it answers the request.
type earlyChecker struct{ push func(trace string) }

func (c *earlyChecker) CheckImage(context.Context, string, string) (string, error) {
	c.push("trace-early")
	return "trace-early", nil
}

// flakyRecords fails the next DecideReview once when fail is set.
type flakyRecords struct {
	avatar.Records
	fail bool
}

func (f *flakyRecords) DecideReview(ctx context.Context, d avatar.ReviewDecision, grace time.Duration, now time.Time) (avatar.ReviewOutcome, error) {
	if f.fail {
		f.fail = false
		return avatar.ReviewOutcome{}, avatar.ErrRecordsUnavailable
	}
	return f.Records.DecideReview(ctx, d, grace, now)
}

// TestEarlyVerdictSurvivesAFailure: a verdict kept because it came before
// its trace id was stored stays kept until a decision by it commits; a
// database failure on the way only delays it to the next round. (It was
// once forgotten before the decision, and a held avatar WeChat had found
// risky showed at the deadline.)
func TestEarlyVerdictSurvivesAFailure(t *testing.T) {
	ctx := context.Background()
	var (
		s  *service
		fr *flakyRecords
	)
	c := &earlyChecker{push: func(trace string) {
		if err := s.AvatarVerdict(ctx, trace, "risky", 20002); err != nil {
			t.Errorf("the early verdict: %v", err)
		}
		fr.fail = true // the next decision, by the kept verdict, fails
	}}
	s = newService(t, func(cfg *avatar.Config) {
		fr = &flakyRecords{Records: cfg.Records}
		cfg.Records = fr
		cfg.Moderation = avatar.Moderation{Images: c, HoldAvatars: true, FailOpen: true}
	})
	_, up := s.confirmNew(t)
	if _, err := s.ReviewOnce(ctx); !errors.Is(err, avatar.ErrRecordsUnavailable) {
		t.Fatalf("the round that meets the failure: %v; want ErrRecordsUnavailable", err)
	}
	s.reviewOnce(t, 0) // the next round applies the kept verdict
	if u := s.me(t); u.AvatarURL == up.URL || u.AvatarReviewReason != avatar.VerdictRisky {
		t.Errorf("after the next round: %+v; want the held avatar rejected as risky", u)
	}
	s.now = s.now.Add(avatar.DefaultVerdictTimeout)
	s.reviewOnce(t, 0)
	if u := s.me(t); u.AvatarURL == up.URL {
		t.Errorf("at the deadline the avatar WeChat found risky shows: %+v", u)
	}
}

// TestReviewVerdictKeepsAShownAvatar: with AVATAR_REVIEW=before, a review
// verdict on a recheck of the avatar the user shows already keeps it, as it
// would with after; it only keeps a held one from showing.
func TestReviewVerdictKeepsAShownAvatar(t *testing.T) {
	ctx := context.Background()
	c := &checker{}
	s, _ := reviewed(t, c, avatar.Moderation{HoldAvatars: true})
	_, up := s.confirmNew(t)
	s.reviewOnce(t, 1)
	if err := s.AvatarVerdict(ctx, "trace-1", "pass", 100); err != nil {
		t.Fatal(err)
	}
	if err := s.Recheck(ctx, "openid-1"); err != nil {
		t.Fatal(err)
	}
	s.reviewOnce(t, 1)
	if err := s.AvatarVerdict(ctx, "trace-2", "review", 21000); err != nil {
		t.Fatal(err)
	}
	if u := s.me(t); u.AvatarURL != up.URL || u.AvatarReview != "" {
		t.Errorf("after a review verdict on the shown avatar: %+v; want it kept", u)
	}
}

// slowChecker takes checkTimeout per request and lets another instance run
// in the middle of a batch.
type slowChecker struct {
	s      *service
	asked  map[string]int
	calls  int
	during func()
}

func (c *slowChecker) CheckImage(_ context.Context, _, url string) (string, error) {
	c.calls++
	c.asked[url]++
	c.s.now = c.s.now.Add(5 * time.Second)
	if c.calls == 15 && c.during != nil {
		c.during()
	}
	return "trace-" + url, nil
}

// TestReviewLeaseCoversABatch: with WeChat answering as slowly as it may,
// another instance's round in the middle of a batch asks for nothing the
// first has claimed.
func TestReviewLeaseCoversABatch(t *testing.T) {
	ctx := context.Background()
	sc := &slowChecker{asked: map[string]int{}}
	s := newService(t, func(cfg *avatar.Config) { cfg.Moderation.Images = sc })
	sc.s = s
	for range 30 {
		s.confirmNew(t)
	}
	other, err := avatar.New(avatar.Config{Records: s.records, Objects: s.bucket, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return s.now }, MaxBytes: maxBytes, UploadTTL: 10 * time.Minute,
		Moderation: avatar.Moderation{Images: sc}})
	if err != nil {
		t.Fatal(err)
	}
	sc.during = func() {
		sc.during = nil
		if _, err := other.ReviewOnce(ctx); err != nil {
			t.Errorf("the other instance: %v", err)
		}
	}
	if _, err := s.ReviewOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if sc.calls != 30 || len(sc.asked) != 30 {
		t.Errorf("%d requests for %d avatars; want each of the 30 asked once", sc.calls, len(sc.asked))
	}
}
