package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/decode"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// fake is an in-package adapter: it supports display_name, given_name and
// notifications (only "known"), rejects vendor id "bad", and writes one PUT.
type fake struct {
	name    string
	applied atomic.Int32
	block   bool          // wait for the context instead of answering
	entered chan struct{} // when set, told each time Apply starts
	wait    chan struct{} // when set, Apply starts its calls once it is closed
	fail    *canonical.Error
}

func (f *fake) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Fields: map[canonical.Field]adapters.Support{
		canonical.FieldDisplayName:   {Supported: true, As: "title"},
		canonical.FieldGivenName:     {Supported: true, As: "first"},
		canonical.FieldNotifications: {Supported: true, As: "notes"},
		canonical.FieldEmail:         {Reason: "the vendor ignores email"},
	}, Extensions: []string{"colour"}}
}

func (f *fake) Preflight(op adapters.Op) ([]canonical.Unsupported, error) {
	if op.UserID == "bad" {
		return nil, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "bad id",
			Fields: []canonical.FieldError{{Field: "vendor_ids." + f.name, Message: "must not be bad"}}}
	}
	if op.Update.Notifications.Set {
		for _, n := range op.Update.Notifications.V {
			if n != "known" {
				return []canonical.Unsupported{{Field: canonical.FieldNotifications, Reason: "no mapping for " + n}}, nil
			}
		}
	}
	return nil, nil
}

func (f *fake) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.block {
		<-ctx.Done()
		return adapters.Outcome{}, ctx.Err()
	}
	if f.wait != nil {
		<-f.wait
	}
	if _, err := do.Do(ctx, &adapters.Call{Name: "get", Kind: adapters.Read, Method: "GET", Path: "/u/" + op.UserID}); err != nil {
		return adapters.Outcome{}, err
	}
	body, _ := json.Marshal(map[string]any{"title": op.Update.DisplayName.V, "secret": "pw"})
	resp, err := do.Do(ctx, &adapters.Call{Name: "put", Kind: adapters.Write, Method: "PUT", Path: "/u/" + op.UserID,
		Header: http.Header{"Authorization": {"Basic abc"}, "Content-Type": {"application/json"}}, Body: body, Secrets: []string{"/secret"}})
	if err != nil {
		return adapters.Outcome{}, err
	}
	if f.fail != nil {
		return adapters.Outcome{}, f.fail
	}
	if !resp.Synthetic {
		f.applied.Add(1)
	}
	return adapters.Outcome{Applied: op.Update.Fields()}, nil
}

// Verify reports the update applied once the fake has applied anything.
func (f *fake) Verify(context.Context, adapters.Doer, adapters.Op) (bool, error) {
	return f.applied.Load() > 0, nil
}

// vendorDoer counts calls and answers 200.
type vendorDoer struct {
	mu    sync.Mutex
	calls []string
}

func (v *vendorDoer) Do(_ context.Context, c *adapters.Call) (*adapters.Response, error) {
	v.mu.Lock()
	v.calls = append(v.calls, c.Method+" "+c.Path)
	v.mu.Unlock()
	return &adapters.Response{Status: 200, Attempts: 1, AttemptStatuses: []int{200}}, nil
}

type fixture struct {
	d       *Dispatcher
	adapter map[string]*fake
	doer    map[string]*vendorDoer
}

func newFixture(t *testing.T, o Options, mod func(map[string]*fake)) *fixture {
	t.Helper()
	fx := &fixture{adapter: map[string]*fake{}, doer: map[string]*vendorDoer{}}
	var targets []Target
	for _, n := range []string{"alpha", "beta"} {
		fx.adapter[n] = &fake{name: n}
		fx.doer[n] = &vendorDoer{}
	}
	if mod != nil {
		mod(fx.adapter)
	}
	for _, n := range []string{"alpha", "beta"} {
		targets = append(targets, Target{Name: n, Adapter: fx.adapter[n], Doer: fx.doer[n], Deadline: time.Second})
	}
	if o.Users == nil && o.Links == nil {
		// The user every test addresses, linked at both targets.
		o.Users = map[string]map[string]string{"jdoe": {"alpha": "jdoe", "beta": "jdoe"}}
	}
	d, err := New(targets, o)
	if err != nil {
		t.Fatal(err)
	}
	fx.d = d
	return fx
}

func input(t *testing.T, body string) Input {
	t.Helper()
	req, err := decode.Request([]byte(body), "jdoe")
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	return Input{Client: "c", Request: req, Method: "PATCH", Path: "/v1/users/jdoe"}
}

func decodeResult(t *testing.T, b []byte) result.Result {
	t.Helper()
	var r result.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRejections(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		acl    func(*Input)
		code   canonical.Code
		fields []string
	}{
		{"unknown target", `{"targets":["gamma"],"user":{"display_name":"x"}}`, nil, canonical.CodeInvalidRequest, []string{"targets[0]"}},
		{"unsupported field rejected", `{"targets":["alpha","beta"],"user":{"display_name":"x","email":"a@b.co"}}`, nil, canonical.CodeUnsupportedField, []string{"alpha:user.email", "beta:user.email"}},
		{"unsupported value rejected", `{"targets":["alpha"],"user":{"notifications":["nope"]}}`, nil, canonical.CodeUnsupportedField, []string{"alpha:user.notifications"}},
		{"preflight id", `{"targets":["alpha","beta"],"vendor_ids":{"beta":"bad"},"user":{"display_name":"x"}}`, nil, canonical.CodeInvalidRequest, []string{"beta:vendor_ids.beta"}},
		{"extension for non-target", `{"targets":["alpha"],"user":{"display_name":"x"},"extensions":{"beta":{"colour":"red"}}}`, nil, canonical.CodeInvalidRequest, []string{"extensions.beta"}},
		{"extension not allowed", `{"targets":["alpha"],"user":{"display_name":"x"},"extensions":{"alpha":{"size":1}}}`, nil, canonical.CodeInvalidRequest, []string{"extensions.alpha.size"}},
		{"target denied", `{"targets":["alpha","beta"],"user":{"display_name":"x"}}`, func(in *Input) { in.AllowedTargets = []string{"alpha"} }, canonical.CodeForbidden, []string{"beta:targets[1]"}},
		{"field denied", `{"targets":["alpha"],"user":{"display_name":"x","given_name":"y"}}`, func(in *Input) { in.AllowedFields = []string{"display_name"} }, canonical.CodeForbidden, []string{"user.given_name"}},
		{"no targets, no default", `{"user":{"display_name":"x"}}`, nil, canonical.CodeInvalidRequest, []string{"targets"}},
		// Issue 17, item 18: the fields ACL covers extensions too.
		{"extension denied", `{"targets":["alpha"],"user":{"display_name":"x"},"extensions":{"alpha":{"colour":"red"}}}`,
			func(in *Input) { in.AllowedFields = []string{"display_name"} }, canonical.CodeForbidden, []string{"alpha:extensions.alpha.colour"}},
		{"extension of another vendor's name denied", `{"targets":["alpha"],"user":{"display_name":"x"},"extensions":{"alpha":{"colour":"red"}}}`,
			func(in *Input) {
				in.AllowedFields = []string{"display_name", "extensions.beta.colour", "extensions.alpha"}
			}, canonical.CodeForbidden, []string{"alpha:extensions.alpha.colour"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, Options{}, nil)
			in := input(t, tc.body)
			if tc.acl != nil {
				tc.acl(&in)
			}
			_, err := fx.d.Apply(context.Background(), in)
			var e *canonical.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *canonical.Error", err)
			}
			if e.Code != tc.code {
				t.Fatalf("code = %s, want %s (%v)", e.Code, tc.code, e)
			}
			var got []string
			for _, f := range e.Fields {
				if f.Target != "" {
					got = append(got, f.Target+":"+f.Field)
				} else {
					got = append(got, f.Field)
				}
			}
			if diff := cmp.Diff(tc.fields, got); diff != "" {
				t.Errorf("fields -want +got:\n%s", diff)
			}
			for n, d := range fx.doer {
				if len(d.calls) > 0 {
					t.Errorf("%s was called %v: nothing may reach a vendor on a rejection", n, d.calls)
				}
			}
		})
	}
}

// TestExtensionAllowedByFieldsACL: a client whose fields list names
// extensions.<vendor>.<name> may send it.
func TestExtensionAllowedByFieldsACL(t *testing.T) {
	fx := newFixture(t, Options{}, nil)
	in := input(t, `{"targets":["alpha"],"user":{"display_name":"x"},"extensions":{"alpha":{"colour":"red"}}}`)
	in.AllowedFields = []string{"display_name", "extensions.alpha.colour"}
	if _, err := fx.d.Apply(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func TestSkipPolicy(t *testing.T) {
	fx := newFixture(t, Options{}, nil)
	in := input(t, `{"targets":["alpha","beta"],"on_unsupported":"skip","vendor_ids":{"beta":"b-1"},"user":{"display_name":"x","email":"a@b.co"}}`)
	out, err := fx.d.Apply(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeResult(t, out.Body)
	if out.Status != 200 || r.Status != result.StatusApplied {
		t.Fatalf("status %d %s", out.Status, r.Status)
	}
	want := map[string][]canonical.Field{"alpha": {canonical.FieldEmail}, "beta": {canonical.FieldEmail}}
	if diff := cmp.Diff(want, r.SkippedFields); diff != "" {
		t.Errorf("skipped -want +got:\n%s", diff)
	}
	if r.Results["beta"].VendorID != "b-1" || r.Results["alpha"].VendorID != "jdoe" {
		t.Errorf("vendor ids: %+v", r.Results)
	}
	if got := r.Results["alpha"].Calls; len(got) != 2 || got[1].Method != "PUT" || got[1].Status != 200 {
		t.Errorf("calls: %+v", got)
	}

	// Only unsupported fields: the target is skipped, nothing is called.
	fx = newFixture(t, Options{}, nil)
	out, err = fx.d.Apply(context.Background(), input(t, `{"targets":["alpha"],"on_unsupported":"skip","user":{"email":"a@b.co"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := decodeResult(t, out.Body); r.Results["alpha"].Status != result.StatusSkipped || len(fx.doer["alpha"].calls) != 0 {
		t.Errorf("want skipped with no calls: %+v %v", r, fx.doer["alpha"].calls)
	}
}

func TestStaticUsersAndDefaults(t *testing.T) {
	fx := newFixture(t, Options{DefaultTargets: []string{"beta"}, Users: map[string]map[string]string{"jdoe": {"beta": "B-7"}}}, nil)
	out, err := fx.d.Apply(context.Background(), input(t, `{"user":{"display_name":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := decodeResult(t, out.Body)
	if len(r.Results) != 1 || r.Results["beta"].VendorID != "B-7" {
		t.Errorf("results %+v", r.Results)
	}
}

func TestPartialAndAllFailed(t *testing.T) {
	fx := newFixture(t, Options{}, func(m map[string]*fake) {
		m["beta"].fail = &canonical.Error{Code: canonical.CodeConflict, Message: "name taken", VendorStatus: 409}
	})
	out, err := fx.d.Apply(context.Background(), input(t, `{"targets":["alpha","beta"],"user":{"display_name":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := decodeResult(t, out.Body)
	if out.Status != http.StatusMultiStatus || r.Status != result.StatusPartial || r.Results["beta"].Error.Code != canonical.CodeConflict {
		t.Errorf("status %d %+v", out.Status, r)
	}
	out, err = fx.d.Apply(context.Background(), input(t, `{"targets":["beta"],"user":{"display_name":"x"}}`))
	if err != nil || out.Status != http.StatusConflict {
		t.Errorf("all failed: %d %v", out.Status, err)
	}
}

func TestSlowTargetDoesNotHoldOthers(t *testing.T) {
	fx := newFixture(t, Options{}, func(m map[string]*fake) { m["beta"].block = true })
	bt := fx.d.targets["beta"]
	bt.Deadline = 20 * time.Millisecond
	fx.d.targets["beta"] = bt
	out, err := fx.d.Apply(context.Background(), input(t, `{"targets":["alpha","beta"],"user":{"display_name":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := decodeResult(t, out.Body)
	if r.Results["alpha"].Status != result.StatusApplied || r.Results["beta"].Error == nil || r.Results["beta"].Error.Code != canonical.CodeUpstreamTimeout {
		t.Errorf("results %+v", r.Results)
	}
}

func TestDryRunRecordsWritesAndRedacts(t *testing.T) {
	fx := newFixture(t, Options{}, nil)
	in := input(t, `{"targets":["alpha"],"user":{"display_name":"x"}}`)
	in.DryRun = true
	out, err := fx.d.Apply(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := fx.doer["alpha"].calls; len(got) != 1 || got[0] != "GET /u/jdoe" {
		t.Fatalf("vendor saw %v; a dry run sends reads only", got)
	}
	r := decodeResult(t, out.Body)
	calls := r.Results["alpha"].Calls
	if !r.DryRun || len(calls) != 2 || !calls[1].Planned {
		t.Fatalf("calls %+v", calls)
	}
	// A preview must never read as a write (issue 17, item 6).
	if r.Status != result.StatusPlanned || r.Results["alpha"].Status != result.StatusPlanned || out.Status != 200 {
		t.Errorf("dry run status %q, target %q, http %d; want planned, planned, 200", r.Status, r.Results["alpha"].Status, out.Status)
	}
	if calls[1].Header["Authorization"] != canonical.Redacted || strings.Contains(string(calls[1].Body), "pw") || !strings.Contains(string(calls[1].Body), `"title":"x"`) {
		t.Errorf("planned call not redacted right: %+v %s", calls[1].Header, calls[1].Body)
	}
	if fx.adapter["alpha"].applied.Load() != 0 {
		t.Error("dry run applied")
	}
}

func TestIdempotentReplayAndResume(t *testing.T) {
	guard := idempotency.NewGuard(idempotency.NewMemoryStore(), idempotency.Options{})
	fx := newFixture(t, Options{Guard: guard}, func(m map[string]*fake) {
		m["beta"].fail = &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "down"}
	})
	in := input(t, `{"targets":["alpha","beta"],"user":{"display_name":"x"}}`)
	in.Key = "k-1"
	out, err := fx.d.Apply(context.Background(), in)
	if err != nil || out.Status != http.StatusMultiStatus || out.Idempotency != "miss" {
		t.Fatalf("first: %d %s %v", out.Status, out.Idempotency, err)
	}
	// The repeat re-runs beta only; alpha comes from the record.
	fx.adapter["beta"].fail = nil
	out, err = fx.d.Apply(context.Background(), in)
	if err != nil || out.Status != http.StatusOK || out.Idempotency != "resume" {
		t.Fatalf("resume: %d %s %v", out.Status, out.Idempotency, err)
	}
	r := decodeResult(t, out.Body)
	if !r.Results["alpha"].Replayed || r.Results["beta"].Replayed {
		t.Errorf("replayed flags: %+v", r.Results)
	}
	if a, b := fx.adapter["alpha"].applied.Load(), fx.adapter["beta"].applied.Load(); a != 1 || b != 1 {
		t.Errorf("applied alpha %d beta %d, want 1 and 1", a, b)
	}
	// Now complete: a third repeat is a verbatim replay.
	again, err := fx.d.Apply(context.Background(), in)
	if err != nil || !again.Replayed || string(again.Body) != string(out.Body) {
		t.Fatalf("replay: %+v %v", again, err)
	}
	// Same key, other body: 422.
	other := input(t, `{"targets":["alpha","beta"],"user":{"display_name":"y"}}`)
	other.Key = "k-1"
	_, err = fx.d.Apply(context.Background(), other)
	if e := canonical.AsError(err); e.Code != canonical.CodeIdempotencyKeyReused {
		t.Errorf("reused key: %v", err)
	}
	// Another client with the same key is its own scope.
	other.Client = "someone-else"
	if out, err := fx.d.Apply(context.Background(), other); err != nil || out.Replayed {
		t.Errorf("other client: %+v %v", out, err)
	}
}

func TestRedactBody(t *testing.T) {
	cases := []struct {
		name string
		call adapters.Call
		want string
	}{
		{"pointer", adapters.Call{Body: []byte(`{"a":{"pw":"x"},"b":1}`), Secrets: []string{"/a/pw"}}, `{"a":{"pw":"[redacted]"},"b":1}`},
		{"array", adapters.Call{Body: []byte(`{"l":[{"p":"x"}]}`), Secrets: []string{"/l/0/p"}}, `{"l":[{"p":"[redacted]"}]}`},
		{"auth call whole", adapters.Call{Kind: adapters.Auth, Body: []byte(`{"user":"u","pass":"x"}`)}, `"[redacted]"`},
		{"non-json with secrets", adapters.Call{Body: []byte(`pw=x`), Secrets: []string{"/pw"}}, `"[redacted]"`},
		{"non-json plain", adapters.Call{Body: []byte(`hello`)}, `"hello"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(RedactBody(&tc.call)); got != tc.want {
				t.Errorf("got %s want %s", got, tc.want)
			}
		})
	}
}

// A request rejected before any vendor call stores nothing: the same key
// then works for a corrected request.
func TestRejectionStoresNothing(t *testing.T) {
	guard := idempotency.NewGuard(idempotency.NewMemoryStore(), idempotency.Options{})
	fx := newFixture(t, Options{Guard: guard}, nil)
	bad := input(t, `{"targets":["alpha"],"user":{"email":"a@b.co"}}`) // unsupported: 422
	bad.Key = "k-reject"
	if _, err := fx.d.Apply(context.Background(), bad); canonical.AsError(err).Code != canonical.CodeUnsupportedField {
		t.Fatalf("want 422, got %v", err)
	}
	good := input(t, `{"targets":["alpha"],"user":{"display_name":"x"}}`)
	good.Key = "k-reject"
	out, err := fx.d.Apply(context.Background(), good)
	if err != nil || out.Status != 200 || out.Idempotency != "miss" {
		t.Fatalf("corrected request: %+v %v", out, err)
	}
}

// A crash after the vendor applied but before the record: once the lock
// expires, the retry verifies instead of writing again.
func TestCrashedRunIsVerifiedNotRewritten(t *testing.T) {
	// The store's clock is real time plus skip, so the dead run's lock
	// expires when the test says, not after a sleep.
	var skip atomic.Int64
	store := idempotency.NewMemoryStore(idempotency.WithClock(func() time.Time { return time.Now().Add(time.Duration(skip.Load())) }))
	guard := idempotency.NewGuard(store, idempotency.Options{LockTTL: 30 * time.Millisecond})
	fx := newFixture(t, Options{Guard: guard}, nil)
	in := input(t, `{"targets":["alpha"],"user":{"display_name":"x"}}`)
	in.Key = "k-crash"
	// The first run claims the key and the vendor applies; then the process dies.
	if _, err := guard.Begin(context.Background(), in.Client, in.Key, idempotency.Fingerprint(in.Method, in.Path, in.Request)); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.adapter["alpha"].Apply(context.Background(), fx.doer["alpha"], adapters.Op{UserID: "jdoe", Update: in.Request.User}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.d.Apply(context.Background(), in); canonical.AsError(err).Code != canonical.CodeIdempotencyInProgress {
		t.Fatalf("while the dead run's lock holds: %v, want idempotency_in_progress", err)
	}
	skip.Add(int64(time.Minute)) // the dead run's lock expires
	out, err := fx.d.Apply(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeResult(t, out.Body)
	if out.Status != 200 || !r.Results["alpha"].Verified || fx.adapter["alpha"].applied.Load() != 1 {
		t.Errorf("status %d result %+v applied %d", out.Status, r.Results["alpha"], fx.adapter["alpha"].applied.Load())
	}
}

// flakyFinish is a store whose Finish fails, as a run that dies before it
// would: it counts the Saves (the targets recorded as they apply) and
// tells afterSave of the first.
type flakyFinish struct {
	idempotency.Store
	saves     atomic.Int32
	afterSave chan struct{}
	failing   atomic.Bool
}

func (s *flakyFinish) Save(ctx context.Context, key string, r idempotency.Record, retention time.Duration) error {
	err := s.Store.Save(ctx, key, r, retention)
	if s.saves.Add(1) == 1 {
		close(s.afterSave)
	}
	return err
}

func (s *flakyFinish) Finish(ctx context.Context, key, token string, r idempotency.Record, retention time.Duration) error {
	if s.failing.Load() {
		return errors.New("store down")
	}
	return s.Store.Finish(ctx, key, token, r, retention)
}

// TestFanOutLastTargetRecordedByFinish: of several targets, each but the
// last to finish is saved as it applies; the last is left to Finish. When
// the run dies before Finish, the retry replays the saved target and
// verifies the last at the vendor instead of writing it again.
func TestFanOutLastTargetRecordedByFinish(t *testing.T) {
	var skip atomic.Int64
	store := &flakyFinish{Store: idempotency.NewMemoryStore(idempotency.WithClock(func() time.Time { return time.Now().Add(time.Duration(skip.Load())) })),
		afterSave: make(chan struct{})}
	store.failing.Store(true)
	guard := idempotency.NewGuard(store, idempotency.Options{LockTTL: 30 * time.Millisecond})
	fx := newFixture(t, Options{Guard: guard}, func(m map[string]*fake) {
		m["beta"].wait = store.afterSave // beta runs once alpha is saved: alpha finishes first
	})
	in := input(t, `{"targets":["alpha","beta"],"user":{"display_name":"x"}}`)
	in.Key = "k-fan"
	out, err := fx.d.Apply(context.Background(), in)
	if err != nil || out.Status != http.StatusOK {
		t.Fatalf("first run: %d %v", out.Status, err)
	}
	if n := store.saves.Load(); n != 1 {
		t.Fatalf("%d saves before Finish, want 1 (alpha; beta, the last, is Finish's)", n)
	}
	store.failing.Store(false)
	skip.Add(int64(time.Minute)) // the dead run's lock expires
	out, err = fx.d.Apply(context.Background(), in)
	if err != nil || out.Status != http.StatusOK {
		t.Fatalf("retry: %d %v", out.Status, err)
	}
	r := decodeResult(t, out.Body)
	if !r.Results["alpha"].Replayed || !r.Results["beta"].Verified {
		t.Errorf("retry results %+v, want alpha replayed and beta verified", r.Results)
	}
	if a, b := fx.adapter["alpha"].applied.Load(), fx.adapter["beta"].applied.Load(); a != 1 || b != 1 {
		t.Errorf("applied alpha %d beta %d, want each once", a, b)
	}
}

// TestUnknownTargetDidYouMean (issue 19): an unknown target, vendor_ids key
// or extension field offers the nearest configured name.
func TestUnknownTargetDidYouMean(t *testing.T) {
	cases := []struct{ body, want string }{
		{`{"targets":["alpah"],"user":{"display_name":"x"}}`, `targets[0]: unknown target "alpah"; did you mean alpha?`},
		{`{"targets":["alpha"],"vendor_ids":{"bta":"1"},"user":{"display_name":"x"}}`, `vendor_ids.bta: unknown target; did you mean beta?`},
		{`{"targets":["alpha"],"user":{"display_name":"x"},"extensions":{"alpha":{"color":"red"}}}`, `extensions.alpha.color: not an allowed extension field for alpha (allowed: [colour]); did you mean colour?`},
		{`{"targets":["zzzzzz"],"user":{"display_name":"x"}}`, `targets[0]: unknown target "zzzzzz" (configured: [alpha beta])`},
	}
	for _, tc := range cases {
		fx := newFixture(t, Options{}, nil)
		_, err := fx.d.Apply(context.Background(), input(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.body, err, tc.want)
		}
	}
}

// TestInProgressRetryAfterIsTheRunsDeadline: a repeat of a running request
// is told to come back when that request's longest target deadline has
// passed, not after the lock TTL (a crash bound far longer than any run).
func TestInProgressRetryAfterIsTheRunsDeadline(t *testing.T) {
	guard := idempotency.NewGuard(idempotency.NewMemoryStore(), idempotency.Options{LockTTL: time.Hour})
	fx := newFixture(t, Options{Guard: guard}, func(m map[string]*fake) {
		m["alpha"].block = true
		m["alpha"].entered = make(chan struct{}, 1)
	})
	at := fx.d.targets["alpha"]
	at.Deadline = 3 * time.Second
	fx.d.targets["alpha"] = at
	ctx, cancel := context.WithCancel(context.Background())
	in := input(t, `{"targets":["alpha"],"user":{"display_name":"x"}}`)
	in.Key = "k-running"
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = fx.d.Apply(ctx, in)
	}()
	<-fx.adapter["alpha"].entered // the first run holds the key and is at the vendor
	_, err := fx.d.Apply(context.Background(), in)
	cancel()
	<-done
	e := canonical.AsError(err)
	if e == nil || e.Code != canonical.CodeIdempotencyInProgress {
		t.Fatalf("repeat: %v", err)
	}
	if e.RetryAfter <= time.Second || e.RetryAfter > 3*time.Second {
		t.Fatalf("Retry-After %s, want the running request's remaining deadline (<= 3s), not the 1h lock TTL", e.RetryAfter)
	}
}
