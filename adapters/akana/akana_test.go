package akana

import (
	"context"
	"errors"
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
	tenant  = "acmepaymentscorp"
	userID  = "45742f96-aad2-45d8-b507-420cf07c87ff.acmepaymentscorp"
	adminPW = "admin-pass-123"
)

func sim() *akanasim.Sim {
	s := akanasim.New(tenant)
	s.AddUser(akanasim.User{UserID: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa." + tenant, Email: "admin@acme.example", Password: adminPW, SiteAdmin: true})
	s.AddUser(akanasim.User{UserID: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb." + tenant, Email: "plain@acme.example", Password: "plain-pw"})
	s.AddUser(akanasim.User{UserID: userID, Email: "jane@acme.example", FirstName: "Jane", LastName: "Doe", Phone: "+1 555",
		Opted: []string{"com.soa.notification.type.ticket.change", "com.soa.notification.type.app.alert"}})
	return s
}

func open(t *testing.T, user, pw string) *Adapter {
	t.Helper()
	a, err := (&Config{Tenant: tenant}).Open("akana", adapters.Deps{Credential: adapters.Credential{Username: user, Password: canonical.Secret(pw)}})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Adapter)
}

func op(u canonical.Update) adapters.Op { return adapters.Op{UserID: userID, Update: u} }

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T) (adapters.Adapter, http.Handler, []string) {
			return open(t, "admin@acme.example", adminPW), sim(), []string{adminPW}
		},
		Cases: []adaptertest.Case{
			{Name: "email", Op: op(canonical.Update{Email: canonical.Some("jane.d@acme.example")})},
			{Name: "notifications", Op: op(canonical.Update{Notifications: canonical.Some([]string{"news.update"})})},
			{Name: "names", Op: op(canonical.Update{GivenName: canonical.Some("J"), FamilyName: canonical.Some("D")})},
		},
	})
}

func TestPartialUpdatesKeepTheRest(t *testing.T) {
	s := sim()
	srv := httptest.NewServer(s)
	defer srv.Close()
	a := open(t, "admin@acme.example", adminPW)
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	if _, err := a.Apply(context.Background(), d, op(canonical.Update{Email: canonical.Some("new@acme.example"), GivenName: canonical.Some("Janet")})); err != nil {
		t.Fatal(err)
	}
	u, _ := s.User(userID)
	if u.Email != "new@acme.example" || u.FirstName != "Janet" || u.LastName != "Doe" || u.Phone != "+1 555" {
		t.Errorf("user %+v", u)
	}
	if diff := cmp.Diff([]string{"com.soa.notification.type.ticket.change", "com.soa.notification.type.app.alert"}, u.Opted); diff != "" {
		t.Errorf("notifications changed: %s", diff)
	}
	var calls []string
	for _, c := range d.Calls() {
		calls = append(calls, c.Method+" "+c.Path)
	}
	want := []string{"POST /api/login", "GET /api/users/" + userID + "/settings", "PUT /api/users/" + userID + "/settings", "GET /api/users/" + userID, "PUT /api/users/" + userID}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls -want +got:\n%s", diff)
	}
	for _, c := range d.Calls() {
		if c.Method == "PUT" && c.Header.Get("X-Csrf-Token_"+tenant) == "" {
			t.Errorf("%s without the CSRF header", c.Path)
		}
	}
	// Notifications are the full set.
	if _, err := a.Apply(context.Background(), d, op(canonical.Update{Notifications: canonical.Some([]string{"news.update"})})); err != nil {
		t.Fatal(err)
	}
	u, _ = s.User(userID)
	if diff := cmp.Diff([]string{"com.soa.notification.type.news.update"}, u.Opted); diff != "" || u.Email != "new@acme.example" {
		t.Errorf("opted %v email %s", u.Opted, u.Email)
	}
}

// TestBurstAfterExpiryLogsInOnce: 100 concurrent updates after the session
// expired cause one login, not 100.
func TestBurstAfterExpiryLogsInOnce(t *testing.T) {
	s := sim()
	var mu sync.Mutex
	now := time.Unix(2_000_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s.SetClock(clock)
	srv := httptest.NewServer(s)
	defer srv.Close()
	a := open(t, "admin@acme.example", adminPW)
	a.now = clock
	// The session manager reads real time; make the vendor's expiry the
	// only trigger by advancing the simulator clock past the lifetime.
	if _, err := a.Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, op(canonical.Update{GivenName: canonical.Some("A")})); err != nil {
		t.Fatal(err)
	}
	if s.Logins() != 1 {
		t.Fatalf("logins %d", s.Logins())
	}
	mu.Lock()
	now = now.Add(31 * time.Minute)
	mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, op(canonical.Update{FamilyName: canonical.Some("B")}))
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

func TestAuthFailures(t *testing.T) {
	cases := []struct {
		name, user, pw string
		code           canonical.Code
	}{
		{"bad password", "admin@acme.example", "nope", canonical.CodeUpstreamAuthFailed},
		{"not self nor admin (401 after a fresh login)", "plain@acme.example", "plain-pw", canonical.CodeUpstreamAuthFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim()
			srv := httptest.NewServer(s)
			defer srv.Close()
			_, err := open(t, tc.user, tc.pw).Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, op(canonical.Update{GivenName: canonical.Some("x")}))
			var e *canonical.Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("err %v", err)
			}
			if strings.Contains(err.Error(), tc.pw) {
				t.Error("password in error")
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	a := open(t, "admin@acme.example", adminPW)
	cases := []struct {
		name  string
		op    adapters.Op
		field string
	}{
		{"not uuid.tenant", adapters.Op{UserID: "jdoe", Update: canonical.Update{GivenName: canonical.Some("x")}}, "vendor_ids.akana"},
		{"other tenant", adapters.Op{UserID: "45742f96-aad2-45d8-b507-420cf07c87ff.othercorp", Update: canonical.Update{GivenName: canonical.Some("x")}}, "vendor_ids.akana"},
		{"long name", op(canonical.Update{GivenName: canonical.Some(strings.Repeat("a", 65))}), "user.given_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Preflight(tc.op)
			e := canonical.AsError(err)
			if len(e.Fields) == 0 || e.Fields[0].Field != tc.field {
				t.Errorf("err %v", err)
			}
		})
	}
	uns, err := a.Preflight(op(canonical.Update{Notifications: canonical.Some([]string{"nope"})}))
	if err != nil || len(uns) != 1 {
		t.Errorf("unmapped: %v %v", uns, err)
	}
}

func TestSimulatorCSRFAndExpiry(t *testing.T) {
	s := sim()
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/login", "application/json", strings.NewReader(`{"email":"admin@acme.example","password":"`+adminPW+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var auth, csrf *http.Cookie
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "AtmoAuthToken_" + tenant:
			auth = c
		case "Csrf-Token_" + tenant:
			csrf = c
		}
	}
	if auth == nil || csrf == nil || akanasim.ExpiresAt(auth.Value).IsZero() {
		t.Fatalf("cookies %v", resp.Cookies())
	}
	put := func(withCSRF bool) int {
		req, _ := http.NewRequest("PUT", srv.URL+"/api/users/"+userID+"/settings", strings.NewReader(`{"Email":"x@acme.example","OptedNotification":[]}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(auth)
		req.AddCookie(csrf)
		if withCSRF {
			req.Header.Set("X-Csrf-Token_"+tenant, csrf.Value)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if got := put(false); got != 401 {
		t.Errorf("write without CSRF header: %d", got)
	}
	if got := put(true); got != 200 {
		t.Errorf("write with CSRF header: %d", got)
	}
}

func FuzzExpiration(f *testing.F) {
	f.Add("TokenID%3Dx%2CexpirationTime%3D1700000000000")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, s string) {
		_ = expiration(s)
		_ = mapError(&adapters.Response{Status: 500, Body: []byte(s)})
	})
}
