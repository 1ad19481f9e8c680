// Package avatar owns what wxavatar is for: a user's profile (login, nickname)
// and the life cycle of an avatar upload, from the server-chosen key a client
// is signed to upload to, through confirm's checks, to the sweeper that
// deletes what nobody will use. It knows nothing of HTTP, SQL or the storage provider: it
// declares the small interfaces it needs of the records (Records) and of
// object storage (Objects), takes the clock as a func, and answers with the
// errors below, which the HTTP layer maps to statuses in one place.
package avatar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// User is a person who logged in through the mini program.
type User struct {
	ID       string // opaque public id
	OpenID   string
	UnionID  string // "" when none
	Nickname string // "" until set
	// NicknameCheck is what content security said of Nickname:
	// NicknameChecked, NicknameReviewed, NicknameUnchecked, or "" when no
	// check ran.
	NicknameCheck string
	AvatarURL     string // "" until an avatar is confirmed
	// AvatarThumbURL is the avatar's square thumbnail, "" without an avatar.
	AvatarThumbURL string
	// AvatarReview is what the user is to be told of the content check of
	// their latest avatar: ReviewPending or ReviewRejected, for the upload
	// AvatarReviewUploadID; "" when there is nothing to tell.
	AvatarReview         string
	AvatarReviewUploadID string
	// AvatarReviewReason says why an avatar was rejected: VerdictRisky,
	// VerdictReview or VerdictUnchecked.
	AvatarReviewReason string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// UploadStatus is where an upload is in its life: pending until the object
// is checked, then confirmed or rejected for good, or expired when its
// signature ran out with nothing confirmed.
type UploadStatus string

const (
	// UploadPending: signed, not yet confirmed or rejected.
	UploadPending UploadStatus = "pending"
	// UploadConfirmed: checked and recorded as the user's avatar (once).
	UploadConfirmed UploadStatus = "confirmed"
	// UploadRejected: the stored object was not an acceptable image.
	UploadRejected UploadStatus = "rejected"
	// UploadExpired: the signature expired with nothing confirmed and the
	// sweeper has taken the upload (and deletes whatever was stored).
	UploadExpired UploadStatus = "expired"
)

// Upload is a signature handed out for one avatar object, and what became of it.
type Upload struct {
	ID, UserID, ContentType string
	// Key is the object the upload signatures name; AvatarKey is where
	// confirm copies it once checked, and URL is AvatarKey's permanent URL.
	// Both must name the (unique) ID, which makes them unique too: Key's last
	// segment is the ID and an extension (".../<id>.png"), AvatarKey's
	// second-to-last segment is the ID (".../<id>/avatar.png").
	Key, AvatarKey, URL string
	// ThumbKey and ThumbURL are the thumbnail's, beside the avatar; ""
	// for uploads signed before thumbnails, whose ThumbURL is URL.
	ThumbKey, ThumbURL   string
	MaxBytes             int64
	Status               UploadStatus
	Size                 int64 // 0 until confirmed
	CreatedAt, ExpiresAt time.Time
	ConfirmedAt          time.Time // zero until confirmed
}

// Records is what the service needs of the records. Implementations
// translate their drivers' errors into ErrNotFound, ErrConflict,
// ErrTooManyPending and ErrRecordsUnavailable once; the service never sees
// another kind of failure it must tell apart.
type Records interface {
	// UpsertUser creates the user u.ID on first login (keyed by OpenID) or
	// returns the existing one.
	UpsertUser(ctx context.Context, u User, now time.Time) (User, error)
	// UserByID returns the user, or ErrNotFound for a user who is gone (the
	// service answers ErrUserGone).
	UserByID(ctx context.Context, id string) (User, error)
	// SetNickname stores the nickname as given and returns the user, or
	// ErrNotFound for a user who is gone.
	SetNickname(ctx context.Context, userID, nickname, check string, now time.Time) (User, error)
	// CreateUpload inserts a pending upload unless the user already holds
	// maxPending unexpired pending ones (ErrTooManyPending; 0: no cap). A
	// user who is gone is ErrNotFound.
	CreateUpload(ctx context.Context, u Upload, maxPending int, now time.Time) error
	// UploadForUser is ErrNotFound for a missing upload and for another
	// user's alike.
	UploadForUser(ctx context.Context, userID, uploadID string) (Upload, error)
	// ClaimWrite reserves writing the avatar of version etag of a pending
	// upload; a claim on another version younger than staleBefore, or an
	// upload no longer pending, is ErrConflict with the upload as it is.
	ClaimWrite(ctx context.Context, userID, uploadID, etag string, now, staleBefore time.Time) (Upload, error)
	// ConfirmUpload records a pending upload as the user's avatar, once;
	// one already confirmed is returned as it is, one rejected or expired
	// is ErrConflict with the upload. A plan with a Deadline queues the
	// avatar's content check, and one that Holds it leaves the user's avatar
	// as it is until the check passes (ReviewRecords.DecideReview).
	ConfirmUpload(ctx context.Context, userID, uploadID string, size int64, plan ReviewPlan, now time.Time) (User, Upload, error)
	// RejectUpload records a pending (or rejected) upload as rejected; a
	// confirmed or expired one is ErrConflict.
	RejectUpload(ctx context.Context, userID, uploadID string, now time.Time) (Upload, error)
	// EraseUser deletes the user and their uploads' records at once and
	// queues every object they name for deletion; an upload key still
	// writable under its signature waits until it expires plus grace. A
	// user who is gone is ErrNotFound.
	EraseUser(ctx context.Context, userID string, grace time.Duration, now time.Time) ([]ObjectDeletion, error)
	// QueueObjectDeletions queues objects that no record names for the
	// sweeper to delete.
	QueueObjectDeletions(ctx context.Context, queued []ObjectDeletion) error
	// FinishObjectDeletion forgets a queued key whose object is deleted,
	// unless it was queued again since claimedAt for a later time.
	FinishObjectDeletion(ctx context.Context, key string, claimedAt time.Time) error
	// UserByOpenID returns the user WeChat knows by openID, or ErrNotFound.
	UserByOpenID(ctx context.Context, openID string) (User, error)
	// RevokeProfile clears the nickname and/or the avatar, queueing the
	// objects of every avatar of theirs not yet deleted (current, replaced
	// or waiting for a verdict) for deletion at once; an avatar stored under
	// its upload key (from before avatars were copies) waits until its
	// signature expired plus grace. A user who is gone is ErrNotFound.
	RevokeProfile(ctx context.Context, userID string, nickname, avatar bool, grace time.Duration, now time.Time) ([]ObjectDeletion, error)
	ReviewRecords
	// Ping checks that the records answer.
	Ping(ctx context.Context) error
}

// The errors Records implementations return.
var (
	// ErrNotFound: no such record (for this user).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the record's state does not allow the change.
	ErrConflict = errors.New("conflict")
	// ErrTooManyPending: the user holds the most pending uploads allowed.
	ErrTooManyPending = errors.New("too many pending uploads")
	// ErrRecordsUnavailable: the database is busy, locked or closed; retry later.
	ErrRecordsUnavailable = errors.New("database unavailable")
)

// What the service answers; the HTTP layer gives each one its status.
var (
	// ErrUserGone: the session names a user who no longer exists. Every
	// route answers it like any other bad session.
	ErrUserGone = errors.New("user gone")
	// ErrUploadNotFound: the user has no upload with this id.
	ErrUploadNotFound = errors.New("upload not found")
	// ErrUploadMissing: nothing is stored under the upload's key yet, or it
	// changed while being confirmed; retrying after the upload finishes helps.
	ErrUploadMissing = errors.New("upload missing")
	// ErrUploadExpired: the signature expired with nothing confirmed.
	ErrUploadExpired = errors.New("upload expired")
	// ErrUnsupportedType: a content type other than the accepted images.
	ErrUnsupportedType = errors.New("unsupported content type")
	// ErrSizeRequired: the storage takes uploads by presigned PUT only (no
	// POST policy uploads), and a PUT URL can only be signed for a declared
	// size.
	ErrSizeRequired = errors.New("size required: the storage takes uploads by PUT only")
	// ErrInvalidNickname: a nickname the profile rule refuses (nickname.go).
	ErrInvalidNickname = errors.New("invalid nickname")
	// ErrBusy: the instance is decoding as many images as it may; nothing
	// was recorded, and retrying in a moment is safe.
	ErrBusy = errors.New("busy decoding images")
)

// RejectedError is a confirm that found the stored object unacceptable; the
// upload is rejected for good.
type RejectedError struct {
	// Reason is one of the Reason… codes, for programs; "" when a confirm
	// meets an upload rejected before.
	Reason string
	// Message says why, in a sentence safe to show to the user.
	Message string
}

// Error is the reason and the message.
func (e *RejectedError) Error() string { return "upload rejected: " + e.Reason + ": " + e.Message }

// SizeError is a declared size outside 1 to MaxBytes.
type SizeError struct{ MaxBytes int64 }

// Error states the allowed range.
func (e *SizeError) Error() string { return fmt.Sprintf("size must be 1 to %d bytes", e.MaxBytes) }

// PendingLimitError is a new upload refused because the user holds the most
// unconfirmed ones allowed; by RetryAfter the oldest has expired. It is
// ErrTooManyPending.
type PendingLimitError struct{ RetryAfter time.Duration }

// Error is ErrTooManyPending's text.
func (e *PendingLimitError) Error() string { return ErrTooManyPending.Error() }

// Is makes errors.Is(err, ErrTooManyPending) hold.
func (e *PendingLimitError) Is(target error) bool { return target == ErrTooManyPending }

// NotReadyError says which dependency does not answer.
type NotReadyError struct {
	Dependency string // "database" or "object storage"
	Err        error
}

// Error names the dependency and its error.
func (e *NotReadyError) Error() string { return e.Dependency + " does not answer: " + e.Err.Error() }

// Unwrap is the dependency's error.
func (e *NotReadyError) Unwrap() error { return e.Err }

// Events counts what happens, for metrics: uploads ("issued", "confirmed",
// "rejected", "expired") and content checks (what: "nickname" or "avatar";
// outcome: a verdict's Suggest, "unavailable" or "refused" for a check that
// could not be made, and for avatars "asked" for a check requested and
// "timeout" for a verdict that did not come).
type Events interface {
	UploadEvent(event string, n int)
	ModerationEvent(what, outcome string)
}

// Config is what the service is built from.
type Config struct {
	Records Records
	Objects Objects
	// Logger takes the service's log lines, with the request's context:
	// wrapped by handler.LogHandler, they carry the request id.
	Logger *slog.Logger
	Now    func() time.Time
	Events Events // nil: not counted
	// MaxBytes is the largest avatar accepted, in bytes.
	MaxBytes int64
	// UploadTTL is how long an upload signature stays valid.
	UploadTTL time.Duration
	// PendingUploads caps each user's unconfirmed uploads; 0: no cap.
	PendingUploads int
	// Images bound what confirm decodes and set what it writes; zero:
	// DefaultImageLimits.
	Images ImageLimits
	// Moderation checks nicknames before they are saved; zero: unchecked.
	Moderation Moderation
	// ImageWorkers is how many images confirm decodes at once; each holds
	// up to MaxBytes and the decoded pixels (4 bytes each, Images.MaxPixels
	// at most). 0: 2.
	ImageWorkers int
}

// Service is the profile and avatar upload life cycle. Its methods take the
// user id a verified session names.
type Service struct {
	records        Records
	objects        Objects
	log            *slog.Logger
	now            func() time.Time
	events         Events
	maxBytes       int64
	uploadTTL      time.Duration
	pendingUploads int
	limits         ImageLimits
	images         *slots
	moderation     Moderation
	reviewWake     chan struct{} // a check was queued: RunReviews acts now
}

// New checks cfg and builds the service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Records == nil, cfg.Objects == nil, cfg.Logger == nil, cfg.Now == nil:
		return nil, errors.New("avatar: missing dependency")
	case cfg.MaxBytes < 1:
		return nil, errors.New("avatar: max bytes below 1")
	case cfg.UploadTTL < time.Minute:
		return nil, errors.New("avatar: upload TTL below one minute")
	case cfg.PendingUploads < 0:
		return nil, errors.New("avatar: negative pending uploads")
	case cfg.ImageWorkers < 0:
		return nil, errors.New("avatar: negative image workers")
	case cfg.Moderation.VerdictTimeout < 0:
		return nil, errors.New("avatar: negative verdict timeout")
	}
	if cfg.Images == (ImageLimits{}) {
		cfg.Images = DefaultImageLimits
	}
	if err := cfg.Images.validate(); err != nil {
		return nil, err
	}
	if cfg.ImageWorkers == 0 {
		cfg.ImageWorkers = 2
	}
	return &Service{
		records: cfg.Records, objects: cfg.Objects, log: cfg.Logger, now: cfg.Now, events: cfg.Events,
		maxBytes: cfg.MaxBytes, uploadTTL: cfg.UploadTTL, pendingUploads: cfg.PendingUploads,
		limits: cfg.Images, images: newSlots(cfg.ImageWorkers), moderation: cfg.Moderation,
		reviewWake: make(chan struct{}, 1),
	}, nil
}

func (s *Service) event(name string) {
	if s.events != nil {
		s.events.UploadEvent(name, 1)
	}
}

// Ready checks that the records and object storage answer.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.records.Ping(ctx); err != nil {
		return &NotReadyError{Dependency: "database", Err: err}
	}
	if err := s.objects.Ping(ctx); err != nil {
		return &NotReadyError{Dependency: "object storage", Err: err}
	}
	return nil
}
