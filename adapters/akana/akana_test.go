package akana

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/akana/akanasim"
	"github.com/identity-gateway/identity-gateway/canonical"
)

const (
	tenant     = "acmepaymentscorp"
	userID     = "45742f96-aad2-45d8-b507-420cf07c87ff.acmepaymentscorp"
	adminEmail = "admin@acme.example"
	adminPW    = "admin-pass-123"
	plainID    = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb." + tenant
)

var seededOpted = []string{"com.soa.notification.type.ticket.change", "com.soa.notification.type.app.alert"}

func sim() *akanasim.Sim {
	s := akanasim.New(tenant)
	s.AddUser(akanasim.User{UserID: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa." + tenant, Email: adminEmail, Password: adminPW, SiteAdmin: true})
	s.AddUser(akanasim.User{UserID: plainID, Email: "plain@acme.example", Password: "plain-pw"})
	s.AddUser(akanasim.User{UserID: userID, Email: "jane@acme.example", FirstName: "Jane", LastName: "Doe", Phone: "+1 555",
		Opted: seededOpted})
	return s
}

func open(t testing.TB, user, pw string) *Adapter {
	t.Helper()
	a, err := (&Config{Tenant: tenant}).Open("akana", adapters.Deps{Credential: adapters.Credential{Username: user, Password: canonical.Secret(pw)}})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Adapter)
}

func op(u canonical.Update) adapters.Op { return adapters.Op{UserID: userID, Update: u} }

// simDoer sends calls to a test server over net/http, one attempt each (no
// cookie jar: the adapter must carry its own cookies). In dry mode it
// answers Write calls itself, as the dispatcher does in a dry run.
type simDoer struct {
	base string
	dry  bool

	mu       sync.Mutex
	calls    []adapters.Call
	statuses []int
}

func (d *simDoer) Do(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
	d.mu.Lock()
	d.calls = append(d.calls, *c.Clone())
	d.mu.Unlock()
	if d.dry && c.Kind == adapters.Write {
		return &adapters.Response{Status: http.StatusOK, Header: http.Header{}, Synthetic: true}, nil
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, d.base+c.Path, bytes.NewReader(c.Body))
	if err != nil {
		return nil, &canonical.Error{Code: canonical.CodeInternal, Message: "bad request"}
	}
	for k, vs := range c.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "transport error"}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "reading the answer failed"}
	}
	d.mu.Lock()
	d.statuses = append(d.statuses, resp.StatusCode)
	d.mu.Unlock()
	return &adapters.Response{Status: resp.StatusCode, Header: resp.Header, Body: b, Attempts: 1, AttemptStatuses: []int{resp.StatusCode}}, nil
}

func (d *simDoer) lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.calls {
		out = append(out, c.Method+" "+c.Path)
	}
	return out
}

func (d *simDoer) saw(status int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.statuses {
		if s == status {
			return true
		}
	}
	return false
}

// clock is a settable clock shared by the adapter and the simulator.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(2_000_000_000, 0)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestConformance(t *testing.T) {
	adaptertest.Run(t, harness())
}

// BenchmarkApply is the adapter's own work per update (plan, bodies,
// parsing), with the vendor's answers replayed from memory.
func BenchmarkApply(b *testing.B) {
	adaptertest.Bench(b, harness())
}

func harness() adaptertest.Harness {
	return adaptertest.Harness{
		New: func(t testing.TB) (adapters.Adapter, http.Handler, []string) {
			return open(t, adminEmail, adminPW), sim(), []string{adminPW}
		},
		State: func(sim http.Handler, op adapters.Op) any {
			u, _ := sim.(*akanasim.Sim).User(op.UserID)
			return u
		},
		Cases: []adaptertest.Case{
			{Name: "email", Op: op(canonical.Update{Email: canonical.Some("jane.d@acme.example")})},
			{Name: "notifications", Op: op(canonical.Update{Notifications: canonical.Some([]string{"news.update"})})},
			{Name: "names", Op: op(canonical.Update{GivenName: canonical.Some("J"), FamilyName: canonical.Some("D")})},
		},
		Missing: adapters.Op{UserID: "00000000-0000-4000-8000-00000000dead.acmepaymentscorp"},
	}
}

func TestCapabilitiesHaveARowForEveryField(t *testing.T) {
	caps := open(t, adminEmail, adminPW).Capabilities()
	for _, f := range canonical.AllFields() {
		s, ok := caps.Fields[f]
		switch {
		case !ok:
			t.Errorf("%s: no row", f)
		case s.Supported && !strings.Contains(s.As, "PUT /api/users/{UserID}"):
			t.Errorf("%s: As %q does not name the call", f, s.As)
		case !s.Supported && s.Reason == "":
			t.Errorf("%s: unsupported without a reason", f)
		}
	}
	want := map[canonical.Field]bool{canonical.FieldEmail: true, canonical.FieldNotifications: true, canonical.FieldGivenName: true, canonical.FieldFamilyName: true}
	for f, s := range caps.Fields {
		if s.Supported != want[f] {
			t.Errorf("%s: supported %v", f, s.Supported)
		}
	}
}

// TestApplyAgainstSim: vendor state after Apply, the calls made, and that
// a partial update never clears what it did not name.
func TestApplyAgainstSim(t *testing.T) {
	base := "/api/users/" + userID
	cases := []struct {
		name    string
		u       canonical.Update
		want    akanasim.User
		calls   []string
		applied []canonical.Field
	}{
		{
			name:    "notifications only keep the stored Email",
			u:       canonical.Update{Notifications: canonical.Some([]string{"news.update", "app.post"})},
			want:    akanasim.User{Email: "jane@acme.example", FirstName: "Jane", LastName: "Doe", Phone: "+1 555", Opted: []string{"com.soa.notification.type.news.update", "com.soa.notification.type.app.post"}},
			calls:   []string{"POST /api/login", "GET " + base + "/settings", "PUT " + base + "/settings"},
			applied: []canonical.Field{canonical.FieldNotifications},
		},
		{
			name:    "email only keeps the opted-in set",
			u:       canonical.Update{Email: canonical.Some("new@acme.example")},
			want:    akanasim.User{Email: "new@acme.example", FirstName: "Jane", LastName: "Doe", Phone: "+1 555", Opted: seededOpted},
			calls:   []string{"POST /api/login", "GET " + base + "/settings", "PUT " + base + "/settings"},
			applied: []canonical.Field{canonical.FieldEmail},
		},
		{
			name:    "email and notifications need no read",
			u:       canonical.Update{Email: canonical.Some("new@acme.example"), Notifications: canonical.Some([]string{})},
			want:    akanasim.User{Email: "new@acme.example", FirstName: "Jane", LastName: "Doe", Phone: "+1 555", Opted: []string{}},
			calls:   []string{"POST /api/login", "PUT " + base + "/settings"},
			applied: []canonical.Field{canonical.FieldEmail, canonical.FieldNotifications},
		},
		{
			name:    "given name only keeps last name, phone and e-mail",
			u:       canonical.Update{GivenName: canonical.Some("Janet")},
			want:    akanasim.User{Email: "jane@acme.example", FirstName: "Janet", LastName: "Doe", Phone: "+1 555", Opted: seededOpted},
			calls:   []string{"POST /api/login", "GET " + base, "PUT " + base},
			applied: []canonical.Field{canonical.FieldGivenName},
		},
		{
			name: "everything: settings, then user",
			u: canonical.Update{Email: canonical.Some("j@acme.example"), GivenName: canonical.Some("Ján"), FamilyName: canonical.Some("Doé"),
				Notifications: canonical.Some([]string{"privateapi", "privateapi"})},
			want:    akanasim.User{Email: "j@acme.example", FirstName: "Ján", LastName: "Doé", Phone: "+1 555", Opted: []string{"com.soa.notification.type.privateapi"}},
			calls:   []string{"POST /api/login", "PUT " + base + "/settings", "GET " + base, "PUT " + base},
			applied: []canonical.Field{canonical.FieldEmail, canonical.FieldGivenName, canonical.FieldFamilyName, canonical.FieldNotifications},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim()
			srv := httptest.NewServer(s)
			defer srv.Close()
			d := &simDoer{base: srv.URL}
			out, err := open(t, adminEmail, adminPW).Apply(context.Background(), d, op(tc.u))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(adapters.Outcome{VendorID: userID, Applied: tc.applied}, out); diff != "" {
				t.Errorf("outcome -want +got:\n%s", diff)
			}
			got, _ := s.User(userID)
			tc.want.UserID = userID
			got.Password = ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("vendor state -want +got:\n%s", diff)
			}
			if diff := cmp.Diff(tc.calls, d.lines()); diff != "" {
				t.Errorf("calls -want +got:\n%s", diff)
			}
			for _, c := range d.calls {
				if c.Method == http.MethodPut && c.Header.Get("X-Csrf-Token_"+tenant) == "" {
					t.Errorf("%s without the CSRF header", c.Path)
				}
			}
			if d.saw(http.StatusUnauthorized) {
				t.Error("the simulator answered 401: the adapter sent a call without a valid cookie or CSRF header")
			}
		})
	}
}

// TestSessionLifecycle: a session that expires between two updates is
// replaced by one login; one close to expiry is renewed; one the vendor
// dropped early costs one 401 and one login. No update fails.
func TestSessionLifecycle(t *testing.T) {
	cases := []struct {
		name                 string
		adapterStep, simStep time.Duration
		logins, renewals     int
		saw401               bool
	}{
		{"expired between updates", 31 * time.Minute, 31 * time.Minute, 2, 0, false},
		{"renewed before expiry", 29 * time.Minute, 29 * time.Minute, 1, 1, false},
		{"still valid", 10 * time.Minute, 10 * time.Minute, 1, 0, false},
		{"dropped early by the vendor", 0, 31 * time.Minute, 2, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim()
			ac, sc := newClock(), newClock()
			s.SetClock(sc.Now)
			srv := httptest.NewServer(s)
			defer srv.Close()
			a := open(t, adminEmail, adminPW)
			a.now = ac.Now
			if _, err := a.Apply(context.Background(), &simDoer{base: srv.URL}, op(canonical.Update{GivenName: canonical.Some("A")})); err != nil {
				t.Fatal(err)
			}
			ac.Add(tc.adapterStep)
			sc.Add(tc.simStep)
			d := &simDoer{base: srv.URL}
			if _, err := a.Apply(context.Background(), d, op(canonical.Update{FamilyName: canonical.Some("B")})); err != nil {
				t.Fatal(err)
			}
			if s.Logins() != tc.logins || s.Renewals() != tc.renewals {
				t.Errorf("logins %d renewals %d, want %d %d", s.Logins(), s.Renewals(), tc.logins, tc.renewals)
			}
			if d.saw(http.StatusUnauthorized) != tc.saw401 {
				t.Errorf("saw a 401: %v, want %v (calls %v)", !tc.saw401, tc.saw401, d.lines())
			}
			if u, _ := s.User(userID); u.FirstName != "A" || u.LastName != "B" {
				t.Errorf("user %+v", u)
			}
		})
	}
}

// TestBurstAfterExpiryLogsInOnce: 100 concurrent updates after the session
// expired (the vendor refuses the cookie; the adapter's clock did not
// notice) cause one login, not 100.
func TestBurstAfterExpiryLogsInOnce(t *testing.T) {
	s := sim()
	sc := newClock()
	s.SetClock(sc.Now)
	srv := httptest.NewServer(s)
	defer srv.Close()
	a := open(t, adminEmail, adminPW)
	a.now = newClock().Now
	if _, err := a.Apply(context.Background(), &simDoer{base: srv.URL}, op(canonical.Update{GivenName: canonical.Some("A")})); err != nil {
		t.Fatal(err)
	}
	sc.Add(31 * time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Apply(context.Background(), &simDoer{base: srv.URL}, op(canonical.Update{FamilyName: canonical.Some("B")}))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.Logins() != 2 {
		t.Errorf("logins %d after a burst of 100 past expiry, want 2 (one more)", s.Logins())
	}
}

// TestBurstAfterKnownExpiryLogsInOnce: the same when the adapter's own
// clock sees the expiry first (no 401 at all).
func TestBurstAfterKnownExpiryLogsInOnce(t *testing.T) {
	s := sim()
	c := newClock()
	s.SetClock(c.Now)
	srv := httptest.NewServer(s)
	defer srv.Close()
	a := open(t, adminEmail, adminPW)
	a.now = c.Now
	if _, err := a.Apply(context.Background(), &simDoer{base: srv.URL}, op(canonical.Update{GivenName: canonical.Some("A")})); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)
	var wg sync.WaitGroup
	d := &simDoer{base: srv.URL}
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Apply(context.Background(), d, op(canonical.Update{FamilyName: canonical.Some("B")})); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if s.Logins() != 2 || d.saw(http.StatusUnauthorized) {
		t.Errorf("logins %d (want 2), saw 401: %v", s.Logins(), d.saw(http.StatusUnauthorized))
	}
}

func TestErrorsAgainstSim(t *testing.T) {
	cases := []struct {
		name, user, pw string
		id             string
		u              canonical.Update
		code           canonical.Code
		status         int
		logins         int
	}{
		{"bad password", adminEmail, "nope", userID, canonical.Update{GivenName: canonical.Some("x")}, canonical.CodeUpstreamAuthFailed, 401, 0},
		{"not self nor admin: 401 after a fresh login", "plain@acme.example", "plain-pw", userID, canonical.Update{GivenName: canonical.Some("x")}, canonical.CodeUpstreamAuthFailed, 401, 2},
		{"email lock for a non-admin acting on itself", "plain@acme.example", "plain-pw", plainID, canonical.Update{Email: canonical.Some("other@acme.example")}, canonical.CodeUpstreamAuthFailed, 401, 2},
		{"unknown user", adminEmail, adminPW, "cccccccc-cccc-4ccc-8ccc-cccccccccccc." + tenant, canonical.Update{Email: canonical.Some("x@acme.example")}, canonical.CodeNotFound, 404, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim()
			srv := httptest.NewServer(s)
			defer srv.Close()
			_, err := open(t, tc.user, tc.pw).Apply(context.Background(), &simDoer{base: srv.URL}, adapters.Op{UserID: tc.id, Update: tc.u})
			e := canonical.AsError(err)
			if e == nil || e.Code != tc.code || e.VendorStatus != tc.status {
				t.Fatalf("err %v, want %s (%d)", err, tc.code, tc.status)
			}
			if s.Logins() != tc.logins {
				t.Errorf("logins %d, want %d", s.Logins(), tc.logins)
			}
			if strings.Contains(err.Error(), tc.pw) {
				t.Error("password in error")
			}
		})
	}
}

// fakeVendor answers like Akana, with one call's answer overridden.
type fakeVendor struct {
	override func(c *adapters.Call) *adapters.Response
}

func (f fakeVendor) Do(_ context.Context, c *adapters.Call) (*adapters.Response, error) {
	if r := f.override(c); r != nil {
		return r, nil
	}
	return canned(c), nil
}

// canned answers every call the adapter makes, deterministically.
func canned(c *adapters.Call) *adapters.Response {
	text := http.Header{"Content-Type": {"text/plain"}}
	js := http.Header{"Content-Type": {"application/json"}}
	switch {
	case c.Path == "/api/login" || c.Path == "/api/login/renewToken":
		h := http.Header{}
		h.Add("Set-Cookie", "AtmoAuthToken_"+tenant+"=TokenID%3Dfixed%2CexpirationTime%3D4102444800000; Path=/; HttpOnly; Secure")
		h.Add("Set-Cookie", "Csrf-Token_"+tenant+"=TokenID%3Dcsrf-fixed%2CexpirationTime%3D4102444800000; Path=/; Secure")
		return &adapters.Response{Status: 200, Header: h, Body: []byte(`{"loginStatus":"SUCCESS"}`)}
	case c.Method == http.MethodGet && strings.HasSuffix(c.Path, "/settings"):
		return &adapters.Response{Status: 200, Header: js, Body: []byte(`{"UserID":"` + userID + `","Email":"jane@acme.example","OptedNotification":["com.soa.notification.type.ticket.change","com.soa.notification.type.app.alert"]}`)}
	case c.Method == http.MethodGet:
		return &adapters.Response{Status: 200, Header: js, Body: []byte(`{"UserID":"` + userID + `","FirstName":"Jane","LastName":"Doe","Email":"jane@acme.example","Phone":"+1 555","State":"active","Version":12345678901234567890}`)}
	case c.Method == http.MethodPut:
		return &adapters.Response{Status: 200, Header: text, Body: []byte(userID)}
	}
	return &adapters.Response{Status: 404, Header: text, Body: []byte("not found")}
}

// TestErrorMapping: each documented answer (401, 500) and the undocumented
// ones a vendor may still give map per docs/api.md (Codes).
func TestErrorMapping(t *testing.T) {
	text := http.Header{"Content-Type": {"text/plain"}}
	answer := func(status int, body string) *adapters.Response {
		return &adapters.Response{Status: status, Header: text, Body: []byte(body)}
	}
	onPut := func(r *adapters.Response) func(*adapters.Call) *adapters.Response {
		return func(c *adapters.Call) *adapters.Response {
			if c.Method == http.MethodPut {
				return r
			}
			return nil
		}
	}
	cases := []struct {
		name     string
		override func(*adapters.Call) *adapters.Response
		code     canonical.Code
		msg      string
	}{
		{"401 on the write, also after a fresh login", onPut(answer(401, "Unauthorized")), canonical.CodeUpstreamAuthFailed, "fresh login"},
		{"500", onPut(answer(500, "An error occurred processing the call.")), canonical.CodeUpstreamUnavailable, "An error occurred"},
		{"400", onPut(answer(400, "invalid notification type")), canonical.CodeInvalidRequest, "invalid notification type"},
		{"404", onPut(answer(404, "")), canonical.CodeNotFound, "Not Found"},
		{"409", onPut(answer(409, `{"message":"email taken"}`)), canonical.CodeConflict, "email taken"},
		{"429", onPut(&adapters.Response{Status: 429, Header: http.Header{"Retry-After": {"3"}}}), canonical.CodeRateLimited, ""},
		{"503", onPut(answer(503, "<html>down</html>")), canonical.CodeUpstreamUnavailable, "Service Unavailable"},
		{"200 without the UserID", onPut(answer(200, "OK")), canonical.CodeUpstreamError, "UserID"},
		{"200 with another UserID", onPut(answer(200, "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa."+tenant)), canonical.CodeUpstreamError, "UserID"},
		{"login refused", func(c *adapters.Call) *adapters.Response {
			if c.Kind == adapters.Auth {
				return answer(401, "bad credentials for admin@acme.example")
			}
			return nil
		}, canonical.CodeUpstreamAuthFailed, "service account"},
		{"login without the cookie (pending task)", func(c *adapters.Call) *adapters.Response {
			if c.Kind == adapters.Auth {
				return &adapters.Response{Status: 200, Header: http.Header{}, Body: []byte(`{"nextTask":"changePassword"}`)}
			}
			return nil
		}, canonical.CodeUpstreamAuthFailed, "pending login task"},
		{"unreadable settings", func(c *adapters.Call) *adapters.Response {
			if c.Method == http.MethodGet {
				return answer(200, "<html/>")
			}
			return nil
		}, canonical.CodeUpstreamError, "unreadable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, u := range []canonical.Update{{Email: canonical.Some("x@acme.example")}, {GivenName: canonical.Some("x")}} {
				_, err := open(t, adminEmail, adminPW).Apply(context.Background(), fakeVendor{tc.override}, op(u))
				var e *canonical.Error
				if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
					t.Errorf("%v: err %v, want %s with %q", u.Fields(), err, tc.code, tc.msg)
				}
				if err != nil && (strings.Contains(err.Error(), adminPW) || strings.Contains(err.Error(), "admin@acme.example")) {
					t.Errorf("a credential is in the error: %v", err)
				}
			}
		})
	}
	t.Run("429 keeps Retry-After", func(t *testing.T) {
		_, err := open(t, adminEmail, adminPW).Apply(context.Background(), fakeVendor{cases[5].override}, op(canonical.Update{Email: canonical.Some("x@acme.example")}))
		if e := canonical.AsError(err); e == nil || e.RetryAfter != 3*time.Second {
			t.Errorf("err %v", err)
		}
	})
}

// TestDryRun: logins and reads reach the vendor, writes do not, and the
// outcome still lists what would have been written.
func TestDryRun(t *testing.T) {
	s := sim()
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := &simDoer{base: srv.URL, dry: true}
	u := canonical.Update{Email: canonical.Some("dry@acme.example"), GivenName: canonical.Some("Dry")}
	out, err := open(t, adminEmail, adminPW).Apply(context.Background(), d, op(u))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]canonical.Field{canonical.FieldEmail, canonical.FieldGivenName}, out.Applied); diff != "" {
		t.Errorf("applied -want +got:\n%s", diff)
	}
	for _, r := range s.Requests() {
		if r.Method == http.MethodPut {
			t.Errorf("a write reached the vendor: %s %s", r.Method, r.Path)
		}
	}
	if got, _ := s.User(userID); got.Email != "jane@acme.example" || got.FirstName != "Jane" {
		t.Errorf("vendor state changed: %+v", got)
	}
	var planned int
	for _, c := range d.calls {
		if c.Kind == adapters.Write {
			planned++
		}
	}
	if planned != 2 {
		t.Errorf("planned writes %d, want 2 (settings, user)", planned)
	}
}

// TestNoSecretLeaks: passwords, cookies and CSRF values never appear in a
// path or an error, and the login body declares its secret member.
func TestNoSecretLeaks(t *testing.T) {
	s := sim()
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := &simDoer{base: srv.URL}
	a := open(t, adminEmail, adminPW)
	if _, err := a.Apply(context.Background(), d, op(canonical.Update{Email: canonical.Some("x@acme.example"), GivenName: canonical.Some("X")})); err != nil {
		t.Fatal(err)
	}
	_, failed := a.Apply(context.Background(), d, adapters.Op{UserID: "cccccccc-cccc-4ccc-8ccc-cccccccccccc." + tenant, Update: canonical.Update{GivenName: canonical.Some("X")}})
	if failed == nil {
		t.Fatal("want an error for an unknown user")
	}
	secrets := []string{adminPW}
	for _, c := range d.calls {
		for _, k := range []string{"Cookie", "X-Csrf-Token_" + tenant} {
			for _, v := range c.Header.Values(k) {
				for _, part := range strings.Split(v, ";") {
					if _, val, ok := strings.Cut(part, "="); ok {
						secrets = append(secrets, val)
					} else {
						secrets = append(secrets, strings.TrimSpace(part))
					}
				}
			}
		}
	}
	if len(secrets) < 3 {
		t.Fatalf("no session values seen: %v", d.lines())
	}
	for _, c := range d.calls {
		if c.Kind == adapters.Auth && c.Path == "/api/login" && !cmp.Equal(c.Secrets, []string{"/password"}) {
			t.Errorf("login Secrets %v", c.Secrets)
		}
		for _, sec := range secrets {
			if strings.Contains(c.Path, sec) {
				t.Errorf("%s: a secret is in the path", c.Name)
			}
			if c.Kind != adapters.Auth && bytes.Contains(c.Body, []byte(sec)) {
				t.Errorf("%s: a secret is in the body", c.Name)
			}
		}
	}
	for _, sec := range secrets {
		if strings.Contains(failed.Error(), sec) {
			t.Errorf("a secret is in the error %q", failed)
		}
	}
}

func TestPreflight(t *testing.T) {
	a := open(t, adminEmail, adminPW)
	cases := []struct {
		name   string
		op     adapters.Op
		fields []string
		uns    []canonical.Field
	}{
		{"fine", op(canonical.Update{GivenName: canonical.Some("x"), Notifications: canonical.Some([]string{"ticket.change"})}), nil, nil},
		{"not uuid.tenant", adapters.Op{UserID: "jdoe", Update: canonical.Update{GivenName: canonical.Some("x")}}, []string{"vendor_ids.akana"}, nil},
		{"uuid without tenant", adapters.Op{UserID: "45742f96-aad2-45d8-b507-420cf07c87ff", Update: canonical.Update{GivenName: canonical.Some("x")}}, []string{"vendor_ids.akana"}, nil},
		{"other tenant", adapters.Op{UserID: "45742f96-aad2-45d8-b507-420cf07c87ff.othercorp", Update: canonical.Update{GivenName: canonical.Some("x")}}, []string{"vendor_ids.akana"}, nil},
		{"tenant differs in case", adapters.Op{UserID: "45742f96-aad2-45d8-b507-420cf07c87ff.AcmePaymentsCorp", Update: canonical.Update{GivenName: canonical.Some("x")}}, []string{"vendor_ids.akana"}, nil},
		{"path characters", adapters.Op{UserID: "../../admin.acmepaymentscorp", Update: canonical.Update{GivenName: canonical.Some("x")}}, []string{"vendor_ids.akana"}, nil},
		{"64 runes is fine", op(canonical.Update{GivenName: canonical.Some(strings.Repeat("é", 64))}), nil, nil},
		{"long names", op(canonical.Update{GivenName: canonical.Some(strings.Repeat("a", 65)), FamilyName: canonical.Some(strings.Repeat("b", 65))}), []string{"user.given_name", "user.family_name"}, nil},
		{"long email", op(canonical.Update{Email: canonical.Some(strings.Repeat("a", 310) + "@example.com")}), []string{"user.email"}, nil},
		{"unmapped notification", op(canonical.Update{Notifications: canonical.Some([]string{"ticket.change", "nope"})}), nil, []canonical.Field{canonical.FieldNotifications}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uns, err := a.Preflight(tc.op)
			var fields []string
			if err != nil {
				e := canonical.AsError(err)
				if e.Code != canonical.CodeInvalidRequest {
					t.Errorf("code %s", e.Code)
				}
				for _, f := range e.Fields {
					fields = append(fields, f.Field)
					if f.Target != "akana" {
						t.Errorf("%s: target %q", f.Field, f.Target)
					}
				}
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("fields -want +got:\n%s", diff)
			}
			var got []canonical.Field
			for _, u := range uns {
				got = append(got, u.Field)
			}
			if diff := cmp.Diff(tc.uns, got); diff != "" {
				t.Errorf("unsupported -want +got:\n%s", diff)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	cred := adapters.Credential{Username: adminEmail, Password: adminPW}
	cases := []struct {
		name string
		cfg  Config
		deps adapters.Deps
		err  string
	}{
		{"defaults", Config{Tenant: tenant}, adapters.Deps{Credential: cred}, ""},
		{"no tenant", Config{}, adapters.Deps{Credential: cred}, "settings.tenant"},
		{"bad tenant", Config{Tenant: "acme corp"}, adapters.Deps{Credential: cred}, "settings.tenant"},
		{"no credential", Config{Tenant: tenant}, adapters.Deps{}, "credential"},
		{"renew not shorter than lifetime", Config{Tenant: tenant, RenewBefore: time.Hour}, adapters.Deps{Credential: cred}, "settings.renew_before"},
		{"negative", Config{Tenant: tenant, SessionLifetime: -time.Minute}, adapters.Deps{Credential: cred}, "positive"},
		{"empty code", Config{Tenant: tenant}, adapters.Deps{Credential: cred, Notifications: map[string]string{"x": ""}}, "notifications"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cfg
			_, err := tc.cfg.Open("akana", tc.deps)
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
			if tc.cfg != before {
				t.Error("Open changed its config")
			}
			if err != nil && strings.Contains(err.Error(), adminPW) {
				t.Error("password in error")
			}
		})
	}
}

// TestConfiguredNotifications: deps.Notifications replaces the default
// mapping; names outside it are unsupported values.
func TestConfiguredNotifications(t *testing.T) {
	s := sim()
	srv := httptest.NewServer(s)
	defer srv.Close()
	a, err := (&Config{Tenant: tenant}).Open("akana", adapters.Deps{
		Credential:    adapters.Credential{Username: adminEmail, Password: adminPW},
		Notifications: map[string]string{"tickets": "com.soa.notification.type.ticket.change", "news": "com.soa.notification.type.news.update"},
	})
	if err != nil {
		t.Fatal(err)
	}
	o := op(canonical.Update{Notifications: canonical.Some([]string{"news", "tickets"})})
	if uns, err := a.(adapters.Preflighter).Preflight(o); len(uns) != 0 || err != nil {
		t.Fatalf("%v %v", uns, err)
	}
	if uns, _ := a.(adapters.Preflighter).Preflight(op(canonical.Update{Notifications: canonical.Some([]string{"ticket.change"})})); len(uns) != 1 {
		t.Errorf("default name accepted under a configured mapping: %v", uns)
	}
	if _, err := a.Apply(context.Background(), &simDoer{base: srv.URL}, o); err != nil {
		t.Fatal(err)
	}
	got, _ := s.User(userID)
	if diff := cmp.Diff([]string{"com.soa.notification.type.news.update", "com.soa.notification.type.ticket.change"}, got.Opted); diff != "" {
		t.Errorf("opted -want +got:\n%s", diff)
	}
}

func TestDefaultNotificationsAreTheSimulatorsTypes(t *testing.T) {
	m := DefaultNotifications()
	var codes []string
	for _, v := range m {
		codes = append(codes, v)
	}
	if diff := cmp.Diff(akanasim.NotificationTypes(), codes, cmpSorted()); diff != "" {
		t.Errorf("-sim +default:\n%s", diff)
	}
	m["x"] = "y"
	if _, ok := DefaultNotifications()["x"]; ok {
		t.Error("DefaultNotifications returns a shared map")
	}
}
