package audit_test

import (
	"encoding/json"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/audit"
)

// TestChanges: the fields a request sets, its extensions' fields, and the
// values each policy keeps (none kept: a nil map; nothing set: nil fields).
func TestChanges(t *testing.T) {
	s := func(v string) canonical.Opt[string] { return canonical.Opt[string]{Set: true, V: v} }
	hashed := func(v string) string { h, _ := audit.ValuesHashed.Value(v); return h }
	full := canonical.Request{User: canonical.Update{Username: s("jdoe"), Email: s("Jane@Example.com"), DisplayName: s("Jane D"),
		Enabled: canonical.Opt[bool]{Set: true, V: false}, OTPEnabled: canonical.Opt[bool]{Set: true, V: true},
		Password: canonical.Opt[canonical.Password]{Set: true}},
		Extensions: map[string]map[string]json.RawMessage{"akana": {"locale": json.RawMessage(`"en"`), "tz": json.RawMessage(`"UTC"`)}}}
	for _, tc := range []struct {
		name       string
		req        canonical.Request
		policy     audit.ValuePolicy
		wantFields []string
		wantValues map[string]string
	}{
		{"nothing set", canonical.Request{}, audit.ValuesHashed, nil, nil},
		{"a secret only", canonical.Request{User: canonical.Update{Password: canonical.Opt[canonical.Password]{Set: true}}},
			audit.ValuesPlain, []string{"password"}, nil},
		{"plain", full, audit.ValuesPlain,
			[]string{"display_name", "email", "enabled", "extensions.akana.locale", "extensions.akana.tz", "otp_enabled", "password", "username"},
			map[string]string{"username": "jdoe", "email": "Jane@Example.com", "display_name": "Jane D", "enabled": "false", "otp_enabled": "true"}},
		{"hashed", full, audit.ValuesHashed,
			[]string{"display_name", "email", "enabled", "extensions.akana.locale", "extensions.akana.tz", "otp_enabled", "password", "username"},
			map[string]string{"username": hashed("jdoe"), "email": hashed("jane@example.com"), "display_name": hashed("jane d"), "enabled": "false", "otp_enabled": "true"}},
		{"none: the booleans only", full, audit.ValuesNone,
			[]string{"display_name", "email", "enabled", "extensions.akana.locale", "extensions.akana.tz", "otp_enabled", "password", "username"},
			map[string]string{"enabled": "false", "otp_enabled": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields, values := audit.Changes(tc.req, tc.policy)
			sort.Strings(fields)
			if diff := cmp.Diff(tc.wantFields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantValues, values); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}
