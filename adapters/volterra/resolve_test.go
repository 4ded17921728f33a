package volterra

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

func TestResolveIsTheServiceTokensOwner(t *testing.T) {
	srv := httptest.NewServer(seeded())
	defer srv.Close()
	cases := []struct {
		name      string
		tok       canonical.Secret
		by, value string
		want      []string
	}{
		{"owner's e-mail, any case", svcToken, adapters.ResolveByEmail, "OPS@example.com", []string{"ops"}},
		{"owner's name", svcToken, adapters.ResolveByUsername, "ops", []string{"ops"}},
		{"someone else", svcToken, adapters.ResolveByEmail, "jane@example.com", []string{}},
		{"a service user never matches", robotToken, adapters.ResolveByUsername, "robot", []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &adaptertest.HTTPDoer{Base: srv.URL}
			got, err := open(t, tc.tok).Resolve(context.Background(), d, tc.by, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ids (-want +got):\n%s", diff)
			}
			if c := d.Calls(); len(c) != 1 || c[0].Name != "whoami" || c[0].Kind != adapters.Read {
				t.Fatalf("calls %+v", c)
			}
		})
	}
}

// A caller's pass-through token is the account the update would change,
// so resolution asks whoami about it, not about the service token.
func TestResolveWithThePassThroughToken(t *testing.T) {
	srv := httptest.NewServer(seeded())
	defer srv.Close()
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	ctx := adapters.WithPassThrough(context.Background(), "APIToken "+callerToken)
	got, err := open(t, svcToken).Resolve(ctx, d, adapters.ResolveByEmail, "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"jane"}, got); diff != "" {
		t.Fatal(diff)
	}
	if h := d.Calls()[0].Header.Get("Authorization"); h != "APIToken "+callerToken {
		t.Fatalf("whoami sent with %q", h)
	}
}
