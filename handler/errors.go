package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/wxavatar/wxavatar/auth"
	"github.com/wxavatar/wxavatar/avatar"
)

// apiError is an answer the contract names: a status, a stable code and a
// message safe to show. cause, if any, goes to the log only.
type apiError struct {
	status     int
	code       string
	message    string
	reason     string // a rejection's machine-readable reason, if any
	retryAfter int    // seconds; 0 = no Retry-After header
	cause      error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.code, e.message, e.cause)
	}
	return e.code + ": " + e.message
}

func (e *apiError) Unwrap() error { return e.cause }

func newError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func invalidRequest(message string) *apiError {
	return newError(http.StatusBadRequest, "invalid_request", message)
}

// toAPIError is the one place where an error of any package becomes an HTTP
// status and a stable error code. Anything it does not know is a 500 whose
// cause is logged and never shown.
func toAPIError(err error) *apiError {
	var (
		ae       *apiError
		rejected *avatar.RejectedError
		tooLarge *avatar.SizeError
		pending  *avatar.PendingLimitError
		notReady *avatar.NotReadyError
	)
	wrap := func(status int, code, msg string, retryAfter int) *apiError {
		return &apiError{status: status, code: code, message: msg, retryAfter: retryAfter, cause: err}
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &notReady):
		return &apiError{status: http.StatusServiceUnavailable, code: "not_ready",
			message: notReady.Dependency + " does not answer", cause: notReady.Err}
	case errors.As(err, &rejected):
		e := wrap(http.StatusUnprocessableEntity, "upload_rejected", rejected.Message, 0)
		e.reason = rejected.Reason
		return e
	case errors.As(err, &tooLarge):
		return wrap(http.StatusRequestEntityTooLarge, "too_large", tooLarge.Error(), 0)
	case errors.As(err, &pending):
		return wrap(http.StatusTooManyRequests, "rate_limited", "too many unconfirmed uploads; confirm or let them expire",
			int(math.Ceil(pending.RetryAfter.Seconds())))
	case errors.Is(err, avatar.ErrBusy):
		return wrap(http.StatusServiceUnavailable, "busy", "too many images are being processed; nothing was recorded, retry in a moment", 1)
	case errors.Is(err, avatar.ErrUploadNotFound):
		return wrap(http.StatusNotFound, "upload_not_found", "no such upload", 0)
	case errors.Is(err, avatar.ErrUploadMissing):
		return wrap(http.StatusConflict, "upload_missing", "nothing is stored under the upload's key yet, or it changed while being confirmed; retry after the upload finishes", 0)
	case errors.Is(err, avatar.ErrUploadExpired):
		return wrap(http.StatusGone, "upload_expired", "the upload signature expired with nothing confirmed; ask for a new one", 0)
	case errors.Is(err, avatar.ErrSizeRequired):
		e := wrap(http.StatusBadRequest, "invalid_request", "size is required: this server's storage takes uploads by PUT only, and a PUT URL is signed for one size", 0)
		e.reason = "size_required"
		return e
	case errors.Is(err, avatar.ErrUnsupportedType):
		return wrap(http.StatusUnsupportedMediaType, "unsupported_type", "content_type must be image/jpeg, image/png or image/webp", 0)
	case errors.Is(err, avatar.ErrNicknameRejected):
		return wrap(http.StatusUnprocessableEntity, "nickname_rejected", "WeChat content security judged the nickname unsuitable; choose another", 0)
	case errors.Is(err, avatar.ErrModeratorInactiveUser):
		return wrap(http.StatusConflict, "user_inactive", "WeChat will not check content for a user who has not opened the mini program recently; open it again, then retry", 0)
	case errors.Is(err, avatar.ErrModerationUnavailable):
		return wrap(http.StatusServiceUnavailable, "moderation_unavailable", "the content check could not be made; nothing was saved, retrying is safe", 0)
	case errors.Is(err, avatar.ErrInvalidNickname):
		return wrap(http.StatusBadRequest, "invalid_nickname", "nickname must be 1 to 32 visible characters, with no blank or invisible ones", 0)
	case errors.Is(err, auth.ErrUnauthorized), errors.Is(err, avatar.ErrUserGone):
		// A session whose user is gone is refused like any other bad token.
		return wrap(http.StatusUnauthorized, "unauthorized", "missing, malformed, expired or invalid session token", 0)
	case errors.Is(err, auth.ErrInvalidCode):
		return wrap(http.StatusUnauthorized, "invalid_code", "the login code is invalid or was already used", 0)
	case errors.Is(err, auth.ErrUserRestricted):
		return wrap(http.StatusForbidden, "user_restricted", "WeChat blocked this login as high-risk", 0)
	case errors.Is(err, auth.ErrRateLimited):
		return wrap(http.StatusTooManyRequests, "rate_limited", "too many logins, try again later", 60)
	case errors.Is(err, auth.ErrUnavailable):
		return wrap(http.StatusBadGateway, "wechat_unavailable", "WeChat did not answer properly, try again", 0)
	case errors.Is(err, avatar.ErrStorageUnavailable):
		return wrap(http.StatusServiceUnavailable, "storage_unavailable", "object storage did not answer, retrying is safe", 0)
	case errors.Is(err, avatar.ErrRecordsUnavailable):
		return wrap(http.StatusServiceUnavailable, "database_unavailable", "the database is busy, retrying is safe", 1)
	case errors.Is(err, context.DeadlineExceeded):
		return wrap(http.StatusServiceUnavailable, "timeout", "the request took too long, retrying is safe", 0)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return fromEchoError(he, err)
	}
	return &apiError{status: http.StatusInternalServerError, code: "internal_error", message: "internal error", cause: err}
}

// fromEchoError maps the errors Echo's router and middleware raise.
func fromEchoError(he *echo.HTTPError, err error) *apiError {
	e := &apiError{status: he.Code, cause: err}
	switch he.Code {
	case http.StatusNotFound:
		e.code, e.message = "not_found", "no such route"
	case http.StatusMethodNotAllowed:
		e.code, e.message = "method_not_allowed", "method not allowed on this route"
	case http.StatusRequestEntityTooLarge:
		e.code, e.message = "request_too_large", "request body larger than 16 KiB"
	case http.StatusUnauthorized:
		e.code, e.message = "unauthorized", "missing, malformed, expired or invalid session token"
	case http.StatusTooManyRequests:
		e.code, e.message = "rate_limited", "too many requests"
	default:
		if he.Code >= 500 || he.Code < 400 {
			return &apiError{status: http.StatusInternalServerError, code: "internal_error", message: "internal error", cause: err}
		}
		e.code, e.message = "invalid_request", http.StatusText(he.Code)
	}
	return e
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason,omitempty"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// errorHandler writes every non-2xx answer in the contract's shape.
func errorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		ae := toAPIError(err)
		if ae.status >= 500 {
			logger.ErrorContext(c.Request().Context(), "request failed",
				"route", routeLabel(c), "code", ae.code, "error", err.Error())
		}
		if ae.retryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
		}
		if ae.status == http.StatusUnauthorized {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="wxavatar"`)
		}
		var body errorBody
		body.Error.Code, body.Error.Message, body.Error.Reason, body.RequestID = ae.code, ae.message, ae.reason, requestID(c)
		var werr error
		if c.Request().Method == http.MethodHead {
			werr = c.NoContent(ae.status)
		} else {
			werr = c.JSON(ae.status, body)
		}
		if werr != nil {
			logger.WarnContext(c.Request().Context(), "write error response", "error", werr.Error())
		}
	}
}
