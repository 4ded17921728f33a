package commvault

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

func TestCreate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		u        canonical.Update
		wantPW   string
		wantFull string
		wantCode canonical.Code
	}{
		{"with a password", canonical.Update{Email: canonical.Some("new@example.com"), Username: canonical.Some("newbie"),
			GivenName: canonical.Some("New"), FamilyName: canonical.Some("Bie"), Password: canonical.Some(canonical.Password{New: "s3cret-Pass"})}, "s3cret-Pass", "New Bie", ""},
		{"system-generated password", canonical.Update{Email: canonical.Some("gen@example.com"), DisplayName: canonical.Some("Gen User")}, "system-generated", "Gen User", ""},
		{"duplicate e-mail", canonical.Update{Email: canonical.Some("TAKEN@example.com")}, "", "", canonical.CodeConflict},
		{"no e-mail", canonical.Update{Username: canonical.Some("x")}, "", "", canonical.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim()
			srv := httptest.NewServer(s)
			defer srv.Close()
			d := &adaptertest.HTTPDoer{Base: srv.URL}
			id, err := open(t, svcPW).Create(context.Background(), d, tc.u)
			if tc.wantCode != "" {
				if got := canonical.AsError(err).Code; got != tc.wantCode {
					t.Fatalf("error %v (%s), want %s", err, got, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n, _ := strconv.Atoi(id)
			u, ok := s.User(int32(n))
			if !ok || u.Password != tc.wantPW || u.FullName != tc.wantFull || !u.Enabled {
				t.Fatalf("created %+v (found %v)", u, ok)
			}
			for _, c := range d.Calls() {
				if c.Method == "POST" && c.Path == "/V4/user" {
					var b map[string]any
					_ = json.Unmarshal(c.Body, &b)
					if b["users"] == nil {
						t.Errorf("body %s", c.Body)
					}
				}
			}
		})
	}
}
