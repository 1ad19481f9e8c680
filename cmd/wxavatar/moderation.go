package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/wechat"
)

// moderator is WeChat's content security as the avatar service's
// Moderator: msgSecCheck v2, scene 1 (profile), for the user's openid.
type moderator struct{ c *wechat.Client }

var _ avatar.Moderator = moderator{}

func (m moderator) CheckNickname(ctx context.Context, openID, nickname string) (avatar.Verdict, error) {
	v, err := m.c.CheckText(ctx, openID, nickname)
	if errors.Is(err, wechat.ErrUserInactive) {
		return avatar.Verdict{}, fmt.Errorf("%w: %w", avatar.ErrModeratorInactiveUser, err)
	}
	if err != nil {
		return avatar.Verdict{}, err
	}
	return avatar.Verdict{Suggest: string(v.Suggest), Label: v.Label}, nil
}
