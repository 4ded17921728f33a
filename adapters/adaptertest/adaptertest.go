// Package adaptertest is the conformance suite every adapter passes (the dex
// storage/conformance pattern): one Run, the same checks for every vendor.
package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-openapi/jsonpointer"
	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// Harness describes one vendor to the suite.
type Harness struct {
	// New opens a fresh adapter and a fresh simulator seeded so that every
	// case applies. Secrets lists every credential value the adapter was
	// given, which must never leak.
	New func(t testing.TB) (a adapters.Adapter, sim http.Handler, secrets []string)
	// Cases are ops that must apply against a fresh simulator.
	Cases []Case
	// State returns the simulator's stored record of op's user (what the
	// vendor holds, secrets and all), with any member the vendor changes on
	// every write (an updated_at stamp) cleared. The suite compares it
	// around a repeated update. Nil compares what Read reports instead.
	State func(sim http.Handler, op adapters.Op) any
	// Missing is an op naming a user the fresh simulator does not have;
	// Read must report it as not_found. Zero skips that check.
	Missing adapters.Op
}

// Case is one op expected to apply.
type Case struct {
	Name string
	Op   adapters.Op
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Run("required interfaces", func(t *testing.T) {
		a, _, _ := h.New(t)
		for _, miss := range adapters.MissingRequired(a) {
			t.Errorf("the adapter does not implement adapters.%s, which every vendor must", miss)
		}
	})
	t.Run("capabilities are total", func(t *testing.T) {
		a, _, _ := h.New(t)
		caps := a.Capabilities().Complete()
		for _, f := range canonical.AllFields() {
			s := caps.Fields[f]
			if s.Supported && s.As == "" {
				t.Errorf("%s: supported but As (the vendor field or call) is empty", f)
			}
			if !s.Supported && s.Reason == "" {
				t.Errorf("%s: unsupported without a reason", f)
			}
		}
		raw := a.Capabilities()
		for f := range raw.Fields {
			if !slices.Contains(canonical.AllFields(), f) {
				t.Errorf("capability row for unknown field %q", f)
			}
		}
	})
	runRead(t, h)
	runList(t, h)
	for _, c := range h.Cases {
		t.Run(c.Name+"/doer errors pass through", func(t *testing.T) {
			a, _, _ := h.New(t)
			want := &canonical.Error{Code: canonical.CodeCircuitOpen, Message: "open"}
			do := adapters.DoerFunc(func(context.Context, *adapters.Call) (*adapters.Response, error) { return nil, want })
			_, err := a.Apply(context.Background(), do, c.Op)
			var got *canonical.Error
			if !errors.As(err, &got) || got.Code != canonical.CodeCircuitOpen {
				t.Errorf("Apply error %v does not carry the doer's *canonical.Error", err)
			}
		})
		t.Run(c.Name+"/cancelled context sends nothing", func(t *testing.T) {
			a, sim, _ := h.New(t)
			log := &methodLog{next: sim}
			srv := httptest.NewServer(log)
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			out, err := a.Apply(ctx, &HTTPDoer{Base: srv.URL}, c.Op)
			if err == nil {
				t.Error("Apply succeeded on a cancelled context")
			}
			if len(out.Applied) != 0 {
				t.Errorf("Apply on a cancelled context reports %v applied", out.Applied)
			}
			if n := log.count(); n != 0 {
				t.Errorf("the simulator received %d requests on a cancelled context, want 0", n)
			}
		})
		t.Run(c.Name+"/vendor errors never apply", func(t *testing.T) {
			for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
				a, sim, _ := h.New(t)
				srv := httptest.NewServer(sim)
				live := &HTTPDoer{Base: srv.URL}
				// Reads and logins reach the simulator; every write is
				// answered with the vendor error.
				do := adapters.DoerFunc(func(ctx context.Context, call *adapters.Call) (*adapters.Response, error) {
					if call.Kind != adapters.Write {
						return live.Do(ctx, call)
					}
					return &adapters.Response{Status: status, Header: http.Header{"Content-Type": {"application/json"}},
						Body: []byte(`{"message":"refused"}`), Attempts: 1, AttemptStatuses: []int{status}}, nil
				})
				out, err := a.Apply(context.Background(), do, c.Op)
				srv.Close()
				if err == nil || len(out.Applied) != 0 {
					t.Errorf("writes answered %d: Apply gave applied %v, error %v; want an error and nothing applied", status, out.Applied, err)
				}
			}
		})
		t.Run(c.Name+"/unsupported values have a reason", func(t *testing.T) {
			a, _, _ := h.New(t)
			p, ok := a.(adapters.Preflighter)
			if !ok {
				t.Skip("not a Preflighter (the required-set check fails)")
			}
			unsup, err := p.Preflight(c.Op)
			if err != nil {
				t.Fatalf("Preflight refuses a case that must apply: %v", err)
			}
			for _, u := range unsup {
				if u.Reason == "" {
					t.Errorf("%s: unsupported without a reason", u.Field)
				}
			}
		})
		t.Run(c.Name+"/verify is false before apply and true after", func(t *testing.T) {
			a, sim, _ := h.New(t)
			v, ok := a.(adapters.Verifier)
			if !ok {
				t.Skip("not a Verifier (the required-set check fails)")
			}
			srv := httptest.NewServer(sim)
			defer srv.Close()
			do := &HTTPDoer{Base: srv.URL}
			ctx := context.Background()
			if held, err := v.Verify(ctx, do, c.Op); err != nil || held {
				t.Errorf("Verify before Apply = %v, %v; want false: the case changes the fresh simulator", held, err)
			}
			if _, err := a.Apply(ctx, do, c.Op); err != nil {
				t.Fatal(err)
			}
			held, err := v.Verify(ctx, do, c.Op)
			if err != nil {
				t.Fatalf("Verify after Apply: %v", err)
			}
			// A password cannot be read back, nor a user the vendor hides
			// once updated (Frontier's disabled users): Verify cannot be
			// sure, and the target runs again.
			if !held && !c.Op.Update.Password.Set && !hidden(ctx, a, do, c.Op) {
				t.Error("Verify after Apply = false; a re-run after a crash would write twice")
			}
		})
		t.Run(c.Name+"/dry run plans exactly the real writes", func(t *testing.T) {
			a, sim, secrets := h.New(t)
			srv := httptest.NewServer(sim)
			defer srv.Close()
			dry := &HTTPDoer{Base: srv.URL, DryRun: true}
			if _, err := a.Apply(context.Background(), dry, c.Op); err != nil {
				t.Fatalf("dry run: %v", err)
			}
			a2, sim2, _ := h.New(t)
			srv2 := httptest.NewServer(sim2)
			defer srv2.Close()
			real := &HTTPDoer{Base: srv2.URL}
			out, err := a2.Apply(context.Background(), real, c.Op)
			if err != nil {
				t.Fatalf("real run: %v", err)
			}
			if len(out.Applied) == 0 {
				t.Error("applied nothing")
			}
			if diff := cmp.Diff(dry.Writes(), real.Writes()); diff != "" {
				t.Errorf("planned writes differ from real writes (-dry +real):\n%s", diff)
			}
			checkSecrets(t, append(secrets, opSecrets(c.Op)...), real.Calls())
		})
		t.Run(c.Name+"/repeat leaves the vendor unchanged", func(t *testing.T) {
			a, sim, _ := h.New(t)
			r, ok := a.(adapters.Reader)
			if !ok {
				t.Skip("not a Reader (the required-set check fails)")
			}
			srv := httptest.NewServer(sim)
			defer srv.Close()
			do := &HTTPDoer{Base: srv.URL}
			ctx := context.Background()
			read := func() map[canonical.Field]adapters.Value {
				t.Helper()
				op := c.Op
				op.Update = canonical.Update{}
				snap, err := r.Read(ctx, do, op)
				if err != nil && canonical.AsError(err).Code == canonical.CodeNotFound && h.State != nil {
					// The vendor hides the user in this state (Frontier
					// hides disabled users): the stored record decides.
					return nil
				}
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				// Version is left out: vendors bump it on every write.
				return snap.Fields
			}
			state := func() any {
				if h.State == nil {
					return nil
				}
				return h.State(sim, c.Op)
			}
			before, stBefore := read(), state()
			if _, err := a.Apply(ctx, do, c.Op); err != nil {
				t.Fatalf("apply 1: %v", err)
			}
			once, stOnce := read(), state()
			if cmp.Equal(before, once) && cmp.Equal(stBefore, stOnce) && readableSet(a, c.Op) {
				t.Error("the first apply changed nothing the simulator holds")
			}
			if _, err := a.Apply(ctx, do, c.Op); err != nil {
				t.Fatalf("apply 2: %v", err)
			}
			if diff := cmp.Diff(stOnce, state()); diff != "" {
				t.Errorf("repeating the update changed the simulator's stored user (-once +twice):\n%s", diff)
			}
			if diff := cmp.Diff(once, read()); diff != "" {
				t.Errorf("repeating the update changed what the vendor reports (-once +twice):\n%s", diff)
			}
		})
	}
}

// hidden reports whether a's Read no longer finds op's user.
func hidden(ctx context.Context, a adapters.Adapter, do adapters.Doer, op adapters.Op) bool {
	r, ok := a.(adapters.Reader)
	if !ok {
		return false
	}
	op.Update = canonical.Update{}
	_, err := r.Read(ctx, do, op)
	return err != nil && canonical.AsError(err).Code == canonical.CodeNotFound
}

// readableSet reports whether op sets a field a's Read reports.
func readableSet(a adapters.Adapter, op adapters.Op) bool {
	caps := a.Capabilities().Complete()
	for _, f := range op.Update.Fields() {
		if caps.Fields[f].Readable {
			return true
		}
	}
	return false
}

func opSecrets(op adapters.Op) []string {
	var out []string
	if p := op.Update.Password; p.Set {
		out = append(out, p.V.New.Reveal())
		if p.V.Current.Set {
			out = append(out, p.V.Current.V.Reveal())
		}
	}
	if op.PassThrough != "" {
		out = append(out, op.PassThrough.Reveal())
	}
	return out
}

// checkSecrets fails when a secret appears in a path, or in a body outside
// the members the call declared in Secrets (login calls excepted: their
// bodies are credentials by nature and are redacted whole).
func checkSecrets(t *testing.T, secrets []string, calls []adapters.Call) {
	t.Helper()
	for _, c := range calls {
		for _, s := range secrets {
			if s == "" {
				continue
			}
			if strings.Contains(c.Path, s) {
				t.Errorf("%s %s: a secret is in the path", c.Method, c.Name)
			}
			if c.Kind == adapters.Auth || len(c.Body) == 0 {
				continue
			}
			if bytes.Contains(stripSecrets(c), []byte(s)) {
				t.Errorf("%s %s: a secret is in the body outside Call.Secrets", c.Method, c.Name)
			}
		}
	}
}

func stripSecrets(c adapters.Call) []byte {
	var v any
	if err := json.Unmarshal(c.Body, &v); err != nil {
		return c.Body
	}
	for _, p := range c.Secrets {
		ptr, err := jsonpointer.New(p)
		if err != nil {
			continue
		}
		if out, err := ptr.Set(v, nil); err == nil {
			v = out
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// FlatHeader is h with each header's values joined, as golden files pin it.
func FlatHeader(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k := range h {
		out[k] = h.Get(k)
	}
	return out
}

// GoldenCall is one call as the adapters' golden files pin it: the
// adapters set no volatile header (no dates, ids or nonces), so all are
// kept.
type GoldenCall struct {
	Name    string            `json:"name"`
	Kind    string            `json:"kind"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Header  map[string]string `json:"header,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
	Secrets []string          `json:"secrets,omitempty"`
}

// GoldenCalls is calls as golden files pin them.
func GoldenCalls(calls []adapters.Call) []GoldenCall {
	out := make([]GoldenCall, len(calls))
	for i, c := range calls {
		out[i] = GoldenCall{Name: c.Name, Kind: c.Kind.String(), Method: c.Method, Path: c.Path,
			Header: FlatHeader(c.Header), Body: c.Body, Secrets: c.Secrets}
	}
	return out
}

// Golden compares v, as indented JSON, with testdata/<name>.golden.json,
// first rewriting that file when update is set (the adapters' -update flag).
func Golden(t testing.TB, name string, v any, update bool) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the package's tests with -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("calls differ from %s (-want +got):\n%s", path, diff)
	}
}

// Bench measures each case's Apply without the network: the calls of a
// steady-state run (session already established) are answered once by the
// simulator and recorded, then replayed from memory inside the timed loop.
// The figure is the adapter's own work per update: planning, request bodies,
// response parsing and session handling.
func Bench(b *testing.B, h Harness) {
	for _, c := range h.Cases {
		b.Run(c.Name, func(b *testing.B) {
			ctx := context.Background()
			a, sim, _ := h.New(b)
			srv := httptest.NewServer(sim)
			defer srv.Close()
			live := &HTTPDoer{Base: srv.URL}
			if _, err := a.Apply(ctx, live, c.Op); err != nil { // logs in, if the vendor needs it
				b.Fatal(err)
			}
			rec := &replayDoer{next: live}
			if _, err := a.Apply(ctx, rec, c.Op); err != nil {
				b.Fatal(err)
			}
			rec.next = nil
			b.ReportAllocs()
			for b.Loop() {
				rec.i = 0
				if _, err := a.Apply(ctx, rec, c.Op); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rec.calls)), "calls/op")
		})
	}
}

// replayDoer records calls and answers while next is set, then answers the
// same sequence of calls from memory, failing on any other call.
type replayDoer struct {
	next  adapters.Doer
	calls []replayed
	i     int
}

type replayed struct {
	method, path string
	resp         adapters.Response
}

func (d *replayDoer) Do(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
	if d.next != nil {
		r, err := d.next.Do(ctx, c)
		if err != nil {
			return nil, err
		}
		d.calls = append(d.calls, replayed{method: c.Method, path: c.Path, resp: *r})
		return r, nil
	}
	if d.i >= len(d.calls) || d.calls[d.i].method != c.Method || d.calls[d.i].path != c.Path {
		return nil, fmt.Errorf("replay: call %d is %s %s, not what the recorded run made", d.i, c.Method, c.Path)
	}
	r := d.calls[d.i].resp
	d.i++
	return &r, nil
}

// HTTPDoer sends calls to a test server with net/http, one attempt each;
// in DryRun it answers Write calls itself, as the dispatcher does.
type HTTPDoer struct {
	Base   string
	DryRun bool

	mu    sync.Mutex
	calls []adapters.Call
}

// Do implements adapters.Doer.
func (d *HTTPDoer) Do(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
	d.mu.Lock()
	d.calls = append(d.calls, *c.Clone())
	d.mu.Unlock()
	if d.DryRun && c.Kind == adapters.Write {
		return &adapters.Response{Status: http.StatusOK, Header: http.Header{}, Synthetic: true, Attempts: 0}, nil
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, d.Base+c.Path, bytes.NewReader(c.Body))
	if err != nil {
		return nil, err
	}
	req.Header = c.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "transport error"}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "reading the response failed"}
	}
	return &adapters.Response{Status: resp.StatusCode, Header: resp.Header, Body: b, Attempts: 1, AttemptStatuses: []int{resp.StatusCode}}, nil
}

// Calls returns every call made, in order.
func (d *HTTPDoer) Calls() []adapters.Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// Write is a write call as compared between dry and real runs.
type Write struct {
	Method, Path string
	Body         string
}

// Writes returns the write calls made (or planned).
func (d *HTTPDoer) Writes() []Write {
	var out []Write
	for _, c := range d.Calls() {
		if c.Kind == adapters.Write {
			out = append(out, Write{Method: c.Method, Path: c.Path, Body: string(c.Body)})
		}
	}
	return out
}
