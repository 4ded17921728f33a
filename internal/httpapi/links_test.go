package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

type conflictCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *conflictCounter) Link(_ context.Context, target, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[target+" "+outcome]++
}

func linksApp(t *testing.T) (func(method, path, body, key string) (int, string), *conflictCounter) {
	t.Helper()
	d, err := dispatch.New([]dispatch.Target{
		{Name: "frontier", Adapter: &countingAdapter{}, Doer: okDoer},
		{Name: "akana", Adapter: &countingAdapter{}, Doer: okDoer},
	}, dispatch.Options{Users: map[string]map[string]string{"demo": {"frontier": "f-demo"}}})
	if err != nil {
		t.Fatal(err)
	}
	obs := &conflictCounter{n: map[string]int{}}
	app := buildApp(Options{Dispatcher: d, LinkObserver: obs, Clients: []Client{
		{Name: "linker", KeyHash: sha256.Sum256([]byte("k-linker")), Targets: []string{"frontier"}, Permissions: []string{"links"}},
		{Name: "writer", KeyHash: sha256.Sum256([]byte("k-writer")), Targets: []string{"frontier"}},
	}})

	return func(method, path, body, key string) (int, string) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+key)
		resp, err := app.Test(r, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}, obs
}

func TestLinksAPI(t *testing.T) {
	do, obs := linksApp(t)
	steps := []struct {
		name, method, path, body, key string
		status                        int
		want                          []string // substrings of the answer
	}{
		{"needs the links permission", "GET", "/v1/users/demo/links", "", "k-writer", 403, []string{"links permission"}},
		{"seeded config link", "GET", "/v1/users/demo/links", "", "k-linker", 200, []string{`"frontier":{"vendor_id":"f-demo","source":"config"`}},
		{"unknown id has no links", "GET", "/v1/users/nobody/links", "", "k-linker", 200, []string{`"links":{}`}},
		{"set a link", "PUT", "/v1/users/alice/links", `{"links":{"frontier":"f-alice"},"attributes":{"email":"alice@x.org"}}`, "k-linker", 200,
			[]string{`"vendor_id":"f-alice","source":"api","client":"linker"`, `"email":"alice@x.org"`}},
		{"migration source", "PUT", "/v1/users/alice/links", `{"links":{"frontier":"f-alice"},"source":"migration"}`, "k-linker", 200, []string{`"source":"migration"`}},
		{"conflict names the owner", "PUT", "/v1/users/bob/links", `{"links":{"frontier":"f-alice"}}`, "k-linker", 409,
			[]string{`"code":"conflict"`, `already linked to \"alice\"`, `"field":"links.frontier"`}},
		{"bob got nothing", "GET", "/v1/users/bob/links", "", "k-linker", 200, []string{`"links":{}`}},
		{"reverse lookup", "GET", "/v1/links?target=frontier&vendor_id=f-alice", "", "k-linker", 200, []string{`"id":"alice"`, `"source":"migration"`}},
		{"a target the client may not write", "PUT", "/v1/users/alice/links", `{"links":{"akana":"x"}}`, "k-linker", 403, []string{`"target":"akana"`}},
		{"unknown target", "PUT", "/v1/users/alice/links", `{"links":{"nope":"x"}}`, "k-linker", 400, []string{`"field":"links.nope"`}},
		{"unknown member", "PUT", "/v1/users/alice/links", `{"linkz":{}}`, "k-linker", 400, []string{`unknown field`}},
		{"config source refused", "PUT", "/v1/users/alice/links", `{"links":{"frontier":"f"},"source":"config"}`, "k-linker", 400, []string{`"field":"source"`}},
		{"bad vendor id", "PUT", "/v1/users/alice/links", `{"links":{"frontier":"a/b"}}`, "k-linker", 400, []string{`"field":"links.frontier"`}},
		{"empty", "PUT", "/v1/users/alice/links", `{}`, "k-linker", 400, []string{`"field":"links"`}},
		{"delete", "DELETE", "/v1/users/alice/links/frontier", "", "k-linker", 204, nil},
		{"delete again", "DELETE", "/v1/users/alice/links/frontier", "", "k-linker", 404, []string{`"code":"not_linked"`}},
		{"reverse after delete", "GET", "/v1/links?target=frontier&vendor_id=f-alice", "", "k-linker", 404, []string{`"code":"not_linked"`}},
		{"reverse needs both", "GET", "/v1/links?target=frontier", "", "k-linker", 400, []string{`"field":"vendor_id"`}},
		{"now bob may take it", "PUT", "/v1/users/bob/links", `{"links":{"frontier":"f-alice"}}`, "k-linker", 200, []string{`"vendor_id":"f-alice"`}},
	}
	for _, s := range steps {
		status, body := do(s.method, s.path, s.body, s.key)
		if status != s.status {
			t.Fatalf("%s: status %d want %d: %s", s.name, status, s.status, body)
		}
		for _, w := range s.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: answer lacks %s: %s", s.name, w, body)
			}
		}
		if status >= 400 && !json.Valid([]byte(body)) {
			t.Errorf("%s: not JSON", s.name)
		}
	}
	if obs.n["frontier conflict"] != 1 {
		t.Errorf("conflict metric %v", obs.n)
	}
}

// The path id the links API uses is the one PATCH uses: a link set through
// the API addresses the next update.
func TestLinkAddressesTheNextUpdate(t *testing.T) {
	do, _ := linksApp(t)
	status, body := do(http.MethodPatch, "/v1/users/carol", `{"targets":["frontier"],"user":{"display_name":"C"}}`, "k-linker")
	if status != 404 || !strings.Contains(body, `"code":"not_linked"`) || !strings.Contains(body, `"target":"frontier"`) {
		t.Fatalf("before: %d %s", status, body)
	}
	if status, body := do("PUT", "/v1/users/carol/links", `{"links":{"frontier":"f-carol"}}`, "k-linker"); status != 200 {
		t.Fatalf("put: %d %s", status, body)
	}
	status, body = do(http.MethodPatch, "/v1/users/carol", `{"targets":["frontier"],"user":{"display_name":"C"}}`, "k-linker")
	if status != 200 || !strings.Contains(body, `"vendor_id":"f-carol"`) {
		t.Fatalf("after: %d %s", status, body)
	}
}

// TestLinkChangesAreAudited: a link set or removed through the API is an
// audit record (who, which id, which target and vendor id); with the audit
// sink down nothing is changed (503 audit_unavailable).
func TestLinkChangesAreAudited(t *testing.T) {
	d, err := dispatch.New([]dispatch.Target{{Name: "frontier", Adapter: &countingAdapter{}, Doer: okDoer}}, dispatch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := audit.NewMemoryStore()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	trail, err := audit.NewTrail(audit.Options{Sinks: []audit.Sink{store}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	app := buildApp(Options{Dispatcher: d, Audit: trail, Clients: []Client{
		{Name: "linker", KeyHash: sha256.Sum256([]byte("k")), Targets: []string{"frontier"}, Permissions: []string{"links"}}}})

	do := func(method, path, body string) int {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer k")
		resp, err := app.Test(r, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if st := do("PUT", "/v1/users/ann/links", `{"links":{"frontier":"f-ann"}}`); st != 200 {
		t.Fatalf("put %d", st)
	}
	if st := do("DELETE", "/v1/users/ann/links/frontier", ""); st != 204 {
		t.Fatalf("delete %d", st)
	}
	page, err := trail.Query(context.Background(), audit.Query{User: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range page.Records {
		got = append(got, r.Action+" "+r.Client+" "+r.Targets["frontier"].VendorID+" "+r.Targets["frontier"].Status)
	}
	want := []string{"link.delete linker  unlinked", "link.create linker f-ann linked"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("audit records %q, want %q", got, want)
	}
	store.SetFailure(errors.New("connection refused"))
	now = now.Add(time.Minute) // past the last append's health vouching
	if st := do("PUT", "/v1/users/bob/links", `{"links":{"frontier":"f-bob"}}`); st != http.StatusServiceUnavailable {
		t.Fatalf("put with the audit sink down: %d", st)
	}
	if r, err := d.Links().Get(context.Background(), "bob"); err != nil || len(r.Links) != 0 {
		t.Fatalf("a link was stored with the audit sink down: %+v %v", r, err)
	}
}
