package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// Fingerprint hashes method, path and the decoded request. It is built from
// the decoded values through maps (which encoding/json writes in key order),
// so key order and whitespace in the body do not matter; secrets and avatar
// bytes enter only as their own SHA-256.
func Fingerprint(method, path string, r canonical.Request) string {
	u := r.User
	user := map[string]any{}
	put := func(f canonical.Field, set bool, v any) {
		if set {
			user[string(f)] = v
		}
	}
	put(canonical.FieldUsername, u.Username.Set, u.Username.V)
	put(canonical.FieldEmail, u.Email.Set, u.Email.V)
	put(canonical.FieldGivenName, u.GivenName.Set, u.GivenName.V)
	put(canonical.FieldFamilyName, u.FamilyName.Set, u.FamilyName.V)
	put(canonical.FieldDisplayName, u.DisplayName.Set, u.DisplayName.V)
	put(canonical.FieldEnabled, u.Enabled.Set, u.Enabled.V)
	put(canonical.FieldOTPEnabled, u.OTPEnabled.Set, u.OTPEnabled.V)
	put(canonical.FieldNotifications, u.Notifications.Set, u.Notifications.V)
	if u.Avatar.Set {
		user[string(canonical.FieldAvatar)] = map[string]any{"content_type": u.Avatar.V.ContentType, "sha256": digest(u.Avatar.V.Data)}
	}
	if u.Groups.Set {
		items := make([]any, len(u.Groups.V.Items))
		for i, it := range u.Groups.V.Items {
			items[i] = ref(it)
		}
		user[string(canonical.FieldGroups)] = map[string]any{"op": u.Groups.V.Op, "items": items}
	}
	if u.Password.Set {
		pw := map[string]any{"new": digest([]byte(u.Password.V.New.Reveal()))}
		if u.Password.V.Current.Set {
			pw["current"] = digest([]byte(u.Password.V.Current.V.Reveal()))
		}
		user[string(canonical.FieldPassword)] = pw
	}
	put(canonical.FieldMetadata, u.Metadata.Set, map[string]any(u.Metadata.V))
	put(canonical.FieldPrincipalName, u.PrincipalName.Set, u.PrincipalName.V)
	put(canonical.FieldAuthMethod, u.AuthMethod.Set, u.AuthMethod.V)
	if u.Plan.Set {
		user[string(canonical.FieldPlan)] = ref(u.Plan.V)
	}
	ext := map[string]any{}
	for vendor, fields := range r.Extensions {
		m := map[string]any{}
		for k, raw := range fields {
			var v any
			if json.Unmarshal(raw, &v) != nil {
				v = string(raw)
			}
			m[k] = v
		}
		ext[vendor] = m
	}
	doc := map[string]any{
		"method": method, "path": path, "targets": r.Targets, "vendor_ids": r.VendorIDs,
		"on_unsupported": r.OnUnsupported, "user": user, "extensions": ext,
	}
	b, _ := json.Marshal(doc) // maps, strings, numbers: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func ref(r canonical.Ref) map[string]any {
	m := map[string]any{}
	if r.ID.Set {
		m["id"] = r.ID.V
	}
	if r.Name.Set {
		m["name"] = r.Name.V
	}
	return m
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
