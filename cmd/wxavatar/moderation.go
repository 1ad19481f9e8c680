package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/wechat"
)

// moderator is WeChat's content security as the avatar service's
// Moderator and ImageChecker: msgSecCheck v2 and mediaCheckAsync v2, scene
// 1 (profile), for the user's openid.
type moderator struct{ c *wechat.Client }

var (
	_ avatar.Moderator    = moderator{}
	_ avatar.ImageChecker = moderator{}
)

func (m moderator) CheckNickname(ctx context.Context, openID, nickname string) (avatar.Verdict, error) {
	v, err := m.c.CheckText(ctx, openID, nickname)
	if err != nil {
		return avatar.Verdict{}, moderationError(err)
	}
	return avatar.Verdict{Suggest: string(v.Suggest), Label: v.Label}, nil
}

// CheckImage asks for the avatar at url to be checked; WeChat fetches it
// and pushes its verdict (wxa_media_check) with the trace id returned.
func (m moderator) CheckImage(ctx context.Context, openID, url string) (string, error) {
	trace, err := m.c.CheckImageAsync(ctx, openID, url)
	if err != nil {
		return "", moderationError(err)
	}
	return trace, nil
}

// moderationError gives WeChat's errors the domain's names: an inactive
// user, and a WeChat that may answer later; a refusal and bad credentials
// stay what they are.
func moderationError(err error) error {
	switch {
	case errors.Is(err, wechat.ErrUserInactive):
		return fmt.Errorf("%w: %w", avatar.ErrModeratorInactiveUser, err)
	case errors.Is(err, wechat.ErrUnavailable):
		return fmt.Errorf("%w: %w", avatar.ErrModerationUnavailable, err)
	}
	return err
}
