package avatar

import (
	"context"
	"errors"
	"time"
)

// Erase deletes the user: their records at once (their session stops
// working with the next request), their objects now where storage answers
// and otherwise by the sweeper, which retries until it succeeds. A later
// login makes a new user with a new id. A user already gone is ErrUserGone.
func (s *Service) Erase(ctx context.Context, userID string) error {
	now := s.now()
	queued, err := s.records.EraseUser(ctx, userID, abandonedAfter, now)
	if errors.Is(err, ErrNotFound) {
		return ErrUserGone
	}
	if err != nil {
		return err
	}
	s.deleteQueued(ctx, now, queued)
	s.log.InfoContext(ctx, "user erased", "objects", len(queued))
	return nil
}

// deleteQueued deletes the queued objects due now; what storage refuses, or
// what is not due yet, the sweeper deletes.
func (s *Service) deleteQueued(ctx context.Context, now time.Time, queued []ObjectDeletion) {
	for _, q := range queued {
		if q.NotBefore.After(now) || ctx.Err() != nil {
			continue // a signature could still write it, or no time left: the sweeper's
		}
		if err := s.objects.Delete(ctx, q.Key); err != nil {
			s.log.WarnContext(ctx, "a withdrawn object not deleted; the sweeper will", "error", err.Error())
			continue
		}
		if err := s.records.FinishObjectDeletion(ctx, q.Key, now); err != nil {
			s.log.WarnContext(ctx, "a deleted object left queued; the sweeper deletes it again", "error", err.Error())
		}
	}
}

// EraseByOpenID erases the user WeChat knows by openID (their WeChat
// account was cancelled), as Erase does; a user unknown or already gone is
// nothing to do.
func (s *Service) EraseByOpenID(ctx context.Context, openID string) error {
	u, found, err := s.userByOpenID(ctx, openID)
	if !found {
		return err
	}
	if err := s.Erase(ctx, u.ID); !errors.Is(err, ErrUserGone) {
		return err
	}
	return nil
}

// Revoke clears what the user WeChat knows by openID withdrew consent for:
// the nickname, the avatar (its objects deleted now, or by the sweeper), or
// both. A user unknown or gone is nothing to do; revoking again changes
// nothing more.
func (s *Service) Revoke(ctx context.Context, openID string, nickname, avatar bool) error {
	if !nickname && !avatar {
		return nil
	}
	u, found, err := s.userByOpenID(ctx, openID)
	if !found {
		return err
	}
	now := s.now()
	queued, err := s.records.RevokeProfile(ctx, u.ID, nickname, avatar, abandonedAfter, now)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.deleteQueued(ctx, now, queued)
	s.log.InfoContext(ctx, "profile revoked", "nickname", nickname, "avatar", avatar, "objects", len(queued))
	return nil
}

// userByOpenID is the user WeChat knows by openID; found is false, with no
// error, for a user unknown or gone: for WeChat's events, nothing to do.
func (s *Service) userByOpenID(ctx context.Context, openID string) (u User, found bool, err error) {
	u, err = s.records.UserByOpenID(ctx, openID)
	if errors.Is(err, ErrNotFound) {
		return User{}, false, nil
	}
	return u, err == nil, err
}
