package handler

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wxavatar/wxavatar/auth"
)

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
