package commvault

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
)

func TestResolveListsUsersAndMatchesCaseInsensitively(t *testing.T) {
	s := sim()
	// Commvault allows duplicate e-mails (commvault.md 4): both come back.
	s.AddUser(commvaultsim.User{ID: 44, Name: "jdoe2", Email: "JANE@example.com", Password: "x"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	cases := []struct {
		by, value string
		want      []string
	}{
		{adapters.ResolveByEmail, "taken@EXAMPLE.com", []string{"43"}},
		{adapters.ResolveByEmail, "jane@example.com", []string{"42", "44"}},
		{adapters.ResolveByUsername, "JDOE", []string{"42"}},
		{adapters.ResolveByUsername, "jane@example.com", nil},
		{adapters.ResolveByEmail, "nobody@example.com", nil},
	}
	for _, tc := range cases {
		t.Run(tc.by+" "+tc.value, func(t *testing.T) {
			d := &adaptertest.HTTPDoer{Base: srv.URL}
			got, err := open(t, svcPW).Resolve(context.Background(), d, tc.by, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ids (-want +got):\n%s", diff)
			}
			calls := d.Calls()
			if len(calls) != 2 || calls[0].Name != "login" || calls[1].Method != "GET" || calls[1].Path != "/V4/user" || calls[1].Kind != adapters.Read {
				t.Fatalf("calls %+v", calls)
			}
		})
	}
}

func TestSimListNeedsAToken(t *testing.T) {
	w := httptest.NewRecorder()
	sim().ServeHTTP(w, httptest.NewRequest("GET", "/webconsole/api/V4/user", nil))
	if w.Code != 401 {
		t.Fatalf("status %d", w.Code)
	}
	// With a token: every user, numberOfUsers agreeing.
	srv := httptest.NewServer(sim())
	defer srv.Close()
	var body string
	d := adapters.DoerFunc(func(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
		r, err := (&adaptertest.HTTPDoer{Base: srv.URL}).Do(ctx, c)
		if err == nil && c.Name == "list users" {
			body = string(r.Body)
		}
		return r, err
	})
	if _, err := open(t, svcPW).Resolve(context.Background(), d, adapters.ResolveByEmail, "x@y"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"numberOfUsers":3`) || !strings.Contains(body, `"email":"taken@example.com"`) {
		t.Fatalf("list body %s", body)
	}
}
