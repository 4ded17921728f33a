package adaptertest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// methodLog records the method and path of every request a simulator
// receives: the simulator's write log as seen from outside.
type methodLog struct {
	next http.Handler
	mu   sync.Mutex
	reqs []string
}

func (m *methodLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.reqs = append(m.reqs, r.Method+" "+r.URL.Path)
	m.mu.Unlock()
	m.next.ServeHTTP(w, r)
}

func (m *methodLog) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.reqs)
}

func (m *methodLog) writes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.reqs {
		if !strings.HasPrefix(r, http.MethodGet+" ") {
			out = append(out, r)
		}
	}
	return out
}

// checkReadOnly fails when verb sent d anything but Read and Auth calls,
// or the simulator behind log received a write other than the logins.
func checkReadOnly(t *testing.T, verb string, d *HTTPDoer, log *methodLog) {
	t.Helper()
	auth := 0
	for _, c := range d.Calls() {
		switch c.Kind {
		case adapters.Read:
		case adapters.Auth:
			auth++
		default:
			t.Errorf("%s sent a %s call: %s %s", verb, c.Kind, c.Method, c.Path)
		}
	}
	if w := log.writes(); len(w) > auth {
		t.Errorf("the simulator received writes during a %s: %v", strings.ToLower(verb), w)
	}
}

// runRead is the read half of the suite, for adapters that implement
// adapters.Reader. Every adapter in this repository does; the suite fails
// one that does not.
func runRead(t *testing.T, h Harness) {
	t.Run("read/implemented", func(t *testing.T) {
		a, _, _ := h.New(t)
		if _, ok := a.(adapters.Reader); !ok {
			t.Fatal("the adapter does not implement adapters.Reader")
		}
	})
	reader := func(t *testing.T) (adapters.Reader, http.Handler, []string) {
		a, sim, secrets := h.New(t)
		r, ok := a.(adapters.Reader)
		if !ok {
			t.Skip("not a Reader")
		}
		return r, sim, secrets
	}
	if len(h.Cases) == 0 {
		return
	}
	base := h.Cases[0].Op
	base.Update = canonical.Update{}

	t.Run("read/capabilities say what is readable", func(t *testing.T) {
		a, _, _ := h.New(t)
		caps := a.Capabilities().Complete()
		for _, f := range canonical.AllFields() {
			s := caps.Fields[f]
			if s.Readable && s.ReadAs == "" {
				t.Errorf("%s: readable but ReadAs (the vendor field or call) is empty", f)
			}
			if !s.Readable && s.ReadReason == "" {
				t.Errorf("%s: not readable without a reason", f)
			}
		}
		if caps.Fields[canonical.FieldPassword].Readable {
			t.Error("password is readable")
		}
	})

	t.Run("read/reports exactly the readable fields and never writes", func(t *testing.T) {
		r, sim, secrets := reader(t)
		log := &methodLog{next: sim}
		srv := httptest.NewServer(log)
		defer srv.Close()
		d := &HTTPDoer{Base: srv.URL}
		snap, err := r.Read(context.Background(), d, base)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		caps := r.(adapters.Adapter).Capabilities().Complete()
		for _, f := range canonical.AllFields() {
			v, got := snap.Fields[f]
			if want := caps.Fields[f].Readable; got != want {
				t.Errorf("%s: in snapshot %v, readable %v", f, got, want)
			}
			if got && v.From == "" {
				t.Errorf("%s: no From", f)
			}
		}
		if _, ok := snap.Fields[canonical.FieldPassword]; ok {
			t.Error("a password is in the snapshot")
		}
		checkReadOnly(t, "Read", d, log)
		again, err := r.Read(context.Background(), d, base)
		if err != nil {
			t.Fatalf("second Read: %v", err)
		}
		if diff := cmp.Diff(snap, again); diff != "" {
			t.Errorf("a second read differs, so the first changed something (-first +second):\n%s", diff)
		}
		raw, _ := json.Marshal(snap)
		for _, s := range append(secrets, opSecrets(base)...) {
			if s != "" && strings.Contains(string(raw), s) {
				t.Error("a credential is in the snapshot")
			}
		}
	})

	t.Run("read/a field subset reads no more and reports the same values", func(t *testing.T) {
		r, sim, _ := reader(t)
		srv := httptest.NewServer(sim)
		defer srv.Close()
		full := &HTTPDoer{Base: srv.URL}
		all, err := r.Read(context.Background(), full, base)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		subsets := [][]canonical.Field{{}} // nothing asked: the user's existence
		for _, f := range canonical.AllFields() {
			if _, ok := all.Fields[f]; ok {
				subsets = append(subsets, []canonical.Field{f})
			}
		}
		for _, fs := range subsets {
			op := base
			op.Fields = fs
			d := &HTTPDoer{Base: srv.URL}
			snap, err := r.Read(context.Background(), d, op)
			if err != nil {
				t.Fatalf("Read of %v: %v", fs, err)
			}
			if len(d.Calls()) > len(full.Calls()) {
				t.Errorf("Read of %v sent %d calls, a full read %d", fs, len(d.Calls()), len(full.Calls()))
			}
			for _, f := range fs {
				if _, ok := snap.Fields[f]; !ok {
					t.Errorf("Read of %v: %s is not in the snapshot", fs, f)
				}
			}
			// A field the subset holds, asked or not, has the full read's
			// value: a skipped call's fields are left out, never zero.
			for f, v := range snap.Fields {
				if diff := cmp.Diff(all.Fields[f], v); diff != "" {
					t.Errorf("Read of %v: %s differs from a full read (-full +subset):\n%s", fs, f, diff)
				}
			}
		}
	})

	t.Run("read/doer errors pass through", func(t *testing.T) {
		r, _, _ := reader(t)
		want := &canonical.Error{Code: canonical.CodeCircuitOpen, Message: "open"}
		do := adapters.DoerFunc(func(context.Context, *adapters.Call) (*adapters.Response, error) { return nil, want })
		_, err := r.Read(context.Background(), do, base)
		var got *canonical.Error
		if !errors.As(err, &got) || got.Code != canonical.CodeCircuitOpen {
			t.Errorf("Read error %v does not carry the doer's *canonical.Error", err)
		}
	})

	if h.Missing.UserID != "" {
		t.Run("read/unknown user is not_found", func(t *testing.T) {
			r, sim, _ := reader(t)
			srv := httptest.NewServer(sim)
			defer srv.Close()
			_, err := r.Read(context.Background(), &HTTPDoer{Base: srv.URL}, h.Missing)
			if e := canonical.AsError(err); err == nil || e.Code != canonical.CodeNotFound {
				t.Errorf("Read of a missing user: %v, want not_found", err)
			}
		})
	}

	for _, c := range h.Cases {
		t.Run(c.Name+"/read shows what was applied", func(t *testing.T) {
			r, sim, _ := reader(t)
			srv := httptest.NewServer(sim)
			defer srv.Close()
			a := r.(adapters.Adapter)
			if _, err := a.Apply(context.Background(), &HTTPDoer{Base: srv.URL}, c.Op); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			op := c.Op
			op.Update = canonical.Update{}
			snap, err := r.Read(context.Background(), &HTTPDoer{Base: srv.URL}, op)
			if u := c.Op.Update; err != nil && u.Enabled.Set && !u.Enabled.V && canonical.AsError(err).Code == canonical.CodeNotFound {
				return // a vendor that hides disabled users (Frontier) reads a just-disabled one as not_found
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			checkApplied(t, c.Op.Update, snap)
		})
	}
}

// checkApplied compares the fields of u that have a plain value with what
// the snapshot read back.
func checkApplied(t *testing.T, u canonical.Update, snap adapters.Snapshot) {
	t.Helper()
	str := map[canonical.Field]canonical.Opt[string]{
		canonical.FieldUsername: u.Username, canonical.FieldEmail: u.Email, canonical.FieldGivenName: u.GivenName,
		canonical.FieldFamilyName: u.FamilyName, canonical.FieldDisplayName: u.DisplayName,
		canonical.FieldPrincipalName: u.PrincipalName, canonical.FieldAuthMethod: u.AuthMethod,
	}
	for f, o := range str {
		if v, ok := snap.Fields[f]; ok && o.Set && v.Value != o.V {
			t.Errorf("%s: read %v after writing %q", f, v.Value, o.V)
		}
	}
	for f, o := range map[canonical.Field]canonical.Opt[bool]{canonical.FieldEnabled: u.Enabled, canonical.FieldOTPEnabled: u.OTPEnabled} {
		if v, ok := snap.Fields[f]; ok && o.Set && v.Value != o.V {
			t.Errorf("%s: read %v after writing %v", f, v.Value, o.V)
		}
	}
	if v, ok := snap.Fields[canonical.FieldNotifications]; ok && u.Notifications.Set {
		want := slices.Clone(u.Notifications.V)
		slices.Sort(want)
		want = slices.Compact(want)
		got, _ := v.Value.([]string)
		if !slices.Equal(got, want) {
			t.Errorf("notifications: read %v after writing %v", got, want)
		}
	}
	if v, ok := snap.Fields[canonical.FieldAvatar]; ok && u.Avatar.Set {
		want := adapters.NewAvatarValue(u.Avatar.V.ContentType, u.Avatar.V.Data)
		got, _ := v.Value.(adapters.AvatarValue)
		if got.SHA256 != want.SHA256 {
			t.Errorf("avatar: read %+v after writing %+v", got, want)
		}
	}
}
