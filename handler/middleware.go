package handler

// The API's middleware, in the order New installs them: request id, log
// line, metrics (Metrics.middleware, in metrics.go), recover, body limit;
// then, per route, the session and the rate limits.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wxavatar/wxavatar/auth"
)

const requestIDHeader = echo.HeaderXRequestID

// requestIDMiddleware echoes a sane incoming X-Request-Id or makes one. Echo's
// own RequestID middleware echoes whatever the client sends, which would let
// a client inject arbitrary text into our logs and headers.
func requestIDMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(requestIDHeader)
		if !saneRequestID(id) {
			var b [12]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Response().Header().Set(requestIDHeader, id)
		// In the request's context too, so that every log line made with it
		// names the request (see LogHandler).
		c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), requestIDKey{}, id)))
		return next(c)
	}
}

func saneRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

func requestID(c echo.Context) string {
	id, _ := c.Request().Context().Value(requestIDKey{}).(string)
	return id
}

// logMiddleware writes one line per request: method and route template from
// bounded sets (never the raw method or URL), status and duration. Headers
// and bodies are never logged: they carry tokens and codes.
func logMiddleware(logger *slog.Logger, now func() time.Time) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := now()
			err := next(c)
			if err != nil {
				c.Error(err) // write the answer now so its status is logged
			}
			status := c.Response().Status
			level := slog.LevelInfo
			if status >= http.StatusInternalServerError {
				level = slog.LevelError
			}
			logger.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", methodLabel(c.Request().Method)),
				slog.String("route", routeLabel(c)),
				slog.Int("status", status),
				slog.Duration("duration", now().Sub(start)),
			)
			return nil
		}
	}
}

// ipExtractor believes X-Forwarded-For only from the configured proxies;
// Echo's default would also believe any private or loopback peer.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// rateLimit allows perMinute requests a minute per key, in bursts of up to
// perMinute; 0 turns it off.
func rateLimit(d *Deps, scope string, perMinute int, key func(echo.Context) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if perMinute <= 0 {
			return next
		}
		return func(c echo.Context) error {
			ok, retryAfter, err := d.Limiter.Allow(c.Request().Context(), scope+key(c), perMinute, d.Now())
			if err != nil {
				return err
			}
			if !ok {
				return &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
					message: "too many requests, try again later", retryAfter: int(math.Ceil(retryAfter.Seconds()))}
			}
			return next(c)
		}
	}
}

// userIDKey is where requireSession leaves the session's user id.
const userIDKey = "wxavatar.user_id"

// requireSession lets a request through only with a valid
// "Authorization: Bearer <token>" and records the token's subject for
// sessionUserID. Every reason to refuse is the same auth.ErrUnauthorized.
func requireSession(tokens Tokens) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			scheme, token, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				return auth.ErrUnauthorized
			}
			sub, err := tokens.Verify(strings.TrimSpace(token))
			if err != nil {
				return err
			}
			c.Set(userIDKey, sub)
			return next(c)
		}
	}
}

// sessionUserID is the session's user id, "" outside requireSession.
func sessionUserID(c echo.Context) string {
	id, _ := c.Get(userIDKey).(string)
	return id
}
