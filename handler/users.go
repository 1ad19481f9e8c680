package handler

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wxavatar/wxavatar/auth"
	"github.com/wxavatar/wxavatar/db"
)

// loginTimeout keeps the whole login inside the contract's 10 s.
const loginTimeout = 9 * time.Second

// userJSON is the contract's User. Only public fields: never the openid.
type userJSON struct {
	ID        string  `json:"id"`
	Nickname  string  `json:"nickname"`
	AvatarURL *string `json:"avatar_url"`
	UpdatedAt string  `json:"updated_at"`
}

func toUserJSON(u db.User) userJSON {
	j := userJSON{ID: u.ID, Nickname: u.Nickname, UpdatedAt: formatTime(u.UpdatedAt)}
	if u.AvatarURL != "" {
		j.AvatarURL = &u.AvatarURL
	}
	return j
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// newID makes an opaque public id: 128 random bits in lower-case base32.
func newID() string { return strings.ToLower(rand.Text()) }

// sortedBase32 is base32's 32 digits in ASCII order, so that strings of them
// sort as the numbers they write.
const sortedBase32 = "234567abcdefghijklmnopqrstuvwxyz"

// newUploadID makes an upload id of newID's form whose first 9 digits are the
// millisecond it was made, then 85 random bits. Upload ids are the primary key
// of the hottest insert: in time order each batch of new rows lands on the
// same one or two index pages instead of one random page per row. Whole
// seconds were too coarse: the thousands of ids of one second still spread
// over that second's pages, and each row of a group commit dirtied a page of
// its own (every dirty page is two writes to the WAL). The millisecond is no
// secret: the stored object says when it was written. Hand-written because
// the sortable id libraries (ULID, UUIDv7) spell ids in other alphabets and
// lengths than the ids already handed out.
func newUploadID(now time.Time) string {
	var b [26]byte
	ms := uint64(max(now.UnixMilli(), 0))
	for i := uploadIDTimeDigits - 1; i >= 0; i-- {
		b[i] = sortedBase32[ms&31]
		ms >>= 5
	}
	copy(b[uploadIDTimeDigits:], strings.ToLower(rand.Text()))
	return string(b[:])
}

// uploadIDTimeDigits is how many leading digits of an upload id write its
// millisecond: 45 bits, enough until the year 3084.
const uploadIDTimeDigits = 9

// validID reports whether s could be an id newID made; anything else cannot
// name a record and is answered as not found without a query.
func validID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

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
	if err := r.d.Store.Ping(ctx); err != nil {
		r.verdict = &apiError{status: http.StatusServiceUnavailable, code: "not_ready", message: "database does not answer", cause: err}
	} else if err := r.d.Objects.Ping(ctx); err != nil {
		r.verdict = &apiError{status: http.StatusServiceUnavailable, code: "not_ready", message: "object storage does not answer", cause: err}
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
		user, err := d.Store.UpsertUser(ctx, db.User{ID: newID(), OpenID: id.OpenID, UnionID: id.UnionID}, d.Now())
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

// currentUser loads the session's user (see userOrUnauthorized).
func currentUser(c echo.Context, d *Deps) (db.User, error) {
	return userOrUnauthorized(c.Request().Context(), d, sessionUserID(c))
}

// userOrUnauthorized loads the user id names; a session whose user is gone is
// refused like any other bad token, on every route.
func userOrUnauthorized(ctx context.Context, d *Deps, id string) (db.User, error) {
	u, err := d.Store.UserByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return db.User{}, auth.ErrUnauthorized
	}
	return u, err
}

func handleGetMe(d *Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := currentUser(c, d)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, userResponse{User: toUserJSON(u)})
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
		name, ok := normalizeNickname(*req.Nickname)
		if !ok {
			return newError(http.StatusBadRequest, "invalid_nickname",
				"nickname must be 1 to 32 visible characters, with no blank or invisible ones")
		}
		u, err := d.Store.SetNickname(c.Request().Context(), sessionUserID(c), name, d.Now())
		if errors.Is(err, db.ErrNotFound) {
			return auth.ErrUnauthorized
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, userResponse{User: toUserJSON(u)})
	}
}
