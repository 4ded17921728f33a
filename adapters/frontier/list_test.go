package frontier

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
)

// List pages ListUsers by page_size until a short page and shows every
// enabled user once; disabled users are hidden, as GET by UUID hides them.
func TestListPagesEveryEnabledUser(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra int
		pages int
	}{
		{"one short page", 3, 1},
		{"exactly one full page, then an empty one", listPageSize - 1, 2},
		{"three pages", 2*listPageSize + 7, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded(true)
			s.SeedUsers(tc.extra)
			s.AddUser(frontiersim.User{ID: "ffffffff-0000-4000-8000-000000000001", Name: "gone", Email: "gone@corp.example", State: "disabled"})
			srv := httptest.NewServer(s)
			defer srv.Close()
			d := &adaptertest.HTTPDoer{Base: srv.URL}
			seen := map[string]adapters.Listed{}
			err := open(t, cred).List(context.Background(), d, func(u adapters.Listed) error {
				if _, dup := seen[u.VendorID]; dup {
					t.Errorf("%s listed twice", u.VendorID)
				}
				seen[u.VendorID] = u
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != tc.extra+1 {
				t.Fatalf("%d users listed, want %d", len(seen), tc.extra+1)
			}
			if got := seen[userID]; got.Username != "janedoe" || got.Email != "jane@example.com" {
				t.Errorf("demo user listed as %+v", got)
			}
			if got := seen[frontiersim.SeededUserID(0)]; got.Email != "seeded0@example.com" {
				t.Errorf("seeded user listed as %+v", got)
			}
			if _, ok := seen["ffffffff-0000-4000-8000-000000000001"]; ok {
				t.Error("a disabled user was listed")
			}
			calls := d.Calls()
			if len(calls) != tc.pages {
				t.Fatalf("%d calls, want %d", len(calls), tc.pages)
			}
			for i, c := range calls {
				if c.Kind != adapters.Read || c.Method != "GET" || !strings.Contains(c.Path, fmt.Sprintf("page_num=%d", i+1)) ||
					!strings.Contains(c.Path, fmt.Sprintf("page_size=%d", listPageSize)) {
					t.Errorf("call %d: %s %s %s", i, c.Kind, c.Method, c.Path)
				}
			}
		})
	}
}

func TestListStopsAtTheCallbacksError(t *testing.T) {
	s := seeded(true)
	s.SeedUsers(2 * listPageSize)
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	stop := errors.New("stop")
	n := 0
	err := open(t, cred).List(context.Background(), d, func(adapters.Listed) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 || len(d.Calls()) != 1 {
		t.Fatalf("err %v after %d users and %d calls", err, n, len(d.Calls()))
	}
}

// A failed list call (a wrong base path: the simulator answers 404) is an
// error, not an empty list.
func TestListReportsVendorErrors(t *testing.T) {
	srv := httptest.NewServer(seeded(true))
	defer srv.Close()
	d := adaptertest.HTTPDoer{Base: srv.URL + "/nowhere"}
	err := open(t, cred).List(context.Background(), &d, func(adapters.Listed) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "list users") {
		t.Fatalf("err %v", err)
	}
}
