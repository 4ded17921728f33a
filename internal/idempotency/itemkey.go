package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
)

// ItemKey derives the idempotency key of one item of a bulk request (a
// batch line, a SCIM Bulk operation) from the request's key and the
// item's own id, so a re-sent request (in any order) replays what applied
// and retries the rest. A result too long for a key, or not plain ASCII,
// is hashed.
func ItemKey(requestKey, itemID string) string {
	k := requestKey + "/" + itemID
	if len(k) <= 255 && visibleASCII(k) {
		return k
	}
	sum := sha256.Sum256([]byte(requestKey + "\x00" + itemID))
	return "item-sha256:" + hex.EncodeToString(sum[:])
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
