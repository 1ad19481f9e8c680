package avatar

import (
	"context"
	"time"
)

// slotWait is how long a confirm waits for an image slot before it answers
// ErrBusy: long enough to ride out a burst, short enough that a client
// told to retry still has most of its 10 s.
const slotWait = 2 * time.Second

// slots bounds how many images are decoded at once, and with them the
// memory confirm can take, however many confirms arrive.
type slots struct {
	free chan struct{}
	wait time.Duration
}

func newSlots(n int) *slots { return &slots{free: make(chan struct{}, n), wait: slotWait} }

// acquire takes a slot, waiting at most s.wait; release gives it back.
func (s *slots) acquire(ctx context.Context) (release func(), err error) {
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.free <- struct{}{}:
		return func() { <-s.free }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ErrBusy
	}
}
