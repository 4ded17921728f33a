package builtin

import (
	"context"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/config"
)

// TestRegistry walks the vendor registry, the only list of vendors, and
// checks each entry provides everything the rest of the gateway derives
// from it (docs/adding-a-vendor.md): a unique type, an adapter config that
// the vendor's block in gateway.yaml decodes into and opens, the contract's
// required interfaces, and a seeded simulator whose environment is exactly
// what that block needs, so the adapter, configured from gateway.yaml with
// the simulator's environment, passes its own check-vendors probe and reads
// the demo user (the demo seed).
func TestRegistry(t *testing.T) {
	src, err := os.ReadFile("../../gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vendors := Vendors()
	demo := DemoEnv()
	if len(vendors) == 0 {
		t.Fatal("the registry is empty")
	}
	seen := map[string]bool{}
	for i, v := range vendors {
		t.Run(v.Type, func(t *testing.T) {
			if v.Type == "" || v.Type != strings.ToLower(v.Type) || seen[v.Type] {
				t.Fatalf("type %q: empty, not lower case, or listed twice", v.Type)
			}
			seen[v.Type] = true
			if got := PortOffset(v.Type); got != i {
				t.Errorf("PortOffset = %d, want its place in the list %d", got, i)
			}
			if v.Config == nil || v.Sim == nil {
				t.Fatal("entry lacks its Config or Sim factory")
			}
			handler, env := v.Sim(1)
			if handler == nil {
				t.Fatal("Sim returned no handler")
			}
			prefix := strings.ToUpper(v.Type) + "_"
			for k := range env {
				if !strings.HasPrefix(k, prefix) || k == prefix+"URL" {
					t.Errorf("simulator env %s: want %s* and never %sURL (the caller sets the address)", k, prefix, prefix)
				}
			}
			srv := httptest.NewServer(handler)
			defer srv.Close()

			// gateway.yaml with only the simulator's environment for this
			// vendor's ${VAR}s (the other vendors get the full demo set): a
			// variable the block needs and the simulator does not supply
			// fails the load.
			cfg, err := config.Load(src, func(k string) (string, bool) {
				if k == prefix+"URL" {
					return srv.URL, true
				}
				if strings.HasPrefix(k, prefix) {
					val, ok := env[k]
					return val, ok
				}
				if t, ok := strings.CutSuffix(k, "_URL"); ok && PortOffset(strings.ToLower(t)) >= 0 {
					return "http://127.0.0.1:1", true
				}
				val, ok := demo[k]
				return val, ok
			})
			if err != nil {
				t.Fatalf("gateway.yaml with the simulator's environment: %v", err)
			}
			name := ""
			for n, vc := range cfg.Vendors {
				if vc.Type == v.Type {
					name = n
				}
			}
			if name == "" {
				t.Fatalf("gateway.yaml has no vendors block of type %s", v.Type)
			}
			vc := cfg.Vendors[name]
			ac := v.Config()
			if err := config.DecodeStrict(&vc.Settings, ac, "settings"); err != nil {
				t.Fatal(err)
			}
			a, err := ac.Open(v.Type, adapters.Deps{Credential: adapters.Credential{Username: vc.Credential.Username, Password: vc.Credential.Password, Token: vc.Credential.Token}})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			for _, miss := range adapters.MissingRequired(a) {
				t.Errorf("adapter does not implement adapters.%s, which every vendor must", miss)
			}
			if c, ok := a.(adapters.Checker); ok {
				if err := c.Check(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}); err != nil {
					t.Errorf("check-vendors against the seeded simulator: %v", err)
				}
			}
			// A vendor that can list (gateway migrate --all) lists the
			// seeded simulator's users with the credential from gateway.yaml:
			// the demo user and the one numbered user at least.
			if l, ok := a.(adapters.Lister); ok {
				n := 0
				if err := l.List(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, func(adapters.Listed) error { n++; return nil }); err != nil {
					t.Errorf("list against the seeded simulator: %v", err)
				}
				if n < 2 {
					t.Errorf("the seeded simulator listed %d users, want the demo user and the seeded one", n)
				}
			}
			// The demo seed: gateway.yaml's demo user, through the
			// simulator's environment, is a user the simulator holds.
			id := cfg.Users["demo"][name]
			if id == "" {
				t.Fatalf("gateway.yaml's users.demo names no %s id", name)
			}
			if r, ok := a.(adapters.Reader); ok {
				if _, err := r.Read(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, adapters.Op{UserID: id}); err != nil {
					t.Errorf("reading the demo user %q from the seeded simulator: %v", id, err)
				}
			}
		})
	}
	if got, want := strings.Join(Types(), ","), strings.Join(sortedTypes(vendors), ","); got != want {
		t.Errorf("Types() = %s, want %s", got, want)
	}
	if PortOffset("no-such-vendor") != -1 {
		t.Error("PortOffset of an unknown type is not -1")
	}
}

func sortedTypes(vs []Vendor) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Type)
	}
	slices.Sort(out)
	return out
}
