// Package handler owns the HTTP API: every route, the request and response
// types, and the one mapping from errors to statuses and error codes.
package handler

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/wxavatar/wxavatar/auth"
	"github.com/wxavatar/wxavatar/avatar"
)

// Limiter decides whether key may make one more request now, at perMinute
// requests a minute; it is shared by every instance (it lives in the
// database), so limits hold behind a load balancer.
type Limiter interface {
	Allow(ctx context.Context, key string, perMinute int, now time.Time) (ok bool, retryAfter time.Duration, err error)
}

// Login exchanges a wx.login code for an identity (WeChat, or the dev login).
type Login interface {
	Exchange(ctx context.Context, code string) (auth.Identity, error)
}

// Tokens issues session tokens and verifies them, returning the subject.
type Tokens interface {
	Issue(subject string) (string, time.Time, error)
	Verify(token string) (string, error)
}

// Limits are the request rate limits; 0 turns one off.
type Limits struct {
	UploadsPerMinute  int
	SessionsPerMinute int
	// ConfirmsPerMinute bounds the storage calls (a read and a copy) that
	// one user's confirms make.
	ConfirmsPerMinute int
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
}

// Deps is everything the API needs, passed in so that tests can swap the
// login, the tokens, the limiter and the clock, and build Avatars over fake
// records or storage.
type Deps struct {
	Logger  *slog.Logger
	Now     func() time.Time
	Login   Login
	Tokens  Tokens
	Limiter Limiter
	// Avatars is the profile and the avatar upload life cycle.
	Avatars *avatar.Service
	// Push reads WeChat's message push; nil: /wechat/push is not served.
	Push   PushDecoder
	Limits Limits
	// Metrics, when set, record the HTTP traffic; upload events are counted
	// by the avatar service, given the same Metrics as its Events. The API
	// never serves them: they tell anyone who reads them the traffic and the
	// errors of the service, so they have a listener of their own (see
	// Metrics.Handler).
	Metrics *Metrics
}

func (d *Deps) check() error {
	switch {
	case d.Logger == nil, d.Now == nil, d.Login == nil, d.Tokens == nil, d.Limiter == nil, d.Avatars == nil:
		return errors.New("handler: missing dependency")
	}
	return nil
}

// bodyLimit is the contract's cap on request bodies.
const bodyLimit = "16KiB" // Echo reads "16K" as 16,000 bytes

// New builds the Echo instance serving the whole API.
func New(d Deps) (*echo.Echo, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	d.Logger = slog.New(LogHandler(d.Logger.Handler()))
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Logger)
	e.IPExtractor = ipExtractor(d.Limits.TrustedProxies)
	e.Use(requestIDMiddleware, logMiddleware(d.Logger, d.Now))
	if d.Metrics != nil {
		e.Use(d.Metrics.middleware)
	}
	e.Use(middleware.Recover(), middleware.BodyLimit(bodyLimit))
	addRoutes(e, &d)
	return e, nil
}

// addRoutes lists every route of the API.
func addRoutes(e *echo.Echo, d *Deps) {
	e.GET("/healthz", handleHealthz)
	e.GET("/readyz", handleReadyz(d))

	e.POST("/v1/session", handleSession(d), rateLimit(d, "session:", d.Limits.SessionsPerMinute, func(c echo.Context) string { return c.RealIP() }))

	// Per route rather than an Echo group: a group's catch-all would answer
	// a wrong method with 404 instead of 405.
	authed := requireSession(d.Tokens)
	e.GET("/v1/me", handleGetMe(d), authed)
	e.PATCH("/v1/me", handlePatchMe(d), authed)
	// wx.request cannot send PATCH (its methods are OPTIONS, GET, HEAD,
	// POST, PUT, DELETE, TRACE, CONNECT), so mini programs set the nickname
	// with PUT: same body, same answers.
	e.PUT("/v1/me", handlePatchMe(d), authed)
	e.DELETE("/v1/me", handleDeleteMe(d), authed)
	e.POST("/v1/avatar/uploads", handleCreateUpload(d), authed, rateLimit(d, "uploads:", d.Limits.UploadsPerMinute, sessionUserID))
	e.POST("/v1/avatar/uploads/:id/confirm", handleConfirm(d), authed, rateLimit(d, "confirms:", d.Limits.ConfirmsPerMinute, sessionUserID))

	if d.Push != nil {
		// WeChat's servers, not users: the signature is the credential.
		e.GET("/wechat/push", handlePushCheck(d))
		e.POST("/wechat/push", handlePush(d))
	}
}
