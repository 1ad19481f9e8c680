package handler

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wxavatar/wxavatar/avatar"
	"github.com/wxavatar/wxavatar/wechat"
)

// PushDecoder verifies and reads WeChat's message push (wechat.Push).
type PushDecoder interface {
	VerifyURL(query url.Values) bool
	Decode(query url.Values, body []byte) (wechat.Event, error)
}

// pushTimeout keeps an event's handling inside WeChat's 5 s: an answer
// later than that is retried anyway.
const pushTimeout = 4 * time.Second

// handlePushCheck answers WeChat's check of the push URL: echostr back when
// the signature is the push Token's, 403 otherwise.
func handlePushCheck(d *Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := c.QueryParams()
		if !d.Push.VerifyURL(q) {
			return newError(http.StatusForbidden, "bad_signature", "the signature is not the push Token's")
		}
		return c.String(http.StatusOK, q.Get("echostr"))
	}
}

// handlePush takes one pushed event: verified and decrypted by d.Push, then
// acted on. Every event is acknowledged with "success" once handled (and an
// unknown one at once); handling is idempotent, so WeChat's redeliveries
// change nothing. A failure to handle answers 5xx, and WeChat delivers again.
func handlePush(d *Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body) // within the API's 16 KiB: events are a few hundred bytes
		if err != nil {
			var he *echo.HTTPError
			if errors.As(err, &he) {
				return he // body limit
			}
			return invalidRequest("the push body could not be read")
		}
		ev, err := d.Push.Decode(c.QueryParams(), body)
		if err == nil && !fresh(c.QueryParam("timestamp"), d.Now()) {
			// The timestamp is signed: a push captured once and sent again
			// later would otherwise undo what the user did since.
			return newError(http.StatusForbidden, "bad_signature", "the push's timestamp is not within minutes of now")
		}
		switch {
		case errors.Is(err, wechat.ErrBadSignature), errors.Is(err, wechat.ErrWrongAppID):
			return newError(http.StatusForbidden, "bad_signature", "the push is not signed with our Token, or not for our AppID")
		case err != nil:
			return invalidRequest("the push is malformed")
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), pushTimeout)
		defer cancel()
		if err := handleEvent(ctx, d, ev); err != nil {
			return err
		}
		return c.String(http.StatusOK, "success")
	}
}

// pushWindow is how far a push's signed timestamp may be from now: WeChat
// delivers within seconds and retries within a minute or so.
const pushWindow = 10 * time.Minute

// fresh reports whether timestamp (Unix seconds) is within pushWindow of now.
func fresh(timestamp string, now time.Time) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	d := now.Sub(time.Unix(ts, 0))
	return d < pushWindow && d > -pushWindow
}

// handleEvent acts on the events wxavatar cares for and ignores the rest.
func handleEvent(ctx context.Context, d *Deps, ev wechat.Event) error {
	switch ev.Event {
	case wechat.EventUserAuthorizationRevoke, wechat.EventUserAuthorizationCancellation, wechat.EventUserInfoModified:
		if ev.OpenID == "" {
			d.Logger.WarnContext(ctx, "push: user event without OpenID, ignored", "event", ev.Event)
			return nil
		}
	}
	var err error
	switch ev.Event {
	case wechat.EventMediaCheck:
		traceID, suggest, label, ok := ev.MediaCheck()
		if !ok {
			d.Logger.WarnContext(ctx, "push: media check without trace_id, ignored")
			return nil
		}
		err = d.Avatars.AvatarVerdict(ctx, traceID, string(suggest), label)
	case wechat.EventUserAuthorizationRevoke:
		nickname, avatarToo := ev.Revoked()
		err = d.Avatars.Revoke(ctx, ev.OpenID, nickname, avatarToo)
	case wechat.EventUserAuthorizationCancellation:
		err = d.Avatars.EraseByOpenID(ctx, ev.OpenID)
	case wechat.EventUserInfoModified:
		// WeChat cleaned up risky data of the user's WeChat profile, which
		// the nickname and avatar may have come from: both are checked
		// again.
		err = d.Avatars.Recheck(ctx, ev.OpenID)
	default:
		d.Logger.InfoContext(ctx, "push: event acknowledged, nothing to do", "event", ev.Event)
	}
	if errors.Is(err, avatar.ErrUserGone) {
		return nil
	}
	return err
}
