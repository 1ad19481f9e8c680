package avatar

import (
	"testing"
	"time"
)

func TestNewUploadID(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		now := t0.Add(time.Duration(i/10) * time.Millisecond) // ten ids per millisecond
		id := newUploadID(now)
		if !validID(id) {
			t.Fatalf("newUploadID = %q: not an id validID accepts", id)
		}
		if seen[id] {
			t.Fatalf("newUploadID repeated %q", id)
		}
		seen[id] = true
		if i%10 == 0 && prev != "" && id[:9] <= prev[:9] {
			t.Fatalf("id %q of a later millisecond does not sort after %q", id, prev)
		}
		prev = id
	}
	// The first 9 digits are the unix millisecond in sorted base32.
	id := newUploadID(time.UnixMilli(1<<40 + 37))
	if got, want := id[:9], "322222237"; got != want { // 2^40+37 in base32 digits is 1,0,0,0,0,0,0,1,5
		t.Fatalf("time digits = %q, want %q", got, want)
	}
	// Today's ids start with the millisecond, not with a random digit.
	if got, want := newUploadID(t0)[:9], "3ocd4fqc2"; got != want {
		t.Fatalf("time digits of %v = %q, want %q", t0, got, want)
	}
	// Across a base32 carry too, and across every alphabet boundary (7 < a).
	a, b := newUploadID(time.UnixMilli(31)), newUploadID(time.UnixMilli(32))
	if a[:9] >= b[:9] {
		t.Fatalf("%q (ms 31) does not sort before %q (ms 32)", a, b)
	}
	c, e := newUploadID(time.UnixMilli(5)), newUploadID(time.UnixMilli(6))
	if c[:9] >= e[:9] {
		t.Fatalf("%q (ms 5, digit '7') does not sort before %q (ms 6, digit 'a')", c, e)
	}
	// Sub-millisecond differences do not matter; the random part still differs.
	if x, y := newUploadID(t0), newUploadID(t0.Add(time.Microsecond)); x[:9] != y[:9] || x == y {
		t.Fatalf("ids %q and %q of one millisecond", x, y)
	}
}
