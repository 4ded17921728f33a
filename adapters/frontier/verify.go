package frontier

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/identity-gateway/identity-gateway/adapters"
)

var _ adapters.Verifier = (*Adapter)(nil)

// Verify reads the user and reports whether title, avatar, metadata and the
// enabled state already hold. GET hides disabled users, so a found user is
// enabled and a 404 cannot tell a disabled user from a missing one: an
// update that disables is never reported as already applied.
func (a *Adapter) Verify(ctx context.Context, do adapters.Doer, op adapters.Op) (bool, error) {
	u := op.Update
	if u.Enabled.Set && !u.Enabled.V {
		return false, nil
	}
	resp, err := do.Do(ctx, &adapters.Call{Name: "get user", Kind: adapters.Read, Method: http.MethodGet,
		Path: "/v1beta1/users/" + url.PathEscape(op.UserID), Header: a.header()})
	if err != nil {
		return false, fmt.Errorf("frontier: verify: %w", err)
	}
	if !resp.OK() {
		return false, nil
	}
	cur, err := parseUser(resp.Body)
	if err != nil {
		return false, nil
	}
	switch {
	case u.DisplayName.Set && cur.Title != u.DisplayName.V,
		u.Avatar.Set && cur.Avatar != dataURI(u.Avatar.V),
		u.Metadata.Set && !sameJSON(cur.Metadata, map[string]any(u.Metadata.V)):
		return false, nil
	}
	return true, nil
}
