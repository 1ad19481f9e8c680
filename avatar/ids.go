package avatar

import (
	"crypto/rand"
	"strings"
	"time"
)

// newID makes an opaque public id: 128 random bits in lower-case base32.
func newID() string { return strings.ToLower(rand.Text()) }

// sortedBase32 is base32's 32 digits in ASCII order, so that strings of them
// sort as the numbers they write.
const sortedBase32 = "234567abcdefghijklmnopqrstuvwxyz"

// newUploadID makes an upload id of newID's form whose first 9 digits are the
// millisecond it was made, then 85 random bits. Upload ids are the primary key
// of the hottest insert: in time order each batch of new rows lands on the
// same one or two index pages instead of one random page per row. Whole
// seconds were too coarse: the thousands of ids of one second still spread
// over that second's pages, and each row of a group commit dirtied a page of
// its own (every dirty page is two writes to the WAL). The millisecond is no
// secret: the stored object says when it was written. Hand-written because
// the sortable id libraries (ULID, UUIDv7) spell ids in other alphabets and
// lengths than the ids already handed out.
func newUploadID(now time.Time) string {
	var b [26]byte
	ms := uint64(max(now.UnixMilli(), 0))
	for i := uploadIDTimeDigits - 1; i >= 0; i-- {
		b[i] = sortedBase32[ms&31]
		ms >>= 5
	}
	copy(b[uploadIDTimeDigits:], strings.ToLower(rand.Text()))
	return string(b[:])
}

// uploadIDTimeDigits is how many leading digits of an upload id write its
// millisecond: 45 bits, enough until the year 3084.
const uploadIDTimeDigits = 9

// validID reports whether s could be an id this package made; anything else
// cannot name a record and is answered as not found without a query.
func validID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}
