package volterra

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// TestIdentityMismatchRefusedBeforeWrite: Volterra changes the token
// owner's settings whatever the request addresses, so the adapter compares
// whoami with the addressed vendor id (e-mail or user_uuid) and refuses a
// mismatch with identity_mismatch before any write, dry run included, for
// the service token and a pass-through token alike. vendor_id is the
// addressed id in both outcomes.
func TestIdentityMismatchRefusedBeforeWrite(t *testing.T) {
	cases := []struct {
		name  string
		svc   canonical.Secret
		pass  canonical.Secret
		id    string
		match bool
	}{
		{"service token, path id of another user", svcToken, "", "bob", false},
		{"service token, another user's e-mail", svcToken, "", "jane@example.com", false},
		{"service token, another user's uuid", svcToken, "", janeUUID, false},
		{"service token, the owner's user name (neither e-mail nor uuid)", svcToken, "", "ops", false},
		{"service token, empty id", svcToken, "", "", false},
		{"pass-through, the service user's uuid", svcToken, callerToken, opsUUID, false},
		{"pass-through, path id", "", callerToken, "bob", false},
		{"service token, owner's e-mail", svcToken, "", "ops@example.com", true},
		{"service token, owner's e-mail in another case", svcToken, "", "OPS@Example.COM", true},
		{"service token, owner's uuid", svcToken, "", opsUUID, true},
		{"pass-through, owner's uuid in upper case", svcToken, callerToken, strings.ToUpper(janeUUID), true},
		{"pass-through, owner's e-mail", "", callerToken, "jane@example.com", true},
	}
	for _, tc := range cases {
		for _, dry := range []bool{false, true} {
			name := tc.name
			if dry {
				name += "/dry run"
			}
			t.Run(name, func(t *testing.T) {
				s := seeded()
				srv := httptest.NewServer(s)
				defer srv.Close()
				d := &testDoer{adaptertest.HTTPDoer{Base: srv.URL, DryRun: dry}}
				op := adapters.Op{UserID: tc.id, PassThrough: tc.pass, Update: canonical.Update{GivenName: canonical.Some("Mallory"),
					OTPEnabled: canonical.Some(false), Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}}
				out, err := open(t, tc.svc).Apply(context.Background(), d, op)
				if out.VendorID != tc.id {
					t.Errorf("vendor_id %q, want the addressed %q", out.VendorID, tc.id)
				}
				wrote := slices.ContainsFunc(d.Calls(), func(c adapters.Call) bool { return c.Kind == adapters.Write })
				if tc.match {
					if err != nil || !wrote {
						t.Fatalf("err %v, wrote %v", err, wrote)
					}
					return
				}
				var e *canonical.Error
				if !errors.As(err, &e) || e.Code != canonical.CodeIdentityMismatch {
					t.Fatalf("err %v, want identity_mismatch", err)
				}
				if e.Code.HTTPStatus() != 422 {
					t.Errorf("identity_mismatch is %d, documented as 422", e.Code.HTTPStatus())
				}
				if wrote || len(d.Calls()) != 1 || d.Calls()[0].Path != whoamiPath {
					t.Errorf("calls %v: only whoami may be sent", d.lines())
				}
				for _, r := range s.Requests() {
					if r.Method != "GET" {
						t.Errorf("a write reached the vendor: %s %s", r.Method, r.Path)
					}
				}
				for _, leak := range []string{"ops@example.com", "jane@example.com", string(svcToken), string(callerToken)} {
					if leak != tc.id && strings.Contains(e.Message, leak) {
						t.Errorf("message names %q: %s", leak, e.Message)
					}
				}
				for _, name := range []string{"ops", "jane"} {
					if u, _ := s.User(name); u.FirstName == "Mallory" || !u.OTP {
						t.Errorf("%s changed: %+v", name, u)
					}
				}
			})
		}
	}
}

// TestVerifyChecksIdentity: "already holds" read from another user's
// settings is not an applied update.
func TestVerifyChecksIdentity(t *testing.T) {
	srv := httptest.NewServer(seeded())
	defer srv.Close()
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	// ops's settings already say OTP on; the request addresses jane.
	op := adapters.Op{UserID: janeUUID, Update: canonical.Update{OTPEnabled: canonical.Some(true)}}
	if ok, err := open(t, svcToken).Verify(context.Background(), d, op); ok || err != nil {
		t.Errorf("verified another user's settings: %v %v", ok, err)
	}
	op.UserID = opsUUID
	if ok, err := open(t, svcToken).Verify(context.Background(), d, op); !ok || err != nil {
		t.Errorf("the owner's settings: %v %v", ok, err)
	}
}
