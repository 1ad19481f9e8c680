package avatar

import (
	"context"
	"errors"
)

// SignIn returns the user an identity names, creating it on first login. A
// non-empty unionID replaces the stored one.
func (s *Service) SignIn(ctx context.Context, openID, unionID string) (User, error) {
	return s.records.UpsertUser(ctx, User{ID: newID(), OpenID: openID, UnionID: unionID}, s.now())
}

// User returns the user id names; a user who is gone is ErrUserGone.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	u, err := s.records.UserByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrUserGone
	}
	return u, err
}

// SetNickname sets the user's nickname as the profile rule normalizes it
// (nickname.go), once content security passes it (moderation.go). A
// nickname the rule refuses is ErrInvalidNickname; one the check refuses
// ErrNicknameRejected; a check that could not be made
// ErrModerationUnavailable or ErrModeratorInactiveUser. Nothing is saved
// then.
func (s *Service) SetNickname(ctx context.Context, userID, nickname string) (User, error) {
	name, ok := normalizeNickname(nickname)
	if !ok {
		return User{}, ErrInvalidNickname
	}
	var check string
	if s.moderation.Moderator != nil {
		u, err := s.User(ctx, userID)
		if err != nil {
			return User{}, err
		}
		if check, err = s.checkNickname(ctx, u, name); err != nil {
			return User{}, err
		}
	}
	u, err := s.records.SetNickname(ctx, userID, name, check, s.now())
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrUserGone
	}
	return u, err
}
