package volterra

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/identity-gateway/identity-gateway/adapters"
)

var _ adapters.ReadModifyWriter = (*Adapter)(nil)

// LockAccount implements adapters.ReadModifyWriter. The settings PUT
// replaces all five fields, read from GET settings and whoami first; the
// image PUT changes one of them (image), which a concurrent settings
// write would put back, so every write here takes the lock.
//
// The account is the token's owner (op.UserID is informational only), so
// it is named by a hash of the token that will be sent: the same token is
// the same user on every replica, and the token itself never leaves the
// adapter. Two different tokens of one user are not serialised with each
// other; a user holding several API tokens is rare and If-Match is the
// protection for writers the gateway does not see.
func (a *Adapter) LockAccount(op adapters.Op) (string, bool) {
	u := op.Update
	if !u.GivenName.Set && !u.FamilyName.Set && !u.OTPEnabled.Set && !u.Notifications.Set && !u.Avatar.Set {
		return "", false
	}
	cred, ok := a.credentialFor(op)
	if !ok {
		return "", false // Apply refuses it before any call
	}
	sum := sha256.Sum256([]byte("volterra-token\x00" + cred.token.Reveal()))
	return "token-sha256:" + hex.EncodeToString(sum[:]), true
}
