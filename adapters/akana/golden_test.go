package akana

import (
	"context"
	"flag"
	"sync"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// recorder records calls and answers them from canned (dry: writes get
// the synthetic answer of a dry run).
type recorder struct {
	dry   bool
	mu    sync.Mutex
	calls []adapters.Call
}

func (r *recorder) Do(_ context.Context, c *adapters.Call) (*adapters.Response, error) {
	r.mu.Lock()
	r.calls = append(r.calls, *c)
	r.mu.Unlock()
	if r.dry && c.Kind == adapters.Write {
		return &adapters.Response{Status: 200, Synthetic: true}, nil
	}
	return canned(c), nil
}

// TestGolden pins the exact calls each update becomes: regenerate with
// go test ./adapters/akana/... -update.
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		u    canonical.Update
		dry  bool
	}{
		{"email_only", canonical.Update{Email: canonical.Some("jane.doe@acme.example")}, false},
		{"notifications_only", canonical.Update{Notifications: canonical.Some([]string{"news.update", "contract.state.change"})}, false},
		{"notifications_none", canonical.Update{Notifications: canonical.Some([]string{})}, false},
		{"email_and_notifications", canonical.Update{Email: canonical.Some("jane.doe@acme.example"), Notifications: canonical.Some([]string{"ticket.change"})}, false},
		{"family_name_only", canonical.Update{FamilyName: canonical.Some("Doe-Smith")}, false},
		{"all_fields", canonical.Update{Email: canonical.Some("jane.doe@acme.example"), GivenName: canonical.Some("Jane"), FamilyName: canonical.Some("Doe"),
			Notifications: canonical.Some([]string{"app.alert", "appteam"})}, false},
		{"dry_run", canonical.Update{Email: canonical.Some("jane.doe@acme.example"), GivenName: canonical.Some("Jane")}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{dry: tc.dry}
			if _, err := open(t, adminEmail, adminPW).Apply(context.Background(), r, op(tc.u)); err != nil {
				t.Fatal(err)
			}
			adaptertest.Golden(t, tc.name, adaptertest.GoldenCalls(r.calls), *update)
		})
	}
}
