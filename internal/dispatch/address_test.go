package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// resolving is the fake adapter plus a Resolver answering ids after one
// search call.
type resolving struct {
	*fake
	ids []string
	err error

	mu   sync.Mutex
	asks []string // "by=value"
}

func (r *resolving) Resolve(ctx context.Context, do adapters.Doer, by, value string) ([]string, error) {
	r.mu.Lock()
	r.asks = append(r.asks, by+"="+value)
	r.mu.Unlock()
	if _, err := do.Do(ctx, &adapters.Call{Name: "search", Kind: adapters.Read, Method: "GET", Path: "/search"}); err != nil {
		return nil, err
	}
	return r.ids, r.err
}

type linkCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *linkCounts) Link(_ context.Context, target, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[target+" "+outcome]++
}

type linkFixture struct {
	d     *Dispatcher
	store *links.MemoryStore
	doer  map[string]*vendorDoer
	res   *resolving
	obs   *linkCounts
}

// newLinkFixture: alpha resolves by e-mail (its resolver answers ids),
// beta never resolves; store holds the given links.
func newLinkFixture(t *testing.T, ids []string, stored map[string]map[string]string) *linkFixture {
	t.Helper()
	fx := &linkFixture{store: links.NewMemoryStore(nil), doer: map[string]*vendorDoer{"alpha": {}, "beta": {}}, obs: &linkCounts{}}
	if err := links.Seed(context.Background(), fx.store, stored); err != nil {
		t.Fatal(err)
	}
	fx.res = &resolving{fake: &fake{name: "alpha"}, ids: ids}
	d, err := New([]Target{
		{Name: "alpha", Adapter: fx.res, Doer: fx.doer["alpha"], Deadline: time.Second, Resolve: ResolveEmail},
		{Name: "beta", Adapter: &fake{name: "beta"}, Doer: fx.doer["beta"], Deadline: time.Second},
	}, Options{Links: fx.store, LinkObserver: fx.obs})
	if err != nil {
		t.Fatal(err)
	}
	fx.d = d
	return fx
}

func (fx *linkFixture) calls() int { return len(fx.doer["alpha"].calls) + len(fx.doer["beta"].calls) }

func TestAddressingPrecedence(t *testing.T) {
	fx := newLinkFixture(t, []string{"found"}, map[string]map[string]string{"jdoe": {"alpha": "stored-a", "beta": "stored-b"}})
	// vendor_ids beats the stored link, which beats resolution.
	out, err := fx.d.Apply(context.Background(), input(t, `{"targets":["alpha","beta"],"vendor_ids":{"beta":"given-b"},"user":{"display_name":"J","email":"j@x.org"},"on_unsupported":"skip"}`))
	if err != nil {
		t.Fatal(err)
	}
	r := out.Result.Results
	if r["alpha"].VendorID != "stored-a" || r["beta"].VendorID != "given-b" {
		t.Fatalf("alpha %q beta %q", r["alpha"].VendorID, r["beta"].VendorID)
	}
	if len(fx.res.asks) != 0 {
		t.Fatalf("resolved although a link is stored: %v", fx.res.asks)
	}
	if fx.obs.n["alpha hit"] != 1 || fx.obs.n["beta request"] != 1 {
		t.Fatalf("link metrics %v", fx.obs.n)
	}
}

func TestNotLinkedBeforeAnyWrite(t *testing.T) {
	// alpha is linked; beta has no link and no resolution.
	fx := newLinkFixture(t, nil, map[string]map[string]string{"jdoe": {"alpha": "a1"}})
	_, err := fx.d.Apply(context.Background(), input(t, `{"targets":["alpha","beta"],"user":{"display_name":"J"}}`))
	e := canonical.AsError(err)
	if e.Code != canonical.CodeNotLinked || e.Code.HTTPStatus() != 404 {
		t.Fatalf("err = %v", err)
	}
	want := []canonical.FieldError{{Field: "vendor_ids.beta", Target: "beta",
		Message: `"jdoe" is not linked to any beta account (no vendor_ids.beta, no stored link, and resolution is off for this target)`}}
	if d := cmp.Diff(want, e.Fields); d != "" {
		t.Fatalf("fields (-want +got):\n%s", d)
	}
	if n := fx.calls(); n != 0 {
		t.Fatalf("%d vendor calls before the refusal", n)
	}
	if fx.obs.n["beta miss"] != 1 {
		t.Fatalf("link metrics %v", fx.obs.n)
	}
}

func TestResolutionOneMatchIsStoredThenUsed(t *testing.T) {
	fx := newLinkFixture(t, []string{"acc-7"}, nil)
	in := input(t, `{"targets":["alpha"],"user":{"display_name":"J","email":"j@x.org"},"on_unsupported":"skip"}`)
	in.Client = "ops"
	out, err := fx.d.Apply(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	tr := out.Result.Results["alpha"]
	if tr.VendorID != "acc-7" || tr.Status != result.StatusApplied {
		t.Fatalf("result %+v", tr)
	}
	var names []string
	for _, c := range tr.Calls {
		names = append(names, c.Name)
	}
	if d := cmp.Diff([]string{"search", "get", "put"}, names); d != "" {
		t.Fatalf("calls (-want +got):\n%s", d)
	}
	rec, _ := fx.store.Get(context.Background(), "jdoe")
	if l := rec.Links["alpha"]; l.VendorID != "acc-7" || l.Source != links.SourceResolved || l.Client != "ops" || rec.Attributes.Email != "j@x.org" {
		t.Fatalf("stored %+v %+v", l, rec.Attributes)
	}
	// The next update uses the link: no second search.
	if _, err := fx.d.Apply(context.Background(), input(t, `{"targets":["alpha"],"user":{"display_name":"K"}}`)); err != nil {
		t.Fatal(err)
	}
	if len(fx.res.asks) != 1 || fx.obs.n["alpha resolved"] != 1 || fx.obs.n["alpha hit"] != 1 {
		t.Fatalf("asks %v metrics %v", fx.res.asks, fx.obs.n)
	}
}

func TestResolutionUsesRememberedAttributes(t *testing.T) {
	fx := newLinkFixture(t, []string{"acc-1"}, nil)
	if _, err := fx.store.Put(context.Background(), "jdoe", links.Change{Source: links.SourceAPI, Attributes: links.Attributes{Email: "old@x.org"}}); err != nil {
		t.Fatal(err)
	}
	// The request changes the e-mail: the vendor still knows the old one.
	if _, err := fx.d.Apply(context.Background(), input(t, `{"targets":["alpha"],"user":{"display_name":"J","email":"new@x.org"},"on_unsupported":"skip"}`)); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"email=old@x.org"}, fx.res.asks); d != "" {
		t.Fatal(d)
	}
}

func TestResolutionFailures(t *testing.T) {
	cases := []struct {
		name   string
		ids    []string
		err    error
		stored map[string]map[string]string
		body   string
		code   canonical.Code
		msg    string
	}{
		{"no match", []string{}, nil, nil, `{"targets":["alpha"],"user":{"email":"j@x.org"}}`, canonical.CodeNotLinked, "no alpha account has this email"},
		{"nothing to resolve by", []string{"x"}, nil, nil, `{"targets":["alpha"],"user":{"display_name":"J"}}`, canonical.CodeNotLinked, "no email to resolve by"},
		{"several", []string{"a-1", "a-2"}, nil, nil, `{"targets":["alpha"],"user":{"email":"j@x.org"}}`, canonical.CodeAmbiguousLink, "2 alpha accounts have this email: a-1, a-2"},
		{"linked to another id", []string{"a-1"}, nil, map[string]map[string]string{"someone": {"alpha": "a-1"}}, `{"targets":["alpha"],"user":{"email":"j@x.org"}}`,
			canonical.CodeConflict, `already linked to "someone"`},
		{"vendor down", nil, &canonical.Error{Code: canonical.CodeCircuitOpen, Message: "open"}, nil, `{"targets":["alpha"],"user":{"email":"j@x.org"}}`,
			canonical.CodeCircuitOpen, "resolving the account by email failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newLinkFixture(t, tc.ids, tc.stored)
			fx.res.err = tc.err
			_, err := fx.d.Apply(context.Background(), input(t, tc.body))
			e := canonical.AsError(err)
			if e.Code != tc.code || len(e.Fields) != 1 || e.Fields[0].Target != "alpha" || !strings.Contains(e.Fields[0].Message, tc.msg) {
				t.Fatalf("err = %v", err)
			}
			for _, c := range fx.doer["alpha"].calls {
				if !strings.HasSuffix(c, "/search") {
					t.Fatalf("a call besides the search: %v", fx.doer["alpha"].calls)
				}
			}
			if rec, _ := fx.store.Get(context.Background(), "jdoe"); len(rec.Links) != 0 {
				t.Fatalf("stored %v", rec.Links)
			}
		})
	}
}

func TestDryRunResolvesWithoutStoring(t *testing.T) {
	fx := newLinkFixture(t, []string{"acc-7"}, nil)
	in := input(t, `{"targets":["alpha"],"user":{"display_name":"J","email":"j@x.org"},"on_unsupported":"skip"}`)
	in.DryRun = true
	out, err := fx.d.Apply(context.Background(), in)
	if err != nil || out.Result.Results["alpha"].VendorID != "acc-7" {
		t.Fatalf("%v %+v", err, out.Result)
	}
	if rec, _ := fx.store.Get(context.Background(), "jdoe"); len(rec.Links) != 0 {
		t.Fatalf("a dry run stored %v", rec.Links)
	}
}

// A store that fails: updates naming vendor_ids still run; the others get
// a retryable 502 naming the target, before any write.
type brokenStore struct{ *links.MemoryStore }

func (brokenStore) Get(context.Context, string) (links.Record, error) {
	return links.Record{}, errors.New("connection refused")
}

func TestStoreDownIsRetryable(t *testing.T) {
	d, err := New([]Target{{Name: "alpha", Adapter: &fake{name: "alpha"}, Doer: &vendorDoer{}, Deadline: time.Second}}, Options{Links: brokenStore{links.NewMemoryStore(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Apply(context.Background(), input(t, `{"targets":["alpha"],"vendor_ids":{"alpha":"a"},"user":{"display_name":"J"}}`)); err != nil {
		t.Fatal(err)
	}
	_, err = d.Apply(context.Background(), input(t, `{"targets":["alpha"],"user":{"display_name":"J"}}`))
	if e := canonical.AsError(err); e.Code != canonical.CodeUpstreamUnavailable || e.RetryAfter != time.Second || strings.Contains(e.Error(), "refused") {
		t.Fatalf("err = %v", err)
	}
}
