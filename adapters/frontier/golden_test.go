package frontier

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// TestGolden pins the exact calls each update becomes, against the seeded
// user of seeded(): regenerate with go test ./adapters/frontier/... -update.
func TestGolden(t *testing.T) {
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	cases := []struct {
		name string
		u    canonical.Update
		dry  bool
	}{
		{"title_only", canonical.Update{DisplayName: canonical.Some("Jane Doe")}, false},
		{"avatar_gif", canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/gif", Data: gif})}, false},
		{"metadata_replaced", canonical.Update{Metadata: canonical.Some(canonical.Metadata{"label": map[string]any{"team": "iam"}, "cost_center": "42"})}, false},
		{"enable_only", canonical.Update{Enabled: canonical.Some(true)}, false},
		{"disable_only", canonical.Update{Enabled: canonical.Some(false)}, false},
		{"enable_then_update", canonical.Update{DisplayName: canonical.Some("Jane Doe"), Enabled: canonical.Some(true),
			Metadata: canonical.Some(canonical.Metadata{"description": "sre"})}, false},
		{"update_then_disable", canonical.Update{DisplayName: canonical.Some("Gone"), Enabled: canonical.Some(false)}, false},
		{"dry_run_full", canonical.Update{DisplayName: canonical.Some("Jane Doe"), Enabled: canonical.Some(false),
			Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(seeded(true))
			defer srv.Close()
			d := &adaptertest.HTTPDoer{Base: srv.URL, DryRun: tc.dry}
			if _, err := open(t, cred).Apply(context.Background(), d, op(tc.u)); err != nil {
				t.Fatal(err)
			}
			adaptertest.Golden(t, tc.name, adaptertest.GoldenCalls(d.Calls()), *update)
		})
	}
}
