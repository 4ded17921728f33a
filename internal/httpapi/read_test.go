package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// readingAdapter keeps one title: Apply sets it, Read shows it.
type readingAdapter struct {
	mu    sync.Mutex
	title string
}

func (a *readingAdapter) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Fields: map[canonical.Field]adapters.Support{
		canonical.FieldDisplayName: {Supported: true, As: "title"},
	}}.WithReads(map[canonical.Field]adapters.ReadSupport{canonical.FieldDisplayName: {As: "title"}})
}

func (a *readingAdapter) Apply(_ context.Context, _ adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	a.mu.Lock()
	a.title = op.Update.DisplayName.V
	a.mu.Unlock()
	return adapters.Outcome{Applied: op.Update.Fields()}, nil
}

func (a *readingAdapter) Read(context.Context, adapters.Doer, adapters.Op) (adapters.Snapshot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s adapters.Snapshot
	s.Set(canonical.FieldDisplayName, a.title, "title")
	return s, nil
}

// spyStore counts every idempotency store operation.
type spyStore struct {
	*idempotency.MemoryStore
	ops atomic.Int32
}

func (s *spyStore) Claim(ctx context.Context, k string, a idempotency.ClaimArgs) (idempotency.Claim, error) {
	s.ops.Add(1)
	return s.MemoryStore.Claim(ctx, k, a)
}

func (s *spyStore) Save(ctx context.Context, k string, r idempotency.Record, ttl time.Duration) error {
	s.ops.Add(1)
	return s.MemoryStore.Save(ctx, k, r, ttl)
}

func (s *spyStore) Finish(ctx context.Context, k, token string, r idempotency.Record, ttl time.Duration) error {
	s.ops.Add(1)
	return s.MemoryStore.Finish(ctx, k, token, r, ttl)
}

func (s *spyStore) Release(ctx context.Context, k, token string) error {
	s.ops.Add(1)
	return s.MemoryStore.Release(ctx, k, token)
}

func newReadApp(t *testing.T, o Options) (*readingAdapter, *spyStore, func(*http.Request) *http.Response) {
	t.Helper()
	a := &readingAdapter{title: "Jane"}
	store := &spyStore{MemoryStore: idempotency.NewMemoryStore()}
	d, err := dispatch.New([]dispatch.Target{
		{Name: "frontier", Adapter: a, Doer: okDoer},
		{Name: "akana", Adapter: &readingAdapter{title: "Jane"}, Doer: okDoer},
	}, dispatch.Options{Guard: idempotency.NewGuard(store, idempotency.Options{}),
		Users: map[string]map[string]string{"jdoe": {"frontier": "jdoe", "akana": "jdoe"}}})
	if err != nil {
		t.Fatal(err)
	}
	o.Dispatcher = d
	app := buildApp(o)
	return a, store, func(req *http.Request) *http.Response {
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

func TestGetUserQueryRejections(t *testing.T) {
	cases := []struct {
		name, target, field string
		status              int
	}{
		{"unknown parameter", "/v1/users/jdoe?dry_run=true", "dry_run", 400},
		{"empty target in the list", "/v1/users/jdoe?targets=frontier,", "targets", 400},
		{"bad target name", "/v1/users/jdoe?targets=Front!", "targets[0]", 400},
		{"unknown target", "/v1/users/jdoe?targets=volterra", "targets[0]", 400},
		{"bad vendor id", "/v1/users/jdoe?vendor_ids.frontier=a%2Fb", "vendor_ids.frontier", 400},
		{"empty vendor id", "/v1/users/jdoe?vendor_ids.frontier=", "vendor_ids.frontier", 400},
		{"dot-segment id", "/v1/users/..", "id", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, do := newReadApp(t, Options{AuthNone: true})
			resp := do(httptest.NewRequest(http.MethodGet, tc.target, nil))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			p := problem(t, resp)
			found := false
			for _, f := range p.Errors {
				found = found || f.Field == tc.field
			}
			if !found {
				t.Errorf("problem %+v does not name %s", p, tc.field)
			}
		})
	}
}

func TestGetUserAnswersETagAndStoresNothing(t *testing.T) {
	_, store, do := newReadApp(t, Options{AuthNone: true})
	req := httptest.NewRequest(http.MethodGet, "/v1/users/jdoe?targets=frontier,akana&vendor_ids.akana=j-1", nil)
	req.Header.Set("Idempotency-Key", "read-1")
	resp := do(req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var res dispatch.ReadResult
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if tag := resp.Header.Get("ETag"); tag == "" || tag != res.ETag {
		t.Errorf("ETag header %q, body %q", tag, res.ETag)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("a read is cacheable")
	}
	if !res.Consistent || res.Results["akana"].VendorID != "j-1" || res.Results["frontier"].Status != dispatch.ReadOK {
		t.Errorf("result %s", b)
	}
	if n := store.ops.Load(); n != 0 {
		t.Errorf("a read touched the idempotency store %d times", n)
	}
}

func TestPatchIfMatch(t *testing.T) {
	a, _, do := newReadApp(t, Options{AuthNone: true})
	get := func() string {
		resp := do(httptest.NewRequest(http.MethodGet, "/v1/users/jdoe?targets=frontier", nil))
		return resp.Header.Get("ETag")
	}
	stale := get()
	if resp := do(patch(`{"targets":["frontier"],"user":{"display_name":"Editor A"}}`, "If-Match", stale)); resp.StatusCode != 200 {
		t.Fatalf("first editor: %d", resp.StatusCode)
	}
	resp := do(patch(`{"targets":["frontier"],"user":{"display_name":"Editor B"}}`, "If-Match", stale, "Idempotency-Key", "b-1"))
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("stale editor: %d, want 412", resp.StatusCode)
	}
	p := problem(t, resp)
	if p.Code != canonical.CodePreconditionFailed || len(p.Errors) != 1 || p.Errors[0].Target != "frontier" {
		t.Errorf("problem %+v", p)
	}
	if a.title != "Editor A" {
		t.Errorf("title %q: the stale write went through", a.title)
	}
	// The key of the refused write is free: with a fresh ETag it applies.
	resp = do(patch(`{"targets":["frontier"],"user":{"display_name":"Editor B"}}`, "If-Match", get(), "Idempotency-Key", "b-1"))
	if resp.StatusCode != 200 || a.title != "Editor B" {
		t.Errorf("fresh ETag: %d, title %q", resp.StatusCode, a.title)
	}
	if !strings.Contains(get(), "frontier=") {
		t.Error("the ETag does not name its target")
	}
}
