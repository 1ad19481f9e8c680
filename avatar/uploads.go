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
	// signatures name Key and stay valid until they expire; confirm copies
	// the checked object to AvatarKey, which no signature names, so nobody
	// can overwrite an avatar once it is confirmed. Uploads and avatars have
	// prefixes of their own, so that the bucket can publish avatars/ alone,
	// let a lifecycle rule expire what is left in uploads/, and grant each
	// prefix only what it needs (deploy/README.md, "Bucket setup").
	up.Key = uploadsPrefix + userID + "/" + up.ID + ext
	up.AvatarKey = avatarsPrefix + userID + "/" + up.ID + "/avatar" + ext
	up.URL = s.objects.ObjectURL(up.AvatarKey)
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
// is an acceptable image, copies exactly that version to the avatar key and
// records it as the user's avatar. Confirming again answers as the first
// confirm did. The outcomes: the user and the confirmed upload; or
// ErrUploadNotFound, ErrUploadMissing (retry once the upload finishes),
// ErrUploadExpired, *RejectedError (rejected for good), ErrUserGone.
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
	info, reason, err := s.inspect(ctx, up)
	if err != nil {
		return User{}, Upload{}, err
	}
	if reason != "" {
		return User{}, Upload{}, s.recordRejection(ctx, up, reason)
	}
	// The avatar is a copy of exactly the version checked (If-Match): bytes
	// uploaded again under the still-valid signature, before or after this,
	// never reach it. An upload signed by an instance from before avatars
	// were copies keeps its avatar under its own key.
	if up.AvatarKey != up.Key {
		// Only one checked version may be copied: without the claim, a
		// confirm that checked bytes written again under the signature could
		// copy them over an avatar another confirm just recorded.
		now := s.now()
		claimed, err := s.records.ClaimCopy(ctx, userID, uploadID, info.ETag, now, now.Add(-copyLease))
		if errors.Is(err, ErrConflict) {
			return s.settled(ctx, claimed)
		}
		if err != nil {
			return User{}, Upload{}, err
		}
		err = s.objects.Copy(ctx, up.Key, up.AvatarKey, CopySpec{
			IfMatch: info.ETag, ContentType: up.ContentType, CacheControl: avatarCacheControl,
		})
		if errors.Is(err, ErrObjectChanged) || errors.Is(err, ErrObjectNotFound) {
			return User{}, Upload{}, ErrUploadMissing // replaced or deleted since it was checked: retry
		}
		if err != nil {
			return User{}, Upload{}, err
		}
	}
	u, confirmed, err := s.records.ConfirmUpload(ctx, userID, uploadID, info.Size, s.now())
	if errors.Is(err, ErrConflict) {
		// Another request rejected it, or the sweeper took it, meanwhile:
		// the copy just made is nobody's avatar (the sweeper deletes it too,
		// if this fails).
		if up.AvatarKey != up.Key {
			if err := s.objects.Delete(ctx, up.AvatarKey); err != nil {
				s.log.WarnContext(ctx, "copy of a lost confirm not deleted; the sweeper will", "upload_id", up.ID, "error", err.Error())
			}
		}
		return s.settled(ctx, confirmed)
	}
	if err != nil {
		return User{}, Upload{}, err
	}
	s.event("confirmed")
	return u, confirmed, nil
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
		return User{}, Upload{}, &RejectedError{Reason: "this upload was rejected; ask for a new signature"}
	case UploadExpired:
		return User{}, Upload{}, ErrUploadExpired
	}
	// Still pending: another confirm is copying another version of the
	// object, stored since this one was checked. Retrying checks again.
	return User{}, Upload{}, ErrUploadMissing
}

const notStandard = "the stored object is not in the STANDARD storage class"

// inspect looks at the stored object with one ranged read. It returns what
// storage says of the object when it is acceptable, or why it is not; err is
// for an object not there (yet) and for storage that did not answer.
func (s *Service) inspect(ctx context.Context, up Upload) (info ObjectInfo, reason string, err error) {
	info, head, err := s.objects.Peek(ctx, up.Key, sniffPrefix)
	if errors.Is(err, ErrObjectNotFound) {
		if s.now().After(up.ExpiresAt) {
			return info, "", ErrUploadExpired
		}
		return info, "", ErrUploadMissing
	}
	if errors.Is(err, ErrObjectArchived) {
		return info, notStandard, nil
	}
	if err != nil {
		return info, "", err
	}
	if info.Size < 1 || info.Size > up.MaxBytes {
		return info, fmt.Sprintf("the stored object is %d bytes; it must be 1 to %d", info.Size, up.MaxBytes), nil
	}
	// The signatures pin STANDARD; anything else was stored some other
	// way, and would cost more to keep or to read than we agreed to pay.
	if info.StorageClass != StandardClass {
		return info, notStandard, nil
	}
	if info.ContentType != up.ContentType {
		return info, "the stored object's Content-Type is not the declared one", nil
	}
	if got := sniffImage(head); got != up.ContentType {
		return info, fmt.Sprintf("the stored bytes are not a %s image", imageExt[up.ContentType][1:]), nil
	}
	return info, "", nil
}

// recordRejection records the rejection first, then deletes the object, and returns
// the *RejectedError to answer. Once recorded, no confirm can accept the
// upload, and if the delete fails, or the client uploads again with its
// still-valid signature, the sweeper deletes the object after the signature
// expires. If another confirm accepted the upload meanwhile, the object is
// that user's avatar and stays.
func (s *Service) recordRejection(ctx context.Context, up Upload, reason string) error {
	if _, err := s.records.RejectUpload(ctx, up.UserID, up.ID, s.now()); err != nil {
		if errors.Is(err, ErrConflict) {
			return &RejectedError{Reason: reason}
		}
		return err
	}
	s.log.InfoContext(ctx, "upload rejected", "upload_id", up.ID, "reason", reason)
	s.event("rejected")
	if err := s.objects.Delete(ctx, up.Key); err != nil {
		s.log.WarnContext(ctx, "rejected object not deleted; the sweeper will", "upload_id", up.ID, "error", err.Error())
	}
	return &RejectedError{Reason: reason}
}
