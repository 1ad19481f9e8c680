package avatar

import (
	"context"
	"errors"
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
	for _, q := range queued {
		if q.NotBefore.After(now) || ctx.Err() != nil {
			continue // a signature could still write it, or no time left: the sweeper's
		}
		if err := s.objects.Delete(ctx, q.Key); err != nil {
			s.log.WarnContext(ctx, "an erased user's object not deleted; the sweeper will", "error", err.Error())
			continue
		}
		if err := s.records.FinishObjectDeletion(ctx, q.Key); err != nil {
			s.log.WarnContext(ctx, "a deleted object left queued; the sweeper deletes it again", "error", err.Error())
		}
	}
	s.log.InfoContext(ctx, "user erased", "objects", len(queued))
	return nil
}
