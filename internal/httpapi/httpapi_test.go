package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	canonicalproblem "github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

type countingAdapter struct{ calls atomic.Int32 }

func (a *countingAdapter) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Fields: map[canonical.Field]adapters.Support{
		canonical.FieldDisplayName: {Supported: true, As: "title"},
		canonical.FieldEmail:       {Reason: "ignored by the vendor"},
	}}
}

func (a *countingAdapter) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	a.calls.Add(1)
	if _, err := do.Do(ctx, &adapters.Call{Name: "put", Kind: adapters.Write, Method: "PUT", Path: "/u/" + op.UserID}); err != nil {
		return adapters.Outcome{}, err
	}
	return adapters.Outcome{Applied: op.Update.Fields()}, nil
}

var okDoer = adapters.DoerFunc(func(context.Context, *adapters.Call) (*adapters.Response, error) {
	return &adapters.Response{Status: 200, Attempts: 1}, nil
})

func newApp(t *testing.T, o Options) (*countingAdapter, func(req *http.Request) *http.Response) {
	t.Helper()
	a := &countingAdapter{}
	d, err := dispatch.New([]dispatch.Target{{Name: "frontier", Adapter: a, Doer: okDoer}}, dispatch.Options{DefaultTargets: []string{"frontier"}, Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	o.Dispatcher = d
	app := buildApp(o)
	return a, func(req *http.Request) *http.Response {
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

func patch(body string, hdr ...string) *http.Request {
	return patchAt("/v1/users/jdoe", body, hdr...)
}

func patchAt(target, body string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPatch, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

func problem(t *testing.T, resp *http.Response) canonicalproblem.Problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != canonicalproblem.ContentType {
		t.Fatalf("content type %q", ct)
	}
	var p canonicalproblem.Problem
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return p
}

func TestPatchOutcomes(t *testing.T) {
	key := "k3y"
	sum := sha256.Sum256([]byte(key))
	clients := []Client{{Name: "ops", KeyHash: sum, Targets: []string{"frontier"}}}
	cases := []struct {
		name   string
		req    *http.Request
		status int
		field  string
		calls  int32
	}{
		{"applied", patch(`{"user":{"display_name":"J"}}`, "Authorization", "Bearer "+key), 200, "", 1},
		{"no key", patch(`{"user":{"display_name":"J"}}`), 401, "", 0},
		{"wrong key", patch(`{"user":{"display_name":"J"}}`, "Authorization", "Bearer nope"), 401, "", 0},
		{"unknown field", patch(`{"user":{"display_nam":"J"}}`, "Authorization", "Bearer "+key), 400, "user.display_nam", 0},
		{"bad email", patch(`{"user":{"email":"x"}}`, "Authorization", "Bearer "+key), 400, "user.email", 0},
		{"unsupported rejected", patch(`{"user":{"email":"a@b.co"}}`, "Authorization", "Bearer "+key), 422, "user.email", 0},
		{"unsupported skipped", patch(`{"on_unsupported":"skip","user":{"email":"a@b.co","display_name":"J"}}`, "Authorization", "Bearer "+key), 200, "", 1},
		{"wrong content type", patch(`{"user":{"display_name":"J"}}`, "Authorization", "Bearer "+key, "Content-Type", "text/plain"), 415, "", 0},
		{"bad dry_run", patchAt("/v1/users/jdoe?dry_run=maybe", `{"user":{"display_name":"J"}}`, "Authorization", "Bearer "+key), 400, "dry_run", 0},
		{"encoded slash id", patchAt("/v1/users/a%2Fb", `{"user":{"display_name":"J"}}`, "Authorization", "Bearer "+key), 400, "id", 0},
		{"dot-dot id", patchAt("/v1/users/..", `{"user":{"display_name":"J"}}`, "Authorization", "Bearer "+key), 400, "id", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, do := newApp(t, Options{Clients: clients})
			resp := do(tc.req)
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.status >= 400 {
				p := problem(t, resp)
				if p.Status != tc.status {
					t.Errorf("problem status %d", p.Status)
				}
				if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
					t.Errorf("problem errors %+v, want field %s", p.Errors, tc.field)
				}
				if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
			if got := a.calls.Load(); got != tc.calls {
				t.Errorf("adapter applied %d times, want %d", got, tc.calls)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	a := &countingAdapter{}
	d, err := dispatch.New([]dispatch.Target{{Name: "frontier", Adapter: a, Doer: okDoer}}, dispatch.Options{DefaultTargets: []string{"frontier"}, Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	app := buildApp(Options{Dispatcher: d, AuthNone: true, BodyLimit: 4096})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer app.Shutdown()
	body := `{"user":{"display_name":"` + strings.Repeat("a", 8000) + `"}}`
	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/users/jdoe", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || a.calls.Load() != 0 {
		t.Fatalf("status %d, applied %d", resp.StatusCode, a.calls.Load())
	}
}

func TestCapabilitiesAndHealth(t *testing.T) {
	_, do := newApp(t, Options{AuthNone: true})
	resp := do(httptest.NewRequest(http.MethodGet, "/v1/capabilities", nil))
	var doc struct {
		Fields  []string                                                `json:"fields"`
		Targets map[string]struct{ Fields map[string]adapters.Support } `json:"targets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Fields) != len(canonical.AllFields()) || len(doc.Targets["frontier"].Fields) != len(canonical.AllFields()) {
		t.Errorf("matrix incomplete: %+v", doc)
	}
	if s := doc.Targets["frontier"].Fields["email"]; s.Supported || s.Reason == "" {
		t.Errorf("email row %+v", s)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/nope": 404} {
		if got := do(httptest.NewRequest(http.MethodGet, path, nil)).StatusCode; got != want {
			t.Errorf("%s: %d want %d", path, got, want)
		}
	}
}

func TestReadyzReportsStore(t *testing.T) {
	_, do := newApp(t, Options{AuthNone: true, Ready: func(context.Context) error { return io.ErrUnexpectedEOF }})
	if got := do(httptest.NewRequest(http.MethodGet, "/readyz", nil)).StatusCode; got != 503 {
		t.Errorf("readyz %d", got)
	}
}

// TestReadyzVerbose: ?verbose=1 adds Options.Vendors' report, ready or
// not; plain /readyz does not ask for it.
func TestReadyzVerbose(t *testing.T) {
	asked := 0
	vendors := func() any { asked++; return []map[string]string{{"vendor": "frontier", "breaker": "open"}} }
	for _, tc := range []struct {
		name, path string
		ready      func(context.Context) error
		status     int
		body       string
		asked      int
	}{
		{"plain", "/readyz", nil, 200, `{"status":"ready"}`, 0},
		{"verbose", "/readyz?verbose=1", nil, 200, `{"status":"ready","vendors":[{"breaker":"open","vendor":"frontier"}]}`, 1},
		{"verbose true", "/readyz?verbose=true", nil, 200, `{"status":"ready","vendors":[{"breaker":"open","vendor":"frontier"}]}`, 1},
		{"verbose off", "/readyz?verbose=0", nil, 200, `{"status":"ready"}`, 0},
		{"store down", "/readyz?verbose=1", func(context.Context) error { return errors.New("idempotency store (redis) unreachable") }, 503,
			`{"reason":"idempotency store (redis) unreachable","status":"unavailable","vendors":[{"breaker":"open","vendor":"frontier"}]}`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked = 0
			_, do := newApp(t, Options{AuthNone: true, Ready: tc.ready, Vendors: vendors})
			resp := do(httptest.NewRequest(http.MethodGet, tc.path, nil))
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || strings.TrimSpace(string(b)) != tc.body || asked != tc.asked {
				t.Errorf("%d %s (asked %d)", resp.StatusCode, b, asked)
			}
		})
	}
}

// testUsers links the user the tests address.
var testUsers = map[string]map[string]string{"jdoe": {"frontier": "jdoe"}}
