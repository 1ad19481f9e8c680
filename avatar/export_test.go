package avatar

import "time"

// What the external tests (package avatar_test, which may import db) need
// of the package's insides.
const SweepLease = sweepLease

// Render is render for the external tests: the avatar and the thumbnail, with
// their types.
func Render(data []byte, contentType string, lim ImageLimits) (avatar, thumb []byte, avatarType, thumbType string, err error) {
	r, err := render(data, contentType, lim)
	return r.avatar.data, r.thumb.data, r.avatar.contentType, r.thumb.contentType, err
}

// SetImageWait shortens how long a confirm waits for an image slot.
func SetImageWait(s *Service, d time.Duration) { s.images.wait = d }
