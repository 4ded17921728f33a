package akana

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/identity-gateway/identity-gateway/adapters"
)

var _ adapters.Verifier = (*Adapter)(nil)

// Verify reads the settings and the user and reports whether e-mail,
// notifications and names already hold.
func (a *Adapter) Verify(ctx context.Context, do adapters.Doer, op adapters.Op) (bool, error) {
	do = a.sess.Wrap(do)
	u := op.Update
	base := "/api/users/" + url.PathEscape(op.UserID)
	get := func(name, path string, into any) (bool, error) {
		resp, err := do.Do(ctx, &adapters.Call{Name: name, Kind: adapters.Read, Method: http.MethodGet, Path: path, Header: a.header(false)})
		if err != nil {
			return false, fmt.Errorf("akana: verify: %w", err)
		}
		return resp.OK() && json.Unmarshal(resp.Body, into) == nil, nil
	}
	if u.Email.Set || u.Notifications.Set {
		var cur accountSettings
		if ok, err := get("get settings", base+"/settings", &cur); !ok || err != nil {
			return false, err
		}
		if u.Email.Set && cur.Email != u.Email.V {
			return false, nil
		}
		if u.Notifications.Set {
			want := make([]string, 0, len(u.Notifications.V))
			for _, n := range u.Notifications.V {
				want = append(want, a.notes[n])
			}
			slices.Sort(want)
			have := slices.Clone(cur.OptedNotification)
			slices.Sort(have)
			if !slices.Equal(slices.Compact(want), slices.Compact(have)) {
				return false, nil
			}
		}
	}
	if u.GivenName.Set || u.FamilyName.Set {
		var cur struct{ FirstName, LastName string }
		if ok, err := get("get user", base, &cur); !ok || err != nil {
			return false, err
		}
		if (u.GivenName.Set && cur.FirstName != u.GivenName.V) || (u.FamilyName.Set && cur.LastName != u.FamilyName.V) {
			return false, nil
		}
	}
	return true, nil
}
