package akana

import "github.com/identity-gateway/identity-gateway/adapters"

var _ adapters.ReadModifyWriter = (*Adapter)(nil)

// LockAccount implements adapters.ReadModifyWriter. Both Akana writes
// replace a whole object: the settings PUT sets the e-mail and the full
// opted-in set together (the missing one read first), the user PUT the
// whole User object (read first, and it carries the e-mail too). Even an
// update giving both settings fields must not land inside another's
// read-to-write window, or that one would put the old values back; so
// every Akana update locks the user's account.
func (a *Adapter) LockAccount(op adapters.Op) (string, bool) {
	u := op.Update
	if !u.Email.Set && !u.Notifications.Set && !u.GivenName.Set && !u.FamilyName.Set {
		return "", false
	}
	return op.UserID, true
}
