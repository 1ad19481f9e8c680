package handler

import (
	"testing"
	"time"
)

func TestNewUploadID(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		now := t0.Add(time.Duration(i/10) * time.Second) // ten ids per second
		id := newUploadID(now)
		if !validID(id) {
			t.Fatalf("newUploadID = %q: not an id validID accepts", id)
		}
		if seen[id] {
			t.Fatalf("newUploadID repeated %q", id)
		}
		seen[id] = true
		if i%10 == 0 && prev != "" && id[:7] <= prev[:7] {
			t.Fatalf("id %q of a later second does not sort after %q", id, prev)
		}
		prev = id
	}
	// The first 7 digits are the unix second in sorted base32.
	id := newUploadID(time.Unix(1<<30+37, 0))
	if got, want := id[:7], "3222237"; got != want { // 2^30+37 in base32 digits is 1,0,0,0,0,1,5
		t.Fatalf("time digits = %q, want %q", got, want)
	}
	// Across a base32 carry too, and across every alphabet boundary (7 < a).
	a, b := newUploadID(time.Unix(31, 0)), newUploadID(time.Unix(32, 0))
	if a[:7] >= b[:7] {
		t.Fatalf("%q (second 31) does not sort before %q (second 32)", a, b)
	}
	c, e := newUploadID(time.Unix(5, 0)), newUploadID(time.Unix(6, 0))
	if c[:7] >= e[:7] {
		t.Fatalf("%q (second 5, digit '7') does not sort before %q (second 6, digit 'a')", c, e)
	}
}
