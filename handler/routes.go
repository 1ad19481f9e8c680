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
	"github.com/wxavatar/wxavatar/db"
	"github.com/wxavatar/wxavatar/storage"
)

// Store is what the handlers need of the records.
type Store interface {
	UpsertUser(ctx context.Context, u db.User, now time.Time) (db.User, error)
	UserByID(ctx context.Context, id string) (db.User, error)
	SetNickname(ctx context.Context, userID, nickname string, now time.Time) (db.User, error)
	CreateUpload(ctx context.Context, u db.Upload, maxPending int, now time.Time) error
	UploadForUser(ctx context.Context, userID, uploadID string) (db.Upload, error)
	ClaimCopy(ctx context.Context, userID, uploadID, etag string, now, staleBefore time.Time) (db.Upload, error)
	ConfirmUpload(ctx context.Context, userID, uploadID string, size int64, now time.Time) (db.User, db.Upload, error)
	RejectUpload(ctx context.Context, userID, uploadID string, now time.Time) (db.Upload, error)
	Ping(ctx context.Context) error
}

// Objects is what the handlers need of object storage.
type Objects interface {
	// Pin makes every storage call under the returned context use the keys
	// in force now, even if they rotate before the request ends.
	Pin(ctx context.Context) context.Context
	SignUpload(ctx context.Context, spec storage.UploadSpec) (storage.SignedUpload, error)
	ObjectURL(key string) string
	// Peek reads the first n bytes of key and what storage says of the
	// whole object (size, type, ETag), all of one version.
	Peek(ctx context.Context, key string, n int) (storage.ObjectInfo, []byte, error)
	// Copy copies src to dst server side, only while src still has
	// spec.IfMatch as its ETag (storage.ErrChanged otherwise).
	Copy(ctx context.Context, src, dst string, spec storage.CopySpec) error
	Delete(ctx context.Context, key string) error
	Ping(ctx context.Context) error
}

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

// Limits are the abuse limits; 0 turns one off.
type Limits struct {
	UploadsPerMinute  int
	PendingUploads    int
	SessionsPerMinute int
	// ConfirmsPerMinute bounds the storage calls (a read and a copy) that
	// one user's confirms make.
	ConfirmsPerMinute int
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
}

// Deps is everything the API needs, passed in so tests can swap any part.
type Deps struct {
	Logger         *slog.Logger
	Now            func() time.Time
	Login          Login
	Tokens         Tokens
	Store          Store
	Objects        Objects
	Limiter        Limiter
	UploadMaxBytes int64
	UploadTTL      time.Duration
	Limits         Limits
	// Metrics, when set, are recorded. The API never serves them: they
	// tell anyone who reads them the traffic and the errors of the service,
	// so they have a listener of their own (see Metrics.Handler).
	Metrics *Metrics
}

func (d *Deps) check() error {
	switch {
	case d.Logger == nil, d.Now == nil, d.Login == nil, d.Tokens == nil, d.Store == nil, d.Objects == nil, d.Limiter == nil:
		return errors.New("handler: missing dependency")
	case d.UploadMaxBytes < 1:
		return errors.New("handler: upload max bytes below 1")
	case d.UploadTTL < time.Minute:
		return errors.New("handler: upload TTL below one minute")
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
	e.POST("/v1/avatar/uploads", handleCreateUpload(d), authed, rateLimit(d, "uploads:", d.Limits.UploadsPerMinute, sessionUserID))
	e.POST("/v1/avatar/uploads/:id/confirm", handleConfirm(d), authed, rateLimit(d, "confirms:", d.Limits.ConfirmsPerMinute, sessionUserID))
}
