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
type slots chan struct{}

func newSlots(n int) slots { return make(slots, n) }

// acquire takes a slot, waiting at most slotWait; release gives it back.
func (s slots) acquire(ctx context.Context) (release func(), err error) {
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ErrBusy
	}
}
