package handler

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wxavatar/wxavatar/avatar"
)

// loginTimeout keeps the whole login inside the contract's 10 s.
const loginTimeout = 9 * time.Second

// userJSON is the contract's User. Only public fields: never the openid.
type userJSON struct {
	ID             string  `json:"id"`
	Nickname       string  `json:"nickname"`
	AvatarURL      *string `json:"avatar_url"`
	AvatarThumbURL *string `json:"avatar_thumb_url"`
	// AvatarReview is null unless the user's latest avatar waits for its
	// content check or was rejected by it.
	AvatarReview *avatarReviewJSON `json:"avatar_review"`
	UpdatedAt    string            `json:"updated_at"`
}

// avatarReviewJSON is the contract's AvatarReview.
type avatarReviewJSON struct {
	Status   string `json:"status"` // pending or rejected
	UploadID string `json:"upload_id"`
	Reason   string `json:"reason,omitempty"` // rejected only: risky, review or unchecked
}

func toUserJSON(u avatar.User) userJSON {
	j := userJSON{ID: u.ID, Nickname: u.Nickname, UpdatedAt: formatTime(u.UpdatedAt)}
	if u.AvatarReview != "" {
		j.AvatarReview = &avatarReviewJSON{Status: u.AvatarReview, UploadID: u.AvatarReviewUploadID}
		if u.AvatarReview == avatar.ReviewRejected {
			j.AvatarReview.Reason = u.AvatarReviewReason
		}
	}
	if u.AvatarURL != "" {
		j.AvatarURL = &u.AvatarURL
		j.AvatarThumbURL = &u.AvatarThumbURL
		if u.AvatarThumbURL == "" {
			j.AvatarThumbURL = &u.AvatarURL
		}
	}
	return j
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyCheckEvery is how long one readiness verdict is reused: /readyz
// needs no login, and each check is a database query and a signed storage
// call, so a flood of requests must not become a flood of checks.
const readyCheckEvery = 5 * time.Second

// readiness runs at most one database and one storage check per
// readyCheckEvery, whatever the request rate; requests that arrive while
// a check runs wait for its verdict.
type readiness struct {
	d       *Deps
	mu      sync.Mutex
	checked time.Time
	verdict *apiError // nil: ready
}

func (r *readiness) check(ctx context.Context) *apiError {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.d.Now(); now.Sub(r.checked) < readyCheckEvery && !now.Before(r.checked) {
		return r.verdict
	}
	// Not the request's own context: one caller hanging up must not
	// become every caller's "not ready".
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	r.verdict = nil
	if err := r.d.Avatars.Ready(ctx); err != nil {
		r.verdict = toAPIError(err)
	}
	r.checked = r.d.Now()
	return r.verdict
}

func handleReadyz(d *Deps) echo.HandlerFunc {
	r := &readiness{d: d}
	return func(c echo.Context) error {
		if err := r.check(c.Request().Context()); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	}
}

type sessionRequest struct {
	Code *string `json:"code"`
}

type sessionResponse struct {
	Token     string   `json:"token"`
	ExpiresAt string   `json:"expires_at"`
	User      userJSON `json:"user"`
}

func validCode(code string) bool {
	if code == "" || len(code) > 128 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < 0x21 || code[i] > 0x7e {
			return false
		}
	}
	return true
}

func handleSession(d *Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req sessionRequest
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
		if req.Code == nil || !validCode(*req.Code) {
			return invalidRequest("code must be 1 to 128 printable ASCII characters")
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), loginTimeout)
		defer cancel()
		id, err := d.Login.Exchange(ctx, *req.Code)
		if err != nil {
			return err
		}
		user, err := d.Avatars.SignIn(ctx, id.OpenID, id.UnionID)
		if err != nil {
			return err
		}
		token, exp, err := d.Tokens.Issue(user.ID)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return c.JSON(http.StatusOK, sessionResponse{Token: token, ExpiresAt: formatTime(exp), User: toUserJSON(user)})
	}
}

type userResponse struct {
	User userJSON `json:"user"`
}

func handleGetMe(d *Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := d.Avatars.User(c.Request().Context(), sessionUserID(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, userResponse{User: toUserJSON(u)})
	}
}

// handleDeleteMe erases the user: 204, and the token stops working.
func handleDeleteMe(d *Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := d.Avatars.Erase(c.Request().Context(), sessionUserID(c)); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

type patchMeRequest struct {
	Nickname *string `json:"nickname"`
}

func handlePatchMe(d *Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req patchMeRequest
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
		if req.Nickname == nil {
			return newError(http.StatusBadRequest, "invalid_nickname", "nickname is required")
		}
		u, err := d.Avatars.SetNickname(c.Request().Context(), sessionUserID(c), *req.Nickname)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, userResponse{User: toUserJSON(u)})
	}
}
