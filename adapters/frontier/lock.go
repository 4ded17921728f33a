package frontier

import "github.com/identity-gateway/identity-gateway/adapters"

var _ adapters.ReadModifyWriter = (*Adapter)(nil)

// LockAccount implements adapters.ReadModifyWriter. Frontier's PUT
// replaces title, avatar and metadata together and offers no conditional
// write, so a profile change reads the user and writes all three back.
// Enable and disable are calls of their own that the PUT does not carry:
// an update changing only the state needs no lock.
func (a *Adapter) LockAccount(op adapters.Op) (string, bool) {
	u := op.Update
	return op.UserID, u.DisplayName.Set || u.Avatar.Set || u.Metadata.Set
}
