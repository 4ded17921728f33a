package commvault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Verifier = (*Adapter)(nil)

// userDetails is the part of GET /V4/user/{userId} the verification reads.
type userDetails struct {
	Name                 string    `json:"name"`
	FullName             string    `json:"fullName"`
	Email                string    `json:"email"`
	Enabled              bool      `json:"enabled"`
	UserPrincipalName    string    `json:"userPrincipalName"`
	AuthenticationMethod string    `json:"authenticationMethod"`
	Plan                 *details  `json:"plan"`
	AssociatedUserGroups []details `json:"associatedUserGroups"`
}

type details struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Verify reads the user and reports whether every field of op already holds.
// A password cannot be read back, so an update carrying one is never
// reported as already applied.
func (a *Adapter) Verify(ctx context.Context, do adapters.Doer, op adapters.Op) (bool, error) {
	u := op.Update
	if u.Password.Set {
		return false, nil
	}
	do = a.sess.Wrap(do)
	resp, err := do.Do(ctx, &adapters.Call{Name: "get user", Kind: adapters.Read, Method: http.MethodGet, Path: "/V4/user/" + op.UserID,
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return false, fmt.Errorf("commvault: verify: %w", err)
	}
	if !resp.OK() {
		return false, nil
	}
	var cur userDetails
	if err := json.Unmarshal(resp.Body, &cur); err != nil {
		return false, nil
	}
	holds := func(o canonical.Opt[string], v string) bool { return !o.Set || o.V == v }
	if !holds(u.DisplayName, cur.FullName) || !holds(u.Username, cur.Name) || !holds(u.Email, cur.Email) ||
		!holds(u.PrincipalName, cur.UserPrincipalName) || !holds(u.AuthMethod, cur.AuthenticationMethod) {
		return false, nil
	}
	if u.Enabled.Set && u.Enabled.V != cur.Enabled {
		return false, nil
	}
	if u.Plan.Set && (cur.Plan == nil || !matches(u.Plan.V, *cur.Plan)) {
		return false, nil
	}
	if u.Groups.Set {
		in := func(r canonical.Ref) bool {
			for _, g := range cur.AssociatedUserGroups {
				if matches(r, g) {
					return true
				}
			}
			return false
		}
		for _, it := range u.Groups.V.Items {
			if in(it) != (u.Groups.V.Op != canonical.GroupRemove) {
				return false, nil
			}
		}
		if u.Groups.V.Op == canonical.GroupReplace && len(cur.AssociatedUserGroups) != len(u.Groups.V.Items) {
			return false, nil
		}
	}
	return true, nil
}

func matches(r canonical.Ref, d details) bool {
	if r.ID.Set {
		return r.ID.V == d.ID
	}
	return r.Name.Set && strings.EqualFold(r.Name.V, d.Name)
}
