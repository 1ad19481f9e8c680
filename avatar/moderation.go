package avatar

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Verdict is a content check's answer: Suggest is "pass", "review" or
// "risky"; Label is the checker's category (100: normal).
type Verdict struct {
	Suggest string
	Label   int
}

// The verdicts' Suggest values.
const (
	SuggestPass   = "pass"
	SuggestReview = "review"
	SuggestRisky  = "risky"
)

// Moderator checks what users write before it is saved (WeChat's content
// security). Implementations answer ErrModeratorInactiveUser when the
// checker refuses to judge a user it has not seen recently, an error that
// is ErrModerationUnavailable when the checker could not be reached or
// asked to be called later (worth retrying), and any other error when it
// refused the call (a wrong secret, a request it will never take).
type Moderator interface {
	CheckNickname(ctx context.Context, openID, nickname string) (Verdict, error)
}

// ImageChecker asks for an avatar to be checked: the verdict comes later,
// through Service.AvatarVerdict, carrying the trace id returned. Its errors
// are as Moderator's.
type ImageChecker interface {
	CheckImage(ctx context.Context, openID, url string) (traceID string, err error)
}

// Moderation is how nicknames and avatars are checked.
type Moderation struct {
	// Moderator checks nicknames; nil: nicknames are saved unchecked.
	Moderator Moderator
	// AcceptReview saves a nickname the checker sends to human review;
	// otherwise it is refused like a risky one.
	AcceptReview bool
	// FailOpen keeps content the checker could not judge: a nickname is
	// saved, recorded as unchecked, rather than answered with
	// ErrModerationUnavailable; an avatar without a verdict by its deadline
	// stays rather than being taken down. It applies only when the checker
	// was unavailable: one that refused the call (a wrong secret) is no
	// reason to let content through unchecked.
	FailOpen bool
	// Images checks avatars once confirmed (review.go); nil: unchecked.
	Images ImageChecker
	// HoldAvatars shows a new avatar only once it passes (AVATAR_REVIEW=
	// before); otherwise it shows at once and is taken down if found risky.
	HoldAvatars bool
	// VerdictTimeout is how long after confirm an avatar's verdict is
	// waited for; 0: DefaultVerdictTimeout.
	VerdictTimeout time.Duration
}

// What a nickname's check becomes.
var (
	// ErrNicknameRejected: the checker judged the nickname risky (or sent
	// it to review, which the service refuses unless told otherwise).
	ErrNicknameRejected = errors.New("nickname rejected by content security")
	// ErrModerationUnavailable: the check could not be made; nothing was
	// saved and retrying is safe.
	ErrModerationUnavailable = errors.New("content security unavailable")
	// ErrModeratorInactiveUser: the checker will not judge for a user who
	// has not used the mini program recently (WeChat's errcode 61010); the
	// user must open it again.
	ErrModeratorInactiveUser = errors.New("content security: user not active recently")
)

// The checks a nickname's record says it passed (User.NicknameCheck).
const (
	NicknameChecked   = "pass"      // judged fine
	NicknameReviewed  = "review"    // sent to review, saved by policy
	NicknameUnchecked = "unchecked" // saved without a verdict (fail open)
)

// checkNickname judges name for the user and says how to record it, or why
// it may not be saved.
func (s *Service) checkNickname(ctx context.Context, u User, name string) (check string, err error) {
	m := s.moderation
	if m.Moderator == nil {
		return "", nil
	}
	v, err := m.Moderator.CheckNickname(ctx, u.OpenID, name)
	switch {
	case errors.Is(err, ErrModeratorInactiveUser):
		return "", err
	case errors.Is(err, ErrModerationUnavailable):
		s.log.WarnContext(ctx, "nickname check failed", "error", err.Error())
		s.moderationEvent("nickname", "unavailable")
		if m.FailOpen {
			return NicknameUnchecked, nil
		}
		return "", err
	case err != nil:
		// Refused: a configuration to fix, not an outage to ride out.
		s.log.ErrorContext(ctx, "nickname check refused", "error", err.Error())
		s.moderationEvent("nickname", "refused")
		return "", fmt.Errorf("%w: %w", ErrModerationUnavailable, err)
	}
	s.moderationEvent("nickname", v.Suggest)
	switch v.Suggest {
	case SuggestPass:
		return NicknameChecked, nil
	case SuggestReview:
		if m.AcceptReview {
			return NicknameReviewed, nil
		}
	case SuggestRisky:
	default:
		// A verdict this code does not know is no pass.
		s.log.WarnContext(ctx, "nickname check: unknown verdict", "suggest", v.Suggest)
	}
	s.log.InfoContext(ctx, "nickname rejected", "suggest", v.Suggest, "label", v.Label)
	return "", ErrNicknameRejected
}

func (s *Service) moderationEvent(what, outcome string) {
	if s.events != nil {
		s.events.ModerationEvent(what, outcome)
	}
}
