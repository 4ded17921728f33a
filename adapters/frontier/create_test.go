package frontier

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

func TestCreate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		superuser bool
		u         canonical.Update
		wantName  string
		wantCode  canonical.Code
	}{
		{"name kept when Frontier's rule allows it", true, canonical.Update{Email: canonical.Some("New.Person@Corp.example"), Username: canonical.Some("newperson"), DisplayName: canonical.Some("New Person")}, "newperson", ""},
		{"an e-mail userName becomes Frontier's slug", true, canonical.Update{Email: canonical.Some("np@corp.example"), Username: canonical.Some("np@corp.example")}, "np_corp_example", ""},
		{"existing e-mail is a conflict", true, canonical.Update{Email: canonical.Some("JANE@example.com")}, "", canonical.CodeConflict},
		{"no e-mail", true, canonical.Update{Username: canonical.Some("someone")}, "", canonical.CodeInvalidRequest},
		{"not a superuser", false, canonical.Update{Email: canonical.Some("x@corp.example")}, "", canonical.CodeUpstreamAuthFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded(tc.superuser)
			srv := httptest.NewServer(s)
			defer srv.Close()
			d := &adaptertest.HTTPDoer{Base: srv.URL}
			id, err := open(t, cred).Create(context.Background(), d, tc.u)
			if tc.wantCode != "" {
				if got := canonical.AsError(err).Code; got != tc.wantCode {
					t.Fatalf("error %v (%s), want %s", err, got, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u, ok := s.User(id)
			if !ok || u.Name != tc.wantName || u.State != "enabled" {
				t.Fatalf("created %+v (found %v), want name %q", u, ok, tc.wantName)
			}
			calls := d.Calls()
			if len(calls) != 1 || calls[0].Method != "POST" || calls[0].Path != "/v1beta1/users" {
				t.Fatalf("calls %+v, want one POST /v1beta1/users", calls)
			}
			var body map[string]any
			_ = json.Unmarshal(calls[0].Body, &body)
			if body["email"] != "new.person@corp.example" && body["email"] != "np@corp.example" {
				t.Errorf("body %v", body)
			}
		})
	}
}
