package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// credentialAdapter records the pass-through credential each write and read
// was given.
type credentialAdapter struct {
	readingAdapter
	mu   sync.Mutex
	seen []canonical.Secret
}

func (a *credentialAdapter) note(s canonical.Secret) {
	a.mu.Lock()
	a.seen = append(a.seen, s)
	a.mu.Unlock()
}

func (a *credentialAdapter) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	a.note(op.PassThrough)
	return a.readingAdapter.Apply(ctx, do, op)
}

func (a *credentialAdapter) Read(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Snapshot, error) {
	a.note(op.PassThrough)
	return a.readingAdapter.Read(ctx, do, op)
}

func (a *credentialAdapter) take() []canonical.Secret {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.seen
	a.seen = nil
	return s
}

// TestPassThroughHeaderReachesTheAdapter: on every route that writes or
// reads through the dispatcher, a target's pass-through header reaches that
// target's adapter and no other, and a request without it passes nothing.
func TestPassThroughHeaderReachesTheAdapter(t *testing.T) {
	alpha, beta := &credentialAdapter{}, &credentialAdapter{}
	d, err := dispatch.New([]dispatch.Target{
		{Name: "alpha", Adapter: alpha, Doer: okDoer, PassThroughHeader: "X-Alpha-Token"},
		{Name: "beta", Adapter: beta, Doer: okDoer},
	}, dispatch.Options{DefaultTargets: []string{"alpha", "beta"},
		Users: map[string]map[string]string{"jdoe": {"alpha": "a1", "beta": "b1"}}})
	if err != nil {
		t.Fatal(err)
	}
	app := buildApp(Options{Dispatcher: d, AuthNone: true})
	const update = `{"user":{"display_name":"Jane"}}`
	for _, tc := range []struct {
		name   string
		method string
		target string
		ctype  string
		body   string
	}{
		{"update", http.MethodPatch, "/v1/users/jdoe", "application/json", update},
		{"read", http.MethodGet, "/v1/users/jdoe", "", ""},
		{"batch", http.MethodPost, "/v1/users:batch", "application/json", `[{"id":"jdoe","user":{"display_name":"Jane"}}]`},
	} {
		for _, token := range []string{"callers-own-token", ""} {
			t.Run(tc.name+"/"+map[bool]string{true: "with", false: "without"}[token != ""], func(t *testing.T) {
				req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				if token != "" {
					req.Header.Set("X-Alpha-Token", token)
				}
				resp, err := app.Test(req, -1)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, b)
				}
				if strings.Contains(string(b), "callers-own-token") {
					t.Fatalf("the credential was echoed: %s", b)
				}
				got := alpha.take()
				if len(got) == 0 {
					t.Fatal("alpha was not called")
				}
				for _, s := range got {
					if s != canonical.Secret(token) {
						t.Errorf("alpha got %q, want %q", s, token)
					}
				}
				for _, s := range beta.take() {
					if s != "" {
						t.Errorf("beta, which takes no pass-through credential, got %q", s)
					}
				}
			})
		}
	}
}
