package avatar_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/wxavatar/wxavatar/avatar"
)

// moderator answers each nickname with the verdict or error it is given,
// and records what it was asked.
type moderator struct {
	verdict avatar.Verdict
	err     error
	asked   []string // openid: nickname
}

func (m *moderator) CheckNickname(_ context.Context, openID, nickname string) (avatar.Verdict, error) {
	m.asked = append(m.asked, openID+": "+nickname)
	return m.verdict, m.err
}

// events counts moderation outcomes.
type events map[string]int

func (e events) UploadEvent(string, int)              { /* not under test here */ }
func (e events) ModerationEvent(what, outcome string) { e[what+":"+outcome]++ }

// TestNicknameModeration: every verdict in both review policies, the checker
// down failing closed and open, and the inactive user: what is saved, what
// is answered, what is counted.
func TestNicknameModeration(t *testing.T) {
	ctx := context.Background()
	down := fmt.Errorf("%w: wechat: errcode -1", avatar.ErrModerationUnavailable)
	refused := errors.New("wechat: errcode 40003")
	for _, tt := range []struct {
		name         string
		verdict      avatar.Verdict
		err          error
		acceptReview bool
		failOpen     bool
		want         error  // nil: saved
		check        string // what the record says when saved
		outcome      string // counted
	}{
		{"pass", avatar.Verdict{Suggest: "pass", Label: 100}, nil, false, false, nil, avatar.NicknameChecked, "pass"},
		{"risky", avatar.Verdict{Suggest: "risky", Label: 20003}, nil, true, true, avatar.ErrNicknameRejected, "", "risky"},
		{"review, refused by default", avatar.Verdict{Suggest: "review", Label: 21000}, nil, false, false, avatar.ErrNicknameRejected, "", "review"},
		{"review, accepted by policy", avatar.Verdict{Suggest: "review", Label: 21000}, nil, true, false, nil, avatar.NicknameReviewed, "review"},
		{"a verdict nobody knows", avatar.Verdict{Suggest: "maybe"}, nil, true, true, avatar.ErrNicknameRejected, "", "maybe"},
		{"checker down, failing closed", avatar.Verdict{}, down, false, false, avatar.ErrModerationUnavailable, "", "unavailable"},
		{"checker down, failing open", avatar.Verdict{}, down, false, true, nil, avatar.NicknameUnchecked, "unavailable"},
		// A refusal is a configuration to fix: failing open must not turn a
		// wrong secret into nicknames saved unchecked for good.
		{"call refused, failing open", avatar.Verdict{}, refused, false, true, avatar.ErrModerationUnavailable, "", "refused"},
		{"inactive user", avatar.Verdict{}, avatar.ErrModeratorInactiveUser, false, true, avatar.ErrModeratorInactiveUser, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &moderator{verdict: tt.verdict, err: tt.err}
			ev := events{}
			s := newService(t, func(c *avatar.Config) {
				c.Moderation = avatar.Moderation{Moderator: m, AcceptReview: tt.acceptReview, FailOpen: tt.failOpen}
				c.Events = ev
			})
			u, err := s.SetNickname(ctx, s.user.ID, " 小明 ")
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("SetNickname: %v; want %v", err, tt.want)
			}
			if len(m.asked) != 1 || m.asked[0] != "openid-1: 小明" {
				t.Errorf("the checker was asked %q; want the user's openid and the normalized nickname", m.asked)
			}
			stored, _ := s.User(ctx, s.user.ID)
			if tt.want == nil {
				if u.Nickname != "小明" || stored.Nickname != "小明" || stored.NicknameCheck != tt.check {
					t.Errorf("saved %q (check %q); want 小明 (check %q)", stored.Nickname, stored.NicknameCheck, tt.check)
				}
			} else if stored.Nickname != "" {
				t.Errorf("a refused nickname was saved: %q", stored.Nickname)
			}
			if tt.outcome != "" && ev["nickname:"+tt.outcome] != 1 {
				t.Errorf("counted %v; want nickname:%s once", ev, tt.outcome)
			}
		})
	}
	t.Run("no checker: saved unchecked, nothing asked", func(t *testing.T) {
		s := newService(t, nil)
		u, err := s.SetNickname(ctx, s.user.ID, "小明")
		if err != nil || u.Nickname != "小明" || u.NicknameCheck != "" {
			t.Errorf("SetNickname: %+v %v; want saved with no check", u, err)
		}
	})
	t.Run("invalid nicknames are refused before any check", func(t *testing.T) {
		m := &moderator{verdict: avatar.Verdict{Suggest: "pass"}}
		s := newService(t, func(c *avatar.Config) { c.Moderation.Moderator = m })
		if _, err := s.SetNickname(ctx, s.user.ID, "a\u200db"); !errors.Is(err, avatar.ErrInvalidNickname) || len(m.asked) != 0 {
			t.Errorf("SetNickname: %v, %d checks; want ErrInvalidNickname and no check", err, len(m.asked))
		}
	})
}
