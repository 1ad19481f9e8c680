package handler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wxavatar/wxavatar/auth"
	"github.com/wxavatar/wxavatar/db"
	"github.com/wxavatar/wxavatar/internal/jsonx"
	"github.com/wxavatar/wxavatar/storage"
)

// imageExt is the accepted content types and the key extension of each.
var imageExt = map[string]string{
	"image/jpeg": ".jpg",
	"image/png":  ".png",
	"image/webp": ".webp",
}

const (
	// uploadsPrefix holds what clients upload, private until confirm
	// checks it; avatarsPrefix holds the avatars confirm writes, public.
	// Uploads signed before 2026-12 have their keys under avatars/ too.
	uploadsPrefix = "uploads/"
	avatarsPrefix = "avatars/"
	// clockSkew starts each signature a little in the past so that COS,
	// whose clock may lag ours, does not see it as not yet valid.
	clockSkew = time.Minute
	// confirmTimeout keeps the whole confirm inside the contract's 10 s.
	confirmTimeout = 9 * time.Second
	// avatarCacheControl: an avatar's key is never written again once
	// confirmed (a new avatar gets a new key), so caches may keep it for good.
	avatarCacheControl = "public, max-age=31536000, immutable"
	// copyLease: a confirm's claim on copying one version outlives the
	// whole confirm (confirmTimeout) many times over; an older one belongs
	// to a confirm that is gone.
	copyLease = time.Minute
)

type createUploadRequest struct {
	ContentType *string `json:"content_type"`
	Size        *int64  `json:"size"`
}

type postJSON struct {
	URL       string            `json:"url"`
	FileField string            `json:"file_field"`
	Form      map[string]string `json:"form"`
}

type putJSON struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

type newUploadJSON struct {
	ID        string   `json:"id"`
	Key       string   `json:"key"`
	ExpiresAt string   `json:"expires_at"`
	MaxBytes  int64    `json:"max_bytes"`
	URL       string   `json:"url"`
	Post      postJSON `json:"post"`
	Put       *putJSON `json:"put,omitempty"` // only for a declared size
}

// answerBuffers holds the buffers signature answers are written into.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// appendJSON appends what c.JSON writes for map[string]newUploadJSON{"upload":
// u}, newline included, without reflection: every signature answers with
// one (TestNewUploadJSON compares the two).
func (u newUploadJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"upload":{"id":`...)
	b = jsonx.AppendString(b, u.ID)
	b = append(b, `,"key":`...)
	b = jsonx.AppendString(b, u.Key)
	b = append(b, `,"expires_at":`...)
	b = jsonx.AppendString(b, u.ExpiresAt)
	b = append(b, `,"max_bytes":`...)
	b = strconv.AppendInt(b, u.MaxBytes, 10)
	b = append(b, `,"url":`...)
	b = jsonx.AppendString(b, u.URL)
	b = append(b, `,"post":{"url":`...)
	b = jsonx.AppendString(b, u.Post.URL)
	b = append(b, `,"file_field":`...)
	b = jsonx.AppendString(b, u.Post.FileField)
	b = append(b, `,"form":`...)
	b = jsonx.AppendStringMap(b, u.Post.Form)
	b = append(b, '}')
	if u.Put != nil {
		b = append(b, `,"put":{"url":`...)
		b = jsonx.AppendString(b, u.Put.URL)
		b = append(b, `,"headers":`...)
		b = jsonx.AppendStringMap(b, u.Put.Headers)
		b = append(b, '}')
	}
	return append(b, "}}\n"...)
}

func handleCreateUpload(d *Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req createUploadRequest
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
		if req.ContentType == nil {
			return invalidRequest("content_type is required")
		}
		ext, ok := imageExt[*req.ContentType]
		if !ok {
			return newError(http.StatusUnsupportedMediaType, "unsupported_type", "content_type must be image/jpeg, image/png or image/webp")
		}
		if req.Size != nil && (*req.Size < 1 || *req.Size > d.UploadMaxBytes) {
			return newError(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("size must be 1 to %d bytes", d.UploadMaxBytes))
		}
		ctx := c.Request().Context()
		userID := sessionUserID(c)
		now := d.Now()
		// Whole seconds: the signatures' key times are in seconds, and
		// expires_at must be the instant they end.
		expires := now.Add(d.UploadTTL).Truncate(time.Second)
		up := db.Upload{
			ID:          newUploadID(now),
			UserID:      userID,
			ContentType: *req.ContentType,
			MaxBytes:    d.UploadMaxBytes,
			Status:      db.UploadPending,
			CreatedAt:   now,
			ExpiresAt:   expires,
		}
		// The server picks the keys: the client never names a path. The
		// signatures name Key and stay valid until they expire; confirm
		// copies the checked object to AvatarKey, which no signature names,
		// so nobody can overwrite an avatar once it is confirmed. Uploads
		// and avatars have prefixes of their own, so that the bucket can
		// publish avatars/ alone, let a lifecycle rule expire what is left
		// in uploads/, and grant each prefix only what it needs
		// (deploy/README.md, "Bucket setup").
		up.Key = uploadsPrefix + userID + "/" + up.ID + ext
		up.AvatarKey = avatarsPrefix + userID + "/" + up.ID + "/avatar" + ext
		up.URL = d.Objects.ObjectURL(up.AvatarKey)
		spec := storage.UploadSpec{
			Key: up.Key, ContentType: up.ContentType, MaxBytes: up.MaxBytes,
			NotBefore: now.Add(-clockSkew), Expires: expires,
		}
		if req.Size != nil {
			spec.Size = *req.Size // and so a PUT URL, which signs it (see storage.UploadSpec)
		}
		signed, err := d.Objects.SignUpload(ctx, spec)
		if err != nil {
			return err
		}
		if err := d.Store.CreateUpload(ctx, up, d.Limits.PendingUploads, now); err != nil {
			if errors.Is(err, db.ErrNotFound) {
				return auth.ErrUnauthorized // a valid token whose user is gone
			}
			if errors.Is(err, db.ErrTooManyPending) {
				return &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
					message:    "too many unconfirmed uploads; confirm or let them expire",
					retryAfter: int(math.Ceil(d.UploadTTL.Seconds()))}
			}
			return err
		}
		d.Metrics.UploadEvent("issued", 1)
		body := newUploadJSON{
			ID: up.ID, Key: up.Key, ExpiresAt: formatTime(expires), MaxBytes: up.MaxBytes, URL: up.URL,
			Post: postJSON{URL: signed.PostURL, FileField: "file", Form: signed.PostForm},
		}
		if signed.PutURL != "" {
			body.Put = &putJSON{URL: signed.PutURL, Headers: signed.PutHeaders}
		}
		if c.Request().URL.RawQuery != "" {
			// Echo indents for ?pretty; nothing else reads the query.
			return c.JSON(http.StatusCreated, map[string]newUploadJSON{"upload": body})
		}
		buf := answerBuffers.Get().(*[]byte)
		defer answerBuffers.Put(buf)
		*buf = body.appendJSON((*buf)[:0])
		return c.JSONBlob(http.StatusCreated, *buf) // copied out before it returns
	}
}

type uploadJSON struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	URL         string `json:"url"`
}

type confirmResponse struct {
	User   userJSON   `json:"user"`
	Upload uploadJSON `json:"upload"`
}

// writeConfirmed writes the 200 of a confirmed upload: the user and the
// upload.
func writeConfirmed(c echo.Context, u db.User, up db.Upload) error {
	return c.JSON(http.StatusOK, confirmResponse{User: toUserJSON(u), Upload: uploadJSON{
		ID: up.ID, Status: string(up.Status), Size: up.Size, ContentType: up.ContentType, URL: up.URL,
	}})
}

var (
	errUploadNotFound = newError(http.StatusNotFound, "upload_not_found", "no such upload")
	errUploadMissing  = newError(http.StatusConflict, "upload_missing", "nothing is stored under the upload's key yet, or it changed while being confirmed; retry after the upload finishes")
	errUploadExpired  = newError(http.StatusGone, "upload_expired", "the upload signature expired with nothing confirmed; ask for a new one")
)

// errRejected is the 422 of a rejected upload, with the reason a client can
// show; it changes nothing (recordRejection does).
func errRejected(reason string) *apiError {
	return newError(http.StatusUnprocessableEntity, "upload_rejected", reason)
}

func handleConfirm(d *Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		userID, uploadID := sessionUserID(c), c.Param("id")
		ctx, cancel := context.WithTimeout(d.Objects.Pin(c.Request().Context()), confirmTimeout)
		defer cancel()
		if !validID(uploadID) {
			return uploadNotFound(ctx, d, userID)
		}
		up, err := d.Store.UploadForUser(ctx, userID, uploadID)
		if errors.Is(err, db.ErrNotFound) {
			return uploadNotFound(ctx, d, userID)
		}
		if err != nil {
			return err
		}
		if up.Status != db.UploadPending {
			return answerSettled(ctx, c, d, up)
		}
		info, reason, err := inspect(ctx, d.Objects, up, d.Now())
		if err != nil {
			return err
		}
		if reason != "" {
			return recordRejection(ctx, d, up, reason)
		}
		// The avatar is a copy of exactly the version checked (If-Match):
		// bytes uploaded again under the still-valid signature, before or
		// after this, never reach it. An upload signed by an instance from
		// before avatars were copies keeps its avatar under its own key.
		if up.AvatarKey != up.Key {
			// Only one checked version may be copied: without the claim, a
			// confirm that checked bytes written again under the signature
			// could copy them over an avatar another confirm just recorded.
			now := d.Now()
			claimed, err := d.Store.ClaimCopy(ctx, userID, uploadID, info.ETag, now, now.Add(-copyLease))
			if errors.Is(err, db.ErrConflict) {
				return answerSettled(ctx, c, d, claimed)
			}
			if err != nil {
				return err
			}
			err = d.Objects.Copy(ctx, up.Key, up.AvatarKey, storage.CopySpec{
				IfMatch: info.ETag, ContentType: up.ContentType, CacheControl: avatarCacheControl,
			})
			if errors.Is(err, storage.ErrChanged) || errors.Is(err, storage.ErrNotFound) {
				return errUploadMissing // replaced or deleted since it was checked: retry
			}
			if err != nil {
				return err
			}
		}
		u, settled, err := d.Store.ConfirmUpload(ctx, userID, uploadID, info.Size, d.Now())
		if errors.Is(err, db.ErrConflict) {
			// Another request rejected it, or the sweeper took it, meanwhile:
			// the copy just made is nobody's avatar (the sweeper deletes it
			// too, if this fails).
			if up.AvatarKey != up.Key {
				if err := d.Objects.Delete(ctx, up.AvatarKey); err != nil {
					d.Logger.WarnContext(ctx, "copy of a lost confirm not deleted; the sweeper will", "upload_id", up.ID, "error", err.Error())
				}
			}
			return answerSettled(ctx, c, d, settled)
		}
		if err != nil {
			return err
		}
		d.Metrics.UploadEvent("confirmed", 1)
		return writeConfirmed(c, u, settled)
	}
}

// uploadNotFound answers a confirm of an upload the user does not have:
// 404, unless the user is gone, which every route answers alike with 401.
func uploadNotFound(ctx context.Context, d *Deps, userID string) error {
	if _, err := userOrUnauthorized(ctx, d, userID); err != nil {
		return err
	}
	return errUploadNotFound
}

// answerSettled answers a confirm of an upload that this request will not
// confirm: the same 200 as the confirm that did, or why it cannot be.
func answerSettled(ctx context.Context, c echo.Context, d *Deps, up db.Upload) error {
	switch up.Status {
	case db.UploadConfirmed:
		u, err := userOrUnauthorized(ctx, d, up.UserID)
		if err != nil {
			return err
		}
		return writeConfirmed(c, u, up)
	case db.UploadRejected:
		return errRejected("this upload was rejected; ask for a new signature")
	case db.UploadExpired:
		return errUploadExpired
	}
	// Still pending: another confirm is copying another version of the
	// object, stored since this one was checked. Retrying checks again.
	return errUploadMissing
}

const notStandard = "the stored object is not in the STANDARD storage class"

// inspect looks at the stored object with one ranged GET. It returns what
// storage says of the object when it is acceptable, or why it is not; err is
// for storage that did not answer.
func inspect(ctx context.Context, objects Objects, up db.Upload, now time.Time) (info storage.ObjectInfo, reason string, err error) {
	info, head, err := objects.Peek(ctx, up.Key, sniffPrefix)
	if errors.Is(err, storage.ErrNotFound) {
		if now.After(up.ExpiresAt) {
			return info, "", errUploadExpired
		}
		return info, "", errUploadMissing
	}
	if errors.Is(err, storage.ErrArchived) {
		return info, notStandard, nil
	}
	if err != nil {
		return info, "", err
	}
	// The signatures pin STANDARD; anything else was stored some other
	// way, and would cost more to keep or to read than we agreed to pay.
	if info.StorageClass != storage.StandardClass {
		return info, notStandard, nil
	}
	if info.Size < 1 || info.Size > up.MaxBytes {
		return info, fmt.Sprintf("the stored object is %d bytes; it must be 1 to %d", info.Size, up.MaxBytes), nil
	}
	if info.ContentType != up.ContentType {
		return info, "the stored object's Content-Type is not the declared one", nil
	}
	if got := sniffImage(head); got != up.ContentType {
		return info, fmt.Sprintf("the stored bytes are not a %s image", imageExt[up.ContentType][1:]), nil
	}
	return info, "", nil
}

// recordRejection records the rejection first, then deletes the object, and
// returns the 422 to answer. Once recorded, no confirm can accept the upload,
// and if the delete fails, or the client uploads again with its still-valid
// signature, the sweeper deletes the object after the signature expires. If another confirm accepted the upload
// meanwhile, the object is that user's avatar and stays.
func recordRejection(ctx context.Context, d *Deps, up db.Upload, reason string) error {
	if _, err := d.Store.RejectUpload(ctx, up.UserID, up.ID, d.Now()); err != nil {
		if errors.Is(err, db.ErrConflict) {
			return errRejected(reason)
		}
		return err
	}
	d.Logger.InfoContext(ctx, "upload rejected", "upload_id", up.ID, "reason", reason)
	d.Metrics.UploadEvent("rejected", 1)
	if err := d.Objects.Delete(ctx, up.Key); err != nil {
		d.Logger.WarnContext(ctx, "rejected object not deleted; the sweeper will", "upload_id", up.ID, "error", err.Error())
	}
	return errRejected(reason)
}
