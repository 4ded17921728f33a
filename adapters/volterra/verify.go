package volterra

import (
	"context"
	"encoding/base64"
	"slices"

	"github.com/identity-gateway/identity-gateway/adapters"
)

var _ adapters.Verifier = (*Adapter)(nil)

// Verify reads whoami, the settings and (for an avatar) the image, and
// reports whether every field of op already holds for the credential's
// owner, who must be the user op addresses. Any read that fails means "not sure": the target runs again.
func (a *Adapter) Verify(ctx context.Context, do adapters.Doer, op adapters.Op) (bool, error) {
	cred, ok := a.credentialFor(op)
	if !ok {
		return false, nil
	}
	u := op.Update
	// whoami first, always: the settings read below are the token owner's,
	// and "already holds" for someone else must not count as applied (Apply
	// then refuses with identity_mismatch).
	var who whoamiResponse
	if a.read(ctx, do, cred, "whoami", whoamiPath, &who) != nil || !who.is(op.UserID) {
		return false, nil
	}
	if u.GivenName.Set || u.FamilyName.Set {
		if (u.GivenName.Set && who.FirstName != u.GivenName.V) || (u.FamilyName.Set && who.LastName != u.FamilyName.V) {
			return false, nil
		}
	}
	if u.OTPEnabled.Set || u.Notifications.Set {
		var cur settingsResponse
		if a.read(ctx, do, cred, "get settings", settingsPath, &cur) != nil {
			return false, nil
		}
		if u.OTPEnabled.Set && cur.OTPEnabled != u.OTPEnabled.V {
			return false, nil
		}
		if u.Notifications.Set {
			var have []string
			for _, n := range cur.Notifications {
				if n.Enabled {
					have = append(have, n.Code)
				}
			}
			want := make([]string, 0, len(u.Notifications.V))
			for _, n := range u.Notifications.V {
				want = append(want, a.notes[n])
			}
			slices.Sort(have)
			slices.Sort(want)
			if !slices.Equal(slices.Compact(have), slices.Compact(want)) {
				return false, nil
			}
		}
	}
	if u.Avatar.Set {
		var img struct {
			ContentType string `json:"content_type"`
			Data        string `json:"data"`
		}
		if a.read(ctx, do, cred, "get settings image", imagePath, &img) != nil {
			return false, nil
		}
		if img.Data != base64.StdEncoding.EncodeToString(u.Avatar.V.Data) {
			return false, nil
		}
	}
	return true, nil
}
