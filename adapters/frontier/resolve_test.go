package frontier

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
)

func TestResolvePagesTheKeywordListAndKeepsExactMatches(t *testing.T) {
	s := seeded(true)
	// 55 users whose names contain "ann"; the exact "ann" sorts last, on
	// the second page of 50.
	for i := range 55 {
		s.AddUser(frontiersim.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Name: fmt.Sprintf("ann%d", i), Email: fmt.Sprintf("ann%d@corp.example", i)})
	}
	s.AddUser(frontiersim.User{ID: "ffffffff-0000-4000-8000-000000000000", Name: "ann", Email: "Ann@Corp.example"})
	s.AddUser(frontiersim.User{ID: "ffffffff-0000-4000-8000-000000000001", Name: "gone", Email: "gone@corp.example", State: "disabled"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	cases := []struct {
		name, by, value string
		want            []string
		pages           int
	}{
		{"username on page two", adapters.ResolveByUsername, "ANN", []string{"ffffffff-0000-4000-8000-000000000000"}, 2},
		{"e-mail, case-insensitive", adapters.ResolveByEmail, "ann@corp.EXAMPLE", []string{"ffffffff-0000-4000-8000-000000000000"}, 1},
		{"substring hits are not matches", adapters.ResolveByEmail, "corp.example", nil, 2},
		{"disabled users are not listed", adapters.ResolveByUsername, "gone", nil, 1},
		{"no one", adapters.ResolveByEmail, "nobody@corp.example", nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &adaptertest.HTTPDoer{Base: srv.URL}
			got, err := open(t, cred).Resolve(context.Background(), d, tc.by, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ids (-want +got):\n%s", diff)
			}
			calls := d.Calls()
			if len(calls) != tc.pages {
				t.Fatalf("%d calls, want %d pages", len(calls), tc.pages)
			}
			for i, c := range calls {
				if c.Kind != adapters.Read || !strings.Contains(c.Path, fmt.Sprintf("page_num=%d", i+1)) || !strings.Contains(c.Path, "page_size=50") {
					t.Errorf("call %d: %s %s", i, c.Method, c.Path)
				}
			}
		})
	}
}
