package akana

import (
	"context"
	"net/url"
	"slices"

	"github.com/identity-gateway/identity-gateway/adapters"
)

var _ adapters.Verifier = (*Adapter)(nil)

// Verify reads the settings and the user and reports whether e-mail,
// notifications and names already hold. A read that fails or cannot be
// parsed means "not sure" (false), and the target runs again.
func (a *Adapter) Verify(ctx context.Context, do adapters.Doer, op adapters.Op) (bool, error) {
	do = a.sess.Wrap(do)
	u := op.Update
	base := "/api/users/" + url.PathEscape(op.UserID)
	if u.Email.Set || u.Notifications.Set {
		resp, err := a.get(ctx, do, "get settings", base+"/settings")
		if err != nil {
			return false, err
		}
		cur, err := parseSettings(resp.Body)
		if err != nil {
			return false, nil
		}
		if u.Email.Set && cur.Email != u.Email.V {
			return false, nil
		}
		if u.Notifications.Set {
			want, have := a.codes(u.Notifications.V), slices.Clone(cur.OptedNotification)
			slices.Sort(want)
			slices.Sort(have)
			if !slices.Equal(want, slices.Compact(have)) {
				return false, nil
			}
		}
	}
	if u.GivenName.Set || u.FamilyName.Set {
		resp, err := a.get(ctx, do, "get user", base)
		if err != nil {
			return false, err
		}
		var cur struct{ FirstName, LastName string }
		if decodeObject(resp.Body, &cur) != nil {
			return false, nil
		}
		if (u.GivenName.Set && cur.FirstName != u.GivenName.V) || (u.FamilyName.Set && cur.LastName != u.FamilyName.V) {
			return false, nil
		}
	}
	return true, nil
}
