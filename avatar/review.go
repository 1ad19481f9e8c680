package avatar

import (
	"context"
	"errors"
	"time"
)

// An avatar's content check is asynchronous: once confirm records the
// avatar, the reviewer (Service.RunReviews, on every instance) asks the
// checker to look at its URL, and the verdict comes back later, pushed by
// WeChat (Service.AvatarVerdict). Everything in between lives in the
// records, so that a restart, a checker outage or a lost push delays the
// decision but never loses it: a request that fails is retried with backoff,
// and a verdict that never comes is decided by the deadline, by policy.
//
// What the user sees: without HoldAvatars (AVATAR_REVIEW=after) a new
// avatar shows at once and is taken down if the verdict is risky; with it
// (before) the avatar shows only once the verdict is a pass. Taken down
// means the user's avatar goes back to the latest one approved (or none),
// its objects are deleted, and the profile says why (User.AvatarReview).

// DefaultVerdictTimeout is how long a verdict is waited for: WeChat pushes
// it within 30 minutes.
const DefaultVerdictTimeout = time.Hour

// What a user's profile says of their latest avatar's check (User.AvatarReview).
const (
	// ReviewPending: the avatar waits for its verdict (with HoldAvatars,
	// AvatarURL is still the previous one).
	ReviewPending = "pending"
	// ReviewRejected: the avatar was taken down or not shown;
	// AvatarReviewReason says why.
	ReviewRejected = "rejected"
)

// The verdicts an avatar's check can end with (ReviewDecision.Verdict and
// User.AvatarReviewReason): the checker's suggestions, and VerdictUnchecked
// when none came by the deadline.
const (
	VerdictPass      = SuggestPass
	VerdictReview    = SuggestReview
	VerdictRisky     = SuggestRisky
	VerdictUnchecked = "unchecked"
)

// ReviewPlan is how confirm has the records treat a new avatar: no check
// (the zero plan), or a check queued with its Deadline, the avatar shown at
// once or Held until it passes.
type ReviewPlan struct {
	Deadline time.Time
	Hold     bool
}

// ReviewTask is an avatar the reviewer is to act on: ask for its check
// (State "queued"), or decide it without a verdict (past Deadline).
type ReviewTask struct {
	UploadID, UserID, OpenID string
	URL                      string // what the checker fetches: the avatar's permanent URL
	State                    string // "queued" or "waiting"
	Attempts                 int    // requests that failed so far
	Deadline                 time.Time
	// Refused: the last request failed for a reason retrying does not cure
	// by itself (see Moderation.FailOpen).
	Refused bool
}

// ReviewDecision is an avatar's verdict: from the checker, matched by
// TraceID, or by the reviewer at the Deadline it claimed UploadID under.
// Approve keeps it (and shows it, if it was held), as does KeepIfShown if
// it is the user's avatar; otherwise it is taken down.
type ReviewDecision struct {
	TraceID              string
	UploadID             string
	Deadline             time.Time
	Verdict              string // one of the Verdict… values
	Label                int
	Approve, KeepIfShown bool
}

// KeptVerdict is a verdict kept until an avatar has its trace id.
type KeptVerdict struct {
	TraceID, Verdict string
	Label            int
}

// ReviewOutcome is what a decision changed.
type ReviewOutcome struct {
	UserID string
	// Shown: a held avatar became the user's; Reverted: the user's avatar
	// was taken down and another one (or none) put back.
	Shown, Reverted bool
	// Deletions are the objects of an avatar taken down.
	Deletions []ObjectDeletion
}

// ReviewRecords is what the reviewer needs of the records.
type ReviewRecords interface {
	// ClaimReviews claims up to limit avatars due for the reviewer at now:
	// queued ones to ask for, and waiting ones past their deadline. Each
	// is the caller's for lease.
	ClaimReviews(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]ReviewTask, error)
	// ReviewAsked records that the checker took the request: the avatar
	// waits for traceID's verdict until its deadline.
	ReviewAsked(ctx context.Context, uploadID, traceID string, now time.Time) error
	// ReviewFailed records a failed request, to be retried at retryAt.
	ReviewFailed(ctx context.Context, uploadID string, refused bool, retryAt time.Time) error
	// DecideReview applies a verdict to the avatar waiting for it (or kept
	// unchecked at its deadline: a late risky verdict still takes it down);
	// the objects of an avatar stored under its upload key (from before
	// avatars were copies) are deleted once its signature expired plus
	// grace. An unknown trace id is ErrNotFound; an avatar decided already,
	// or waiting for another request, ErrConflict.
	DecideReview(ctx context.Context, d ReviewDecision, grace time.Duration, now time.Time) (ReviewOutcome, error)
	// RequeueReview queues the check of the user's current avatar again,
	// unless one is under way. A user who is gone is ErrNotFound.
	RequeueReview(ctx context.Context, userID string, deadline, now time.Time) error
	// KeepEarlyVerdict keeps a verdict whose trace id no avatar has (yet);
	// KeptVerdicts lists some of those whose trace id an avatar now has;
	// ForgetEarlyVerdict forgets one once applied; PruneEarlyVerdicts
	// forgets those kept since before.
	KeepEarlyVerdict(ctx context.Context, traceID, verdict string, label int, now time.Time) error
	KeptVerdicts(ctx context.Context) ([]KeptVerdict, error)
	ForgetEarlyVerdict(ctx context.Context, traceID string) error
	PruneEarlyVerdicts(ctx context.Context, before time.Time) error
}

const (
	// reviewLease covers a batch of requests to the checker, each bounded
	// by checkTimeout, with room to spare: no other instance takes a task
	// while the one that claimed it may still ask.
	reviewLease = 5 * time.Minute
	reviewBatch = 20
	// reviewRetryMin and reviewRetryMax bound the backoff between failed
	// requests: soon after a blip, every few minutes in an outage.
	reviewRetryMin = 15 * time.Second
	reviewRetryMax = 5 * time.Minute
	// checkTimeout bounds one request to the checker.
	checkTimeout = 5 * time.Second
	// earlyVerdictKept is how long a verdict for no known trace id is kept
	// for the request it answers to be stored.
	earlyVerdictKept = 24 * time.Hour
)

// reviewPlan is the plan for an avatar confirmed at now.
func (s *Service) reviewPlan(now time.Time) ReviewPlan {
	m := s.moderation
	if m.Images == nil {
		return ReviewPlan{}
	}
	return ReviewPlan{Deadline: now.Add(s.verdictTimeout()), Hold: m.HoldAvatars}
}

// wakeReviewer has this instance's reviewer ask for a check queued just now
// without waiting for its next round.
func (s *Service) wakeReviewer() {
	select {
	case s.reviewWake <- struct{}{}:
	default: // a wake is pending already
	}
}

// RunReviews acts on the avatars due for review every interval, and at once
// when this instance queues one, until ctx ends.
func (s *Service) RunReviews(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.reviewWake:
		}
		if _, err := s.ReviewOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("review round stopped early; the rest waits for the next round", "error", err.Error())
		}
	}
}

// ReviewOnce acts on every avatar due for review now: it asks for the
// checks queued, and decides those whose deadline passed without a verdict.
// Without an image checker (content security turned off since they were
// queued) it approves them unchecked, as it would any avatar now: a held
// avatar shows, and nothing waits for a verdict that will not be asked for.
// It reports how many it acted on.
func (s *Service) ReviewOnce(ctx context.Context) (int, error) {
	if err := s.records.PruneEarlyVerdicts(ctx, s.now().Add(-earlyVerdictKept)); err != nil {
		return 0, err
	}
	done := 0
	for {
		now := s.now()
		tasks, err := s.records.ClaimReviews(ctx, now, reviewLease, reviewBatch)
		if err != nil || len(tasks) == 0 {
			if err == nil {
				// Verdicts that came before their requests were stored,
				// by this round's requests or by any instance's.
				err = s.applyKeptVerdicts(ctx)
			}
			return done, err
		}
		for _, t := range tasks {
			var err error
			switch {
			case s.moderation.Images == nil:
				err = s.decideUnasked(ctx, t, now)
			case now.Before(t.Deadline):
				err = s.askReview(ctx, t, now)
			default:
				err = s.reviewTimedOut(ctx, t, now)
			}
			if err != nil {
				return done, err
			}
			done++
		}
	}
}

// applyKeptVerdicts applies the verdicts kept for trace ids that avatars now
// have, and forgets them.
func (s *Service) applyKeptVerdicts(ctx context.Context) error {
	kept, err := s.records.KeptVerdicts(ctx)
	if err != nil {
		return err
	}
	for _, k := range kept {
		err := s.applyVerdict(ctx, k.TraceID, k.Verdict, k.Label)
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
			return err // kept, for the next round
		}
		if err := s.records.ForgetEarlyVerdict(ctx, k.TraceID); err != nil {
			return err
		}
	}
	return nil
}

// askReview asks the checker to check the task's avatar.
func (s *Service) askReview(ctx context.Context, t ReviewTask, now time.Time) error {
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	trace, err := s.moderation.Images.CheckImage(cctx, t.OpenID, t.URL)
	cancel()
	if err == nil {
		s.moderationEvent("avatar", "asked")
		return s.records.ReviewAsked(ctx, t.UploadID, trace, now)
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the claim runs out and another round asks
	}
	// A user WeChat has not seen lately may come back before the deadline;
	// a refusal needs an operator.
	refused := !errors.Is(err, ErrModerationUnavailable) && !errors.Is(err, ErrModeratorInactiveUser)
	retry := now.Add(backoff(t.Attempts))
	if retry.After(t.Deadline) {
		retry = t.Deadline // decided then, by policy
	}
	if refused {
		s.moderationEvent("avatar", "refused")
		s.log.Error("avatar check refused; retried later", "upload_id", t.UploadID, "attempt", t.Attempts+1, "error", err.Error())
	} else {
		s.moderationEvent("avatar", "unavailable")
		s.log.Warn("avatar check failed; retried later", "upload_id", t.UploadID, "attempt", t.Attempts+1, "error", err.Error())
	}
	return s.records.ReviewFailed(ctx, t.UploadID, refused, retry)
}

// backoff is how long to wait after the attempts-th failed request (0 for
// the first): doubling from reviewRetryMin up to reviewRetryMax.
func backoff(attempts int) time.Duration {
	d := reviewRetryMin
	for i := 0; i < attempts && d < reviewRetryMax; i++ {
		d *= 2
	}
	return min(d, reviewRetryMax)
}

// reviewTimedOut decides an avatar whose verdict did not come by its
// deadline: kept when failing open and the checker was only unavailable,
// taken down otherwise.
func (s *Service) reviewTimedOut(ctx context.Context, t ReviewTask, now time.Time) error {
	approve := s.moderation.FailOpen && !t.Refused
	s.moderationEvent("avatar", "timeout")
	s.log.Warn("avatar verdict did not come in time", "upload_id", t.UploadID, "state", t.State,
		"attempts", t.Attempts, "kept", approve)
	out, err := s.decide(ctx, ReviewDecision{UploadID: t.UploadID, Deadline: t.Deadline, Verdict: VerdictUnchecked, Approve: approve}, now)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return nil // the verdict came, or the user went, since the claim
	}
	if err != nil {
		return err
	}
	s.deleteQueued(ctx, now, out.Deletions)
	return nil
}

// decideUnasked approves an avatar queued for a check that content
// security, turned off since, will not make.
func (s *Service) decideUnasked(ctx context.Context, t ReviewTask, now time.Time) error {
	_, err := s.decide(ctx, ReviewDecision{UploadID: t.UploadID, Deadline: t.Deadline, Verdict: VerdictUnchecked, Approve: true}, now)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// AvatarVerdict applies the checker's verdict on the avatar it knows by
// traceID: suggest is a Suggest… value ("" when the verdict is unknown, as
// when the checker could not fetch the image), label its category. A
// verdict for no avatar yet is kept a day: the reviewer may not have stored
// the trace id it answers (WeChat answered the request and pushed at once),
// and applies it once it has. A verdict for an avatar decided already, or
// unknown, changes nothing, so a push delivered twice is harmless.
func (s *Service) AvatarVerdict(ctx context.Context, traceID, suggest string, label int) error {
	err := s.applyVerdict(ctx, traceID, suggest, label)
	switch {
	case errors.Is(err, ErrNotFound):
		if err := s.records.KeepEarlyVerdict(ctx, traceID, suggest, label, s.now()); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "avatar verdict for no known request; kept a day", "suggest", suggest)
		s.wakeReviewer()
		return nil
	case errors.Is(err, ErrConflict):
		s.log.InfoContext(ctx, "avatar verdict for nothing waiting; ignored", "suggest", suggest)
		return nil
	}
	return err
}

// applyVerdict decides the avatar waiting for traceID's verdict by it:
// ErrNotFound when none has the trace id, ErrConflict when it is decided
// already.
func (s *Service) applyVerdict(ctx context.Context, traceID, suggest string, label int) error {
	d := ReviewDecision{TraceID: traceID, Verdict: suggest, Label: label}
	switch suggest {
	case SuggestPass:
		d.Approve = true
	case SuggestReview:
		// Sent to human review: kept where it shows already; shown
		// otherwise only where avatars show before their check.
		d.Approve, d.KeepIfShown = !s.moderation.HoldAvatars, true
	case SuggestRisky:
	default:
		// Not a verdict: the deadline decides, as for one that never came.
		s.log.WarnContext(ctx, "avatar verdict unknown; left to the deadline", "suggest", suggest)
		return nil
	}
	now := s.now()
	out, err := s.decide(ctx, d, now)
	if err != nil {
		return err
	}
	s.moderationEvent("avatar", suggest)
	s.deleteQueued(ctx, now, out.Deletions)
	return nil
}

// decide records d and logs what it changed.
func (s *Service) decide(ctx context.Context, d ReviewDecision, now time.Time) (ReviewOutcome, error) {
	out, err := s.records.DecideReview(ctx, d, abandonedAfter, now)
	if err != nil {
		return out, err
	}
	s.log.InfoContext(ctx, "avatar reviewed", "user_id", out.UserID, "verdict", d.Verdict, "label", d.Label,
		"kept", d.Approve, "shown", out.Shown, "reverted", out.Reverted)
	return out, nil
}

// Recheck checks again the profile of the user WeChat knows by openID,
// after WeChat cleaned up risky data of that user's WeChat profile
// (user_info_modified), where the nickname and avatar may have come from:
// the avatar through the reviewer, as a new avatar would be; the nickname
// now, cleared if the check refuses it or WeChat will not judge for the
// user. A check that could not be made is an error: the push is answered
// with one and delivered again. Without content security it changes
// nothing; a user unknown or gone is nothing to do.
func (s *Service) Recheck(ctx context.Context, openID string) error {
	u, found, err := s.userByOpenID(ctx, openID)
	if !found {
		return err
	}
	now := s.now()
	if s.moderation.Images != nil && u.AvatarURL != "" {
		if err := s.records.RequeueReview(ctx, u.ID, now.Add(s.verdictTimeout()), now); err != nil {
			return err
		}
		s.wakeReviewer()
	}
	if u.Nickname == "" || s.moderation.Moderator == nil {
		return nil
	}
	_, err = s.checkNickname(ctx, u, u.Nickname)
	switch {
	case errors.Is(err, ErrNicknameRejected), errors.Is(err, ErrModeratorInactiveUser):
	case err != nil:
		return err
	default:
		return nil // passed, or kept unchecked by policy
	}
	if _, err := s.records.RevokeProfile(ctx, u.ID, true, false, abandonedAfter, now); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	s.log.InfoContext(ctx, "nickname cleared on recheck", "why", err.Error())
	return nil
}

func (s *Service) verdictTimeout() time.Duration {
	if s.moderation.VerdictTimeout > 0 {
		return s.moderation.VerdictTimeout
	}
	return DefaultVerdictTimeout
}
