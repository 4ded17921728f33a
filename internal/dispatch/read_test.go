package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/sortedkeys"
)

// record is one user at a readable fake vendor.
type record struct {
	display, email string
	notes          []string
}

// readable is an in-package adapter with a user store: Apply writes
// display_name into it, Read shows it. Id "bad" fails Preflight; ids the
// store lacks are not_found.
type readable struct {
	mu     sync.Mutex
	users  map[string]*record
	writes int
}

func (r *readable) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Fields: map[canonical.Field]adapters.Support{
		canonical.FieldDisplayName: {Supported: true, As: "title"},
	}}.WithReads(map[canonical.Field]adapters.ReadSupport{
		canonical.FieldDisplayName:   {As: "title"},
		canonical.FieldEmail:         {As: "mail"},
		canonical.FieldNotifications: {As: "notes"},
	})
}

func (r *readable) Preflight(op adapters.Op) ([]canonical.Unsupported, error) {
	if op.UserID == "bad" {
		return nil, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "bad id",
			Fields: []canonical.FieldError{{Field: "vendor_ids.x", Message: "must not be bad"}}}
	}
	return nil, nil
}

func (r *readable) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	if _, err := do.Do(ctx, &adapters.Call{Name: "put", Kind: adapters.Write, Method: "PUT", Path: "/u/" + op.UserID}); err != nil {
		return adapters.Outcome{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[op.UserID]
	if u == nil {
		return adapters.Outcome{}, &canonical.Error{Code: canonical.CodeNotFound, Message: "no such user"}
	}
	u.display = op.Update.DisplayName.V
	r.writes++
	return adapters.Outcome{Applied: op.Update.Fields()}, nil
}

func (r *readable) Read(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Snapshot, error) {
	if _, err := do.Do(ctx, &adapters.Call{Name: "get", Kind: adapters.Read, Method: "GET", Path: "/u/" + op.UserID}); err != nil {
		return adapters.Snapshot{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[op.UserID]
	if u == nil {
		return adapters.Snapshot{}, &canonical.Error{Code: canonical.CodeNotFound, Message: "no such user"}
	}
	var s adapters.Snapshot
	s.Set(canonical.FieldDisplayName, u.display, "title")
	s.Set(canonical.FieldEmail, u.email, "mail")
	s.Set(canonical.FieldNotifications, append([]string{}, u.notes...), "notes")
	s.Set(canonical.FieldPassword, "leaked", "never") // the dispatcher must drop it
	return s, nil
}

// failing answers every call with err.
type failing struct{ err error }

func (f failing) Do(context.Context, *adapters.Call) (*adapters.Response, error) { return nil, f.err }

type readFixture struct {
	d     *Dispatcher
	store map[string]*readable
	doer  map[string]*vendorDoer
}

func newReadFixture(t *testing.T, o Options, users map[string]map[string]*record, doers map[string]adapters.Doer) *readFixture {
	t.Helper()
	fx := &readFixture{store: map[string]*readable{}, doer: map[string]*vendorDoer{}}
	var targets []Target
	for _, n := range []string{"alpha", "beta", "gamma"} {
		fx.store[n] = &readable{users: map[string]*record{}}
		for id, r := range users[n] {
			cp := *r // each fixture its own vendor state
			fx.store[n].users[id] = &cp
		}
		fx.doer[n] = &vendorDoer{}
		var do adapters.Doer = fx.doer[n]
		if doers[n] != nil {
			do = doers[n]
		}
		targets = append(targets, Target{Name: n, Adapter: fx.store[n], Doer: do, Deadline: time.Second})
	}
	if o.Users == nil && o.Links == nil {
		// Every user a target holds is linked under its own id at every
		// target (identity links: an unlinked id is not_linked).
		o.Users = map[string]map[string]string{}
		for _, byID := range users {
			for id := range byID {
				o.Users[id] = map[string]string{"alpha": id, "beta": id, "gamma": id}
			}
		}
	}
	d, err := New(targets, o)
	if err != nil {
		t.Fatal(err)
	}
	fx.d = d
	return fx
}

// driftSpy counts drift observations.
type driftSpy struct {
	mu  sync.Mutex
	got []string
}

func (s *driftSpy) Target(context.Context, string, string, time.Duration) {}
func (s *driftSpy) Idempotency(context.Context, string)                   {}
func (s *driftSpy) Drift(_ context.Context, field, targets string) {
	s.mu.Lock()
	s.got = append(s.got, field+"@"+targets)
	s.mu.Unlock()
}

func TestReadNormalisesBeforeComparing(t *testing.T) {
	spy := &driftSpy{}
	users := map[string]map[string]*record{
		"alpha": {"u1": {display: " Jane Doe ", email: "Jane@Example.com", notes: []string{"b", "a"}}},
		"beta":  {"u1": {display: "Jane Doe", email: "jane@example.com ", notes: []string{"a", "b", "a"}}},
		"gamma": {"u1": {display: "Joan Doe", email: "jane@example.com", notes: []string{"a", "b"}}},
	}
	fx := newReadFixture(t, Options{Observer: spy}, users, nil)
	res, err := fx.d.Read(context.Background(), ReadInput{UserID: "u1", Targets: []string{"alpha", "beta", "gamma"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []DriftField{{Field: canonical.FieldDisplayName, Values: map[string]any{"alpha": "Jane Doe", "beta": "Jane Doe", "gamma": "Joan Doe"}}}
	if diff := cmp.Diff(want, res.Drift); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
	if res.Consistent {
		t.Error("consistent with a drifting field")
	}
	if diff := cmp.Diff([]string{"display_name@alpha,beta,gamma"}, spy.got); diff != "" {
		t.Errorf("drift metric (-want +got):\n%s", diff)
	}
	for n, r := range res.Results {
		if r.Status != ReadOK {
			t.Errorf("%s: %s", n, r.Status)
		}
		if _, ok := r.Snapshot.Fields[canonical.FieldPassword]; ok {
			t.Errorf("%s: a password is in the snapshot", n)
		}
	}

	res, err = fx.d.Read(context.Background(), ReadInput{UserID: "u1", Targets: []string{"alpha", "beta"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Consistent || len(res.Drift) != 0 {
		t.Errorf("alpha and beta differ only in case, blanks and order, yet drift = %v", res.Drift)
	}
}

func TestReadStatuses(t *testing.T) {
	users := map[string]map[string]*record{"alpha": {"u1": {display: "J"}}}
	fx := newReadFixture(t, Options{}, users, map[string]adapters.Doer{
		"gamma": failing{&canonical.Error{Code: canonical.CodeCircuitOpen, Message: "open"}},
	})
	res, err := fx.d.Read(context.Background(), ReadInput{UserID: "u1", VendorIDs: map[string]string{"beta": "nobody"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ReadStatus{}
	for n, r := range res.Results {
		got[n] = r.Status
	}
	if diff := cmp.Diff(map[string]ReadStatus{"alpha": ReadOK, "beta": ReadNotFound, "gamma": ReadFailed}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if e := res.Results["gamma"].Error; e == nil || e.Code != canonical.CodeCircuitOpen {
		t.Errorf("gamma error %+v, want circuit_open", e)
	}
	if !res.Consistent {
		t.Error("one readable target cannot drift")
	}

	// An unlinked id the vendor cannot take is not_linked, and no call is made.
	fx = newReadFixture(t, Options{}, nil, nil)
	res, err = fx.d.Read(context.Background(), ReadInput{UserID: "bad", Targets: []string{"alpha"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Results["alpha"]; r.Status != ReadNotLinked {
		t.Errorf("alpha %s, want not_linked", r.Status)
	}
	if len(fx.doer["alpha"].calls) != 0 {
		t.Errorf("a not_linked target was called: %v", fx.doer["alpha"].calls)
	}
	// The same id given as a link is the caller's mistake: failed.
	res, _ = fx.d.Read(context.Background(), ReadInput{UserID: "u", Targets: []string{"alpha"}, VendorIDs: map[string]string{"alpha": "bad"}})
	if r := res.Results["alpha"]; r.Status != ReadFailed || r.Error.Code != canonical.CodeInvalidRequest {
		t.Errorf("alpha %+v, want failed invalid_request", r)
	}
}

func TestReadTargetsAndACL(t *testing.T) {
	cases := []struct {
		name    string
		in      ReadInput
		o       Options
		want    []string
		code    canonical.Code
		errPath string
	}{
		{name: "named", in: ReadInput{Targets: []string{"beta", "alpha"}}, want: []string{"alpha", "beta"}},
		{name: "defaults", o: Options{DefaultTargets: []string{"gamma"}}, want: []string{"gamma"}},
		{name: "all when no defaults", want: []string{"alpha", "beta", "gamma"}},
		{name: "unnamed filtered by the ACL", in: ReadInput{AllowedTargets: []string{"beta"}}, want: []string{"beta"}},
		{name: "named and denied", in: ReadInput{Targets: []string{"alpha", "beta"}, AllowedTargets: []string{"alpha"}}, code: canonical.CodeForbidden, errPath: "targets[1]"},
		{name: "unknown", in: ReadInput{Targets: []string{"delta"}}, code: canonical.CodeInvalidRequest, errPath: "targets[0]"},
		{name: "unknown vendor id target", in: ReadInput{VendorIDs: map[string]string{"delta": "x"}}, code: canonical.CodeInvalidRequest, errPath: "vendor_ids.delta"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newReadFixture(t, tc.o, nil, nil)
			tc.in.UserID = "u1"
			res, err := fx.d.Read(context.Background(), tc.in)
			if tc.code != "" {
				var e *canonical.Error
				if !errors.As(err, &e) || e.Code != tc.code || len(e.Fields) == 0 || e.Fields[0].Field != tc.errPath {
					t.Fatalf("err %v, want %s naming %s", err, tc.code, tc.errPath)
				}
				for n, d := range fx.doer {
					if len(d.calls) > 0 {
						t.Errorf("%s called on a rejection", n)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, sortedkeys.Of(res.Results)); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestETagRoundTrip(t *testing.T) {
	results := map[string]TargetRead{
		"alpha": {Status: ReadOK, Snapshot: &adapters.Snapshot{Fields: map[canonical.Field]adapters.Value{canonical.FieldEmail: {Value: "a@b.co", From: "x"}}}},
		"beta":  {Status: ReadNotFound},
	}
	tag := etag([]string{"alpha", "beta"}, results)
	m, ok := parseETag(tag)
	if !ok || len(m) != 2 || m["alpha"] != targetDigest(results["alpha"]) || m["beta"] != targetDigest(results["beta"]) {
		t.Fatalf("parseETag(%s) = %v, %v", tag, m, ok)
	}
	// From and the vendor version are not part of the digest; values are.
	same := results["alpha"]
	same.Snapshot = &adapters.Snapshot{Fields: map[canonical.Field]adapters.Value{canonical.FieldEmail: {Value: "a@b.co", From: "other"}},
		Version: &adapters.Version{Value: "v2"}}
	if targetDigest(same) != m["alpha"] {
		t.Error("the digest depends on From or the vendor version")
	}
	changed := results["alpha"]
	changed.Snapshot = &adapters.Snapshot{Fields: map[canonical.Field]adapters.Value{canonical.FieldEmail: {Value: "A@b.co"}}}
	if targetDigest(changed) == m["alpha"] {
		t.Error("a change of letter case does not change the digest")
	}
	for _, bad := range []string{``, `"`, `W/"u1~a=1"`, `"v9~a=1"`, `"u1~a"`, `u1~a=1`} {
		if _, ok := parseETag(bad); ok {
			t.Errorf("parseETag(%q) accepted", bad)
		}
	}
	if got := splitTags(`"u1~a=1", "u1~b=2"`); len(got) != 2 || got[1] != `"u1~b=2"` {
		t.Errorf("splitTags = %q", got)
	}
}

// TestIfMatchConcurrentEditors: two editors read the same user; the first
// writes; the second's write, made with the ETag it read before that,
// is refused with 412 naming the target that changed, and writes nothing.
func TestIfMatchConcurrentEditors(t *testing.T) {
	users := map[string]map[string]*record{
		"alpha": {"u1": {display: "Jane"}},
		"beta":  {"u1": {display: "Jane"}},
	}
	fx := newReadFixture(t, Options{}, users, nil)
	ctx := context.Background()
	readETag := func() string {
		res, err := fx.d.Read(ctx, ReadInput{UserID: "u1", Targets: []string{"alpha", "beta"}})
		if err != nil {
			t.Fatal(err)
		}
		return res.ETag
	}
	// Both editors read before either writes.
	var tagA, tagB string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); tagA = readETag() }()
	go func() { defer wg.Done(); tagB = readETag() }()
	wg.Wait()
	if tagA != tagB {
		t.Fatalf("two reads of an unchanged user gave %s and %s", tagA, tagB)
	}

	in := input(t, `{"targets":["alpha"],"user":{"display_name":"Editor A"}}`)
	in.Request.UserID = "u1"
	in.IfMatch = tagA
	out, err := fx.d.Apply(ctx, in)
	if err != nil || out.Status != 200 {
		t.Fatalf("editor A: %v %d", err, out.Status)
	}

	in = input(t, `{"targets":["alpha","beta"],"user":{"display_name":"Editor B"}}`)
	in.Request.UserID = "u1"
	in.IfMatch = tagB
	_, err = fx.d.Apply(ctx, in)
	var e *canonical.Error
	if !errors.As(err, &e) || e.Code != canonical.CodePreconditionFailed || e.Code.HTTPStatus() != 412 {
		t.Fatalf("editor B: %v, want 412 precondition_failed", err)
	}
	if len(e.Fields) != 1 || e.Fields[0].Target != "alpha" || e.Fields[0].Field != "If-Match" {
		t.Errorf("fields %+v, want alpha alone", e.Fields)
	}
	if fx.store["beta"].writes != 0 || fx.store["alpha"].users["u1"].display != "Editor A" {
		t.Errorf("the refused write reached a vendor: beta writes %d, alpha %q", fx.store["beta"].writes, fx.store["alpha"].users["u1"].display)
	}
	for n, d := range fx.doer {
		for _, c := range d.calls {
			if strings.HasPrefix(c, "PUT") && n == "beta" {
				t.Errorf("beta was written: %v", d.calls)
			}
		}
	}

	// A fresh read gives a tag that applies.
	in.IfMatch = readETag()
	if out, err := fx.d.Apply(ctx, in); err != nil || out.Status != 200 {
		t.Fatalf("with a fresh ETag: %v %d", err, out.Status)
	}
}

func TestIfMatchEdgeCases(t *testing.T) {
	users := map[string]map[string]*record{"alpha": {"u1": {display: "Jane"}}, "beta": {"u1": {display: "Jane"}}}
	fx := newReadFixture(t, Options{}, users, nil)
	res, err := fx.d.Read(context.Background(), ReadInput{UserID: "u1", Targets: []string{"alpha", "beta"}})
	if err != nil {
		t.Fatal(err)
	}
	full := res.ETag
	cases := []struct {
		name    string
		ifMatch func(alphaOnly string) string
		code    canonical.Code
		reason  string
	}{
		{"star applies unconditionally", func(string) string { return "*" }, "", ""},
		{"malformed tag", func(string) string { return `"nonsense"` }, canonical.CodePreconditionFailed, "not covered"},
		{"tag without a written target", func(a string) string { return a }, canonical.CodePreconditionFailed, "not covered"},
		{"several tags, none matching everywhere", func(a string) string { return `"u1~beta=0", ` + a }, canonical.CodePreconditionFailed, "beta If-Match: not covered"},
		{"several tags, one matching everywhere", func(a string) string { return a + `, "u1~alpha=0~beta=0", ` + full }, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newReadFixture(t, Options{}, users, nil)
			res, err := fx.d.Read(context.Background(), ReadInput{UserID: "u1", Targets: []string{"alpha"}})
			if err != nil {
				t.Fatal(err)
			}
			in := input(t, `{"targets":["alpha","beta"],"user":{"display_name":"X"}}`)
			in.Request.UserID = "u1"
			in.IfMatch = tc.ifMatch(res.ETag)
			_, err = fx.d.Apply(context.Background(), in)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := canonical.AsError(err)
			if err == nil || e.Code != tc.code || !strings.Contains(e.Error(), tc.reason) {
				t.Fatalf("err %v, want %s (%s)", err, tc.code, tc.reason)
			}
			if fx.store["alpha"].writes+fx.store["beta"].writes != 0 {
				t.Error("written despite the failed precondition")
			}
		})
	}

	// A target whose check read fails refuses the update with that error.
	fx = newReadFixture(t, Options{}, users, map[string]adapters.Doer{"beta": failing{&canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "down"}}})
	in := input(t, `{"targets":["alpha","beta"],"user":{"display_name":"X"}}`)
	in.Request.UserID = "u1"
	in.IfMatch = `"u1~alpha=0~beta=0"`
	_, err = fx.d.Apply(context.Background(), in)
	if e := canonical.AsError(err); err == nil || e.Code != canonical.CodeUpstreamUnavailable || !strings.Contains(e.Message, "If-Match could not be checked at beta") {
		t.Fatalf("err %v", err)
	}
	if fx.store["alpha"].writes != 0 {
		t.Error("alpha written although beta could not be checked")
	}
}

func TestNormalize(t *testing.T) {
	id := func(n int64) *int64 { return &n }
	cases := []struct {
		f    canonical.Field
		a, b any
		same bool
	}{
		{canonical.FieldEmail, " Jane@Example.COM", "jane@example.com", true},
		{canonical.FieldGivenName, " Jane ", "Jane", true},
		{canonical.FieldGivenName, "jane", "Jane", false}, // only e-mail ignores case
		{canonical.FieldNotifications, []string{"b", "a", "a"}, []string{"a", "b"}, true},
		{canonical.FieldNotifications, []string{"a"}, []string{"a", "b"}, false},
		{canonical.FieldGroups, []adapters.RefValue{{ID: id(3), Name: "Operators"}, {ID: id(1), Name: "master"}},
			[]adapters.RefValue{{Name: "master"}, {Name: "operators"}}, true},
		{canonical.FieldGroups, []adapters.RefValue{{ID: id(3)}}, []adapters.RefValue{{ID: id(4)}}, false},
		{canonical.FieldPlan, adapters.RefValue{ID: id(7), Name: "CSPlan"}, adapters.RefValue{Name: "csplan"}, true},
		{canonical.FieldAvatar, adapters.NewAvatarValue("image/png", []byte("x")), adapters.NewAvatarValue("", []byte("x")), true},
		{canonical.FieldAvatar, adapters.NewAvatarValue("image/png", []byte("x")), nil, false},
		{canonical.FieldMetadata, canonical.Metadata{"a": map[string]any{"b": 1}}, canonical.Metadata{"a": map[string]any{"b": 1.0}}, true},
		{canonical.FieldEnabled, true, false, false},
	}
	for _, tc := range cases {
		a, _ := json.Marshal(Normalize(tc.f, tc.a))
		b, _ := json.Marshal(Normalize(tc.f, tc.b))
		if (string(a) == string(b)) != tc.same {
			t.Errorf("%s: %v vs %v normalise to %s and %s, same = %v", tc.f, tc.a, tc.b, a, b, tc.same)
		}
	}
}
