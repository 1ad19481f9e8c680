package avatar

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// imageExt is the accepted content types and the key extension of each.
var imageExt = map[string]string{
	"image/jpeg": ".jpg",
	"image/png":  ".png",
	"image/webp": ".webp",
}

// PublicPrefix starts the key of every object the service publishes: the
// avatars and thumbnails confirm writes. The bucket's policy makes what is
// under it publicly readable, and nothing else (deploy/README.md, "Bucket
// setup").
const PublicPrefix = "avatars/"

const (
	// uploadsPrefix holds what clients upload, private until confirm
	// checks it; avatarsPrefix holds the avatars confirm writes, public.
	// Uploads signed before 2026-12 have their keys under avatars/ too.
	uploadsPrefix = "uploads/"
	avatarsPrefix = PublicPrefix
	// clockSkew starts each signature a little in the past so that a
	// store whose clock lags ours does not see it as not yet valid (COS
	// checks the start of its key time; S3 and OSS date a signature when
	// it is made).
	clockSkew = time.Minute
	// confirmTimeout keeps the whole confirm inside the contract's 10 s.
	confirmTimeout = 9 * time.Second
	// avatarCacheControl: an avatar's key is never written again once
	// confirmed (a new avatar gets a new key), so caches may keep it for good.
	avatarCacheControl = "public, max-age=31536000, immutable"
	// writeLease: a confirm's claim on writing one version's avatar
	// outlives the whole confirm (confirmTimeout) many times over; an older
	// one belongs to a confirm that is gone.
	writeLease = time.Minute
)

// CreateUpload records a pending upload for the user and signs its upload:
// a POST form, and a PUT URL when size (in bytes) is declared (> 0). The
// content type must be one of the accepted images (ErrUnsupportedType) and a
// declared size at most the service's MaxBytes (*SizeError).
func (s *Service) CreateUpload(ctx context.Context, userID, contentType string, size *int64) (Upload, SignedUpload, error) {
	ext, ok := imageExt[contentType]
	if !ok {
		return Upload{}, SignedUpload{}, ErrUnsupportedType
	}
	if size != nil && (*size < 1 || *size > s.maxBytes) {
		return Upload{}, SignedUpload{}, &SizeError{MaxBytes: s.maxBytes}
	}
	now := s.now()
	// Whole seconds: the signatures' key times are in seconds, and
	// ExpiresAt must be the instant they end.
	expires := now.Add(s.uploadTTL).Truncate(time.Second)
	up := Upload{
		ID:          newUploadID(now),
		UserID:      userID,
		ContentType: contentType,
		MaxBytes:    s.maxBytes,
		Status:      UploadPending,
		CreatedAt:   now,
		ExpiresAt:   expires,
	}
	// The server picks the keys: the client never names a path. The
	// signatures name Key and stay valid until they expire; confirm writes
	// the avatar and its thumbnail, re-encoded from the checked image, to
	// AvatarKey and ThumbKey, which no signature names, so nobody can
	// overwrite an avatar once it is confirmed. Uploads and avatars have
	// prefixes of their own, so that the bucket can publish avatars/ alone,
	// let a lifecycle rule expire what is left in uploads/, and grant each
	// prefix only what it needs (deploy/README.md, "Bucket setup"). The
	// avatar's keys have no extension: its format (JPEG, or PNG for an image
	// with transparency) is known only once confirm has decoded it, while
	// its URL is promised now; the stored Content-Type says which.
	up.Key = uploadsPrefix + userID + "/" + up.ID + ext
	up.AvatarKey = avatarsPrefix + userID + "/" + up.ID + "/avatar"
	up.ThumbKey = avatarsPrefix + userID + "/" + up.ID + "/thumb"
	up.URL = s.objects.ObjectURL(up.AvatarKey)
	up.ThumbURL = s.objects.ObjectURL(up.ThumbKey)
	spec := UploadSpec{
		Key: up.Key, ContentType: up.ContentType, MaxBytes: up.MaxBytes,
		NotBefore: now.Add(-clockSkew), Expires: expires,
	}
	if size != nil {
		spec.Size = *size
	}
	signed, err := s.objects.SignUpload(ctx, spec)
	if err != nil {
		return Upload{}, SignedUpload{}, err
	}
	if err := s.records.CreateUpload(ctx, up, s.pendingUploads, now); err != nil {
		switch {
		case errors.Is(err, ErrNotFound):
			return Upload{}, SignedUpload{}, ErrUserGone // a valid session whose user is gone
		case errors.Is(err, ErrTooManyPending):
			return Upload{}, SignedUpload{}, &PendingLimitError{RetryAfter: s.uploadTTL}
		}
		return Upload{}, SignedUpload{}, err
	}
	s.event("issued")
	return up, signed, nil
}

// Confirm checks what the user stored under the upload's key and, when it
// is an image within the limits, writes an avatar and a thumbnail re-encoded
// from its pixels and records them as the user's. Confirming again answers
// as the first confirm did. The outcomes: the user and the confirmed upload;
// or ErrUploadNotFound, ErrUploadMissing (retry once the upload finishes),
// ErrUploadExpired, *RejectedError (rejected for good), ErrBusy (retry in a
// moment), ErrUserGone.
func (s *Service) Confirm(ctx context.Context, userID, uploadID string) (User, Upload, error) {
	ctx, cancel := context.WithTimeout(s.objects.Pin(ctx), confirmTimeout)
	defer cancel()
	if !validID(uploadID) {
		return User{}, Upload{}, s.uploadNotFound(ctx, userID)
	}
	up, err := s.records.UploadForUser(ctx, userID, uploadID)
	if errors.Is(err, ErrNotFound) {
		return User{}, Upload{}, s.uploadNotFound(ctx, userID)
	}
	if err != nil {
		return User{}, Upload{}, err
	}
	if up.Status != UploadPending {
		return s.settled(ctx, up)
	}
	// From the read to the encoding, an image holds up to MaxBytes and its
	// decoded pixels: only so many at a time.
	release, err := s.images.acquire(ctx)
	if err != nil {
		return User{}, Upload{}, err
	}
	defer release()
	info, data, rejected, err := s.inspect(ctx, up)
	if err != nil {
		return User{}, Upload{}, err
	}
	var out renditions
	if rejected == nil {
		out, err = render(data, up.ContentType, s.limits)
		if !errors.As(err, &rejected) && err != nil {
			return User{}, Upload{}, err
		}
	}
	if rejected != nil {
		return User{}, Upload{}, s.recordRejection(ctx, up, rejected)
	}
	// Only one checked version may be written: without the claim, a confirm
	// that checked bytes written again under the still-valid signature could
	// write their rendition over an avatar another confirm just recorded.
	now := s.now()
	claimed, err := s.records.ClaimWrite(ctx, userID, uploadID, info.ETag, now, now.Add(-writeLease))
	if errors.Is(err, ErrConflict) {
		return s.settled(ctx, claimed)
	}
	if errors.Is(err, ErrNotFound) { // the user was erased meanwhile
		return User{}, Upload{}, s.uploadNotFound(ctx, userID)
	}
	if err != nil {
		return User{}, Upload{}, err
	}
	written := []string{up.AvatarKey}
	if err := s.objects.Put(ctx, up.AvatarKey, out.avatar.data,
		PutSpec{ContentType: out.avatar.contentType, CacheControl: avatarCacheControl}); err != nil {
		return User{}, Upload{}, err
	}
	// Uploads signed by instances from before thumbnails have no ThumbKey;
	// their records name the avatar as its own thumbnail.
	if up.ThumbKey != "" {
		written = append(written, up.ThumbKey)
		if err := s.objects.Put(ctx, up.ThumbKey, out.thumb.data,
			PutSpec{ContentType: out.thumb.contentType, CacheControl: avatarCacheControl}); err != nil {
			return User{}, Upload{}, err
		}
	}
	now = s.now()
	plan := s.reviewPlan(now)
	u, confirmed, err := s.records.ConfirmUpload(ctx, userID, uploadID, info.Size, plan, now)
	if errors.Is(err, ErrConflict) {
		// Another request rejected it, or the sweeper took it, meanwhile:
		// what was just written is nobody's avatar (the sweeper deletes it
		// too, if this fails).
		s.deleteAll(ctx, up, "rendition of a lost confirm", written)
		return s.settled(ctx, confirmed)
	}
	if errors.Is(err, ErrNotFound) {
		// The user was erased meanwhile, perhaps after the sweeper deleted
		// what erasure queued and before the writes above: no record names
		// these objects any more, so they are queued before anything else.
		queued := make([]ObjectDeletion, len(written))
		for i, key := range written {
			queued[i] = ObjectDeletion{Key: key, NotBefore: now}
		}
		if err := s.records.QueueObjectDeletions(ctx, queued); err != nil {
			s.log.ErrorContext(ctx, "renditions for an erased user not queued for deletion", "upload_id", up.ID, "error", err.Error())
		}
		s.deleteQueued(ctx, now, queued)
		return User{}, Upload{}, s.uploadNotFound(ctx, userID)
	}
	if err != nil {
		return User{}, Upload{}, err
	}
	s.event("confirmed")
	if !plan.Deadline.IsZero() {
		s.wakeReviewer()
	}
	// The client's file has served its purpose; the sweeper deletes it
	// anyway once the signature expires, should this fail. (An upload from
	// before avatars were copies has its avatar under that very key.)
	if up.Key != up.AvatarKey {
		s.deleteAll(ctx, up, "confirmed upload", []string{up.Key})
	}
	return u, confirmed, nil
}

// deleteAll deletes keys, logging what it could not: the sweeper deletes
// whatever is left.
func (s *Service) deleteAll(ctx context.Context, up Upload, what string, keys []string) {
	for _, key := range keys {
		if err := s.objects.Delete(ctx, key); err != nil {
			s.log.WarnContext(ctx, what+" not deleted; the sweeper will", "upload_id", up.ID, "error", err.Error())
		}
	}
}

// uploadNotFound is the answer to a confirm of an upload the user does not
// have: ErrUploadNotFound, unless the user is gone.
func (s *Service) uploadNotFound(ctx context.Context, userID string) error {
	if _, err := s.User(ctx, userID); err != nil {
		return err
	}
	return ErrUploadNotFound
}

// settled answers a confirm of an upload that this confirm will not record:
// what the confirm that did answered, or why it cannot be.
func (s *Service) settled(ctx context.Context, up Upload) (User, Upload, error) {
	switch up.Status {
	case UploadConfirmed:
		u, err := s.User(ctx, up.UserID)
		if err != nil {
			return User{}, Upload{}, err
		}
		return u, up, nil
	case UploadRejected:
		return User{}, Upload{}, &RejectedError{Message: "this upload was rejected; ask for a new signature"}
	case UploadExpired:
		return User{}, Upload{}, ErrUploadExpired
	}
	// Still pending: another confirm is copying another version of the
	// object, stored since this one was checked. Retrying checks again.
	return User{}, Upload{}, ErrUploadMissing
}

var errNotStandard = &RejectedError{Reason: ReasonStorageClass,
	Message: "the stored object is not in the STANDARD storage class"}

// inspect reads the stored object whole, with one GET, and checks what
// storage says of it. It returns the object and its bytes when they are
// worth decoding, or why they are not; err is for an object not there (yet)
// and for storage that did not answer.
func (s *Service) inspect(ctx context.Context, up Upload) (info ObjectInfo, data []byte, rejected *RejectedError, err error) {
	info, data, err = s.objects.Peek(ctx, up.Key, int(up.MaxBytes))
	if errors.Is(err, ErrObjectNotFound) {
		if s.now().After(up.ExpiresAt) {
			return info, nil, nil, ErrUploadExpired
		}
		return info, nil, nil, ErrUploadMissing
	}
	if errors.Is(err, ErrObjectArchived) {
		return info, nil, errNotStandard, nil
	}
	if errors.Is(err, ErrObjectUnreadable) {
		return info, nil, &RejectedError{Reason: ReasonUnreadable,
			Message: "storage will not give the stored object's bytes (was it stored encrypted with a key of the uploader's?)"}, nil
	}
	if err != nil {
		return info, nil, nil, err
	}
	if info.Size < 1 || info.Size > up.MaxBytes || int64(len(data)) != info.Size {
		return info, nil, &RejectedError{Reason: ReasonTooLarge,
			Message: fmt.Sprintf("the stored object is %d bytes; it must be 1 to %d", info.Size, up.MaxBytes)}, nil
	}
	// The signatures pin STANDARD; anything else was stored some other
	// way, and would cost more to keep or to read than we agreed to pay.
	if info.StorageClass != StandardClass {
		return info, nil, errNotStandard, nil
	}
	if info.ContentType != up.ContentType {
		return info, nil, &RejectedError{Reason: ReasonWrongContentType,
			Message: "the stored object's Content-Type is not the declared one"}, nil
	}
	return info, data, nil, nil
}

// recordRejection records the rejection first, then deletes the object, and
// returns the *RejectedError to answer. Once recorded, no confirm can accept
// the upload, and if the delete fails, or the client uploads again with its
// still-valid signature, the sweeper deletes the object after the signature
// expires. If another confirm accepted the upload meanwhile, the object is
// that user's avatar and stays.
func (s *Service) recordRejection(ctx context.Context, up Upload, rejected *RejectedError) error {
	if _, err := s.records.RejectUpload(ctx, up.UserID, up.ID, s.now()); err != nil {
		if errors.Is(err, ErrConflict) {
			return rejected
		}
		if errors.Is(err, ErrNotFound) { // the user was erased meanwhile
			return s.uploadNotFound(ctx, up.UserID)
		}
		return err
	}
	s.log.InfoContext(ctx, "upload rejected", "upload_id", up.ID, "reason", rejected.Reason, "message", rejected.Message)
	s.event("rejected")
	s.deleteAll(ctx, up, "rejected object", []string{up.Key})
	return rejected
}
