package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/volterra/volterrasim"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// TestDevVolterraIdentityMismatch: PATCH /v1/users/bob with the service
// token used to answer 200 "applied" and change the token owner's settings.
// The addressed user must be the token's owner; anything else is 422
// identity_mismatch with nothing written, dry run included, and vendor_id
// is the addressed id whatever the outcome. The dev demo (users map: the
// demo user's user_uuid) keeps working.
func TestDevVolterraIdentityMismatch(t *testing.T) {
	base, sims := devGateway(t)
	cases := []struct {
		name, path, body string
		status           int
		vendorID         string
	}{
		{"path id of another user", "/v1/users/bob", `{"targets":["volterra"],"user":{"given_name":"Mallory"}}`, 422, "bob"},
		{"vendor_ids naming another user", "/v1/users/demo", `{"targets":["volterra"],"vendor_ids":{"volterra":"someone@example.com"},"user":{"given_name":"Mallory"}}`, 422, "someone@example.com"},
		{"dry run", "/v1/users/bob?dry_run=true", `{"targets":["volterra"],"user":{"given_name":"Mallory"}}`, 422, "bob"},
		{"the demo user (users map)", "/v1/users/demo", `{"targets":["volterra"],"user":{"given_name":"Janet"}}`, 200, volterrasim.DemoUUID},
		{"the demo user by e-mail", "/v1/users/x", `{"targets":["volterra"],"vendor_ids":{"volterra":"Jane.Doe@example.com"},"user":{"given_name":"Jane"}}`, 200, "Jane.Doe@example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := countWrites(t, sims, "volterra")
			status, _, body := call(t, "PATCH", base+tc.path, tc.body)
			var res canonical.Result
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("%d %s", status, body)
			}
			r := res.Results["volterra"]
			if status != tc.status || r.VendorID != tc.vendorID {
				t.Fatalf("%d vendor_id %q, want %d %q: %s", status, r.VendorID, tc.status, tc.vendorID, body)
			}
			writes := countWrites(t, sims, "volterra") - before
			if tc.status == 422 {
				if r.Error == nil || r.Error.Code != canonical.CodeIdentityMismatch || writes != 0 {
					t.Errorf("error %+v, %d writes: %s", r.Error, writes, body)
				}
			} else if writes == 0 {
				t.Errorf("nothing written: %s", body)
			}
		})
	}
	// A caller's own token for the demo user, addressing another user.
	status, _, body := call(t, "PATCH", base+"/v1/users/bob", `{"targets":["volterra"],"user":{"otp_enabled":false}}`,
		"X-Volterra-Api-Token", volterrasim.DemoToken)
	if status != http.StatusUnprocessableEntity {
		t.Errorf("pass-through for another user: %d %s", status, body)
	}
}
