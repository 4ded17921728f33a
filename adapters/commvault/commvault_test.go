package commvault

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/canonical"
)

const (
	svcUser = "gateway-svc"
	svcPW   = "service-account-pw"
	newPW   = "N3w-Passw0rd!"
)

func sim() *commvaultsim.Sim {
	s := commvaultsim.New()
	s.AddUser(commvaultsim.User{ID: 2, Name: svcUser, Email: "svc@example.com", Password: svcPW, Enabled: true})
	s.AddUser(commvaultsim.User{ID: 42, Name: "jdoe", FullName: "Jane Doe", Email: "jane@example.com", Password: "old-password", Enabled: true, AuthMethod: "LOCAL",
		Groups: []commvaultsim.IdName{{ID: 3, Name: "operators"}}})
	s.AddUser(commvaultsim.User{ID: 43, Name: "taken", Email: "taken@example.com", Password: "x"})
	return s
}

func open(t testing.TB, pw string) *Adapter {
	t.Helper()
	a, err := (&Config{}).Open("commvault", adapters.Deps{Credential: adapters.Credential{Username: svcUser, Password: canonical.Secret(pw)}})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Adapter)
}

func op(u canonical.Update) adapters.Op { return adapters.Op{UserID: "42", Update: u} }

func full() canonical.Update {
	return canonical.Update{DisplayName: canonical.Some("Jane Q"), Username: canonical.Some("jqdoe"), Email: canonical.Some("jq@example.com"),
		Enabled: canonical.Some(false), PrincipalName: canonical.Some("jq@corp.example"), AuthMethod: canonical.Some("LOCAL"),
		Groups:   canonical.Some(canonical.GroupChange{Op: canonical.GroupReplace, Items: []canonical.Ref{{ID: canonical.Some[int64](1)}, {Name: canonical.Some("viewers")}}}),
		Plan:     canonical.Some(canonical.Ref{Name: canonical.Some("ServerPlan")}),
		Password: canonical.Some(canonical.Password{New: newPW, Current: canonical.Some[canonical.Secret]("ignored-current")})}
}

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
			return open(t, svcPW), sim(), []string{svcPW}
		},
		State: func(sim http.Handler, op adapters.Op) any {
			id, _ := strconv.Atoi(op.UserID)
			u, _ := sim.(*commvaultsim.Sim).User(int32(id))
			return u
		},
		Cases: []adaptertest.Case{
			{Name: "display name", Op: op(canonical.Update{DisplayName: canonical.Some("J")})},
			{Name: "everything", Op: op(full())},
		},
		Missing: adapters.Op{UserID: "99999"},
	}
}

func TestFullUpdateAppliesAndSendsOnlySetFields(t *testing.T) {
	s := sim()
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	if _, err := open(t, svcPW).Apply(context.Background(), d, op(full())); err != nil {
		t.Fatal(err)
	}
	u, _ := s.User(42)
	if u.FullName != "Jane Q" || u.Name != "jqdoe" || u.Email != "jq@example.com" || u.Enabled || u.UPN != "jq@corp.example" ||
		u.Password != newPW || u.Plan == nil || u.Plan.ID != 8 {
		t.Errorf("user %+v", u)
	}
	if diff := cmp.Diff([]commvaultsim.IdName{{ID: 1, Name: "master"}, {ID: 4, Name: "viewers"}}, u.Groups); diff != "" {
		t.Errorf("groups: %s", diff)
	}
	put := d.Calls()[1]
	var body map[string]any
	_ = json.Unmarshal(put.Body, &body)
	if body["validationPassword"] != base64.StdEncoding.EncodeToString([]byte(svcPW)) || body["userGroupOperation"] != "OVERWRITE" {
		t.Errorf("body %v", body)
	}
	if diff := cmp.Diff([]string{"/newPassword", "/validationPassword"}, put.Secrets); diff != "" {
		t.Error(diff)
	}

	d2 := &adaptertest.HTTPDoer{Base: srv.URL}
	if _, err := open(t, svcPW).Apply(context.Background(), d2, op(canonical.Update{DisplayName: canonical.Some("Only")})); err != nil {
		t.Fatal(err)
	}
	if got := string(d2.Calls()[1].Body); got != `{"fullName":"Only"}` {
		t.Errorf("partial body %s", got)
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name   string
		use400 bool
		pw     string
		op     adapters.Op
		code   canonical.Code
	}{
		{"unknown user 404", false, svcPW, adapters.Op{UserID: "999", Update: canonical.Update{DisplayName: canonical.Some("x")}}, canonical.CodeNotFound},
		{"duplicate name in a 200", false, svcPW, op(canonical.Update{Username: canonical.Some("taken")}), canonical.CodeConflict},
		{"duplicate name as 400", true, svcPW, op(canonical.Update{Username: canonical.Some("taken")}), canonical.CodeConflict},
		{"unknown group in a 200", false, svcPW, op(canonical.Update{Groups: canonical.Some(canonical.GroupChange{Op: canonical.GroupAdd, Items: []canonical.Ref{{Name: canonical.Some("nope")}}})}), canonical.CodeNotFound},
		{"weak password in a 200 (errorCode 1)", false, svcPW, op(canonical.Update{Password: canonical.Some(canonical.Password{New: "short"})}), canonical.CodeUpstreamError},
		{"weak password as 400", true, svcPW, op(canonical.Update{Password: canonical.Some(canonical.Password{New: "short"})}), canonical.CodeInvalidRequest},
		{"failed login (200 errList)", false, "wrong", op(canonical.Update{DisplayName: canonical.Some("x")}), canonical.CodeUpstreamAuthFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim()
			s.SetFailWith400(tc.use400)
			srv := httptest.NewServer(s)
			defer srv.Close()
			_, err := open(t, tc.pw).Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, tc.op)
			var e *canonical.Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("err %v, want %s", err, tc.code)
			}
			for _, secret := range []string{svcPW, "short", base64.StdEncoding.EncodeToString([]byte(svcPW))} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("secret in error: %v", err)
				}
			}
		})
	}
}

func TestTokenExpiryReloginOnce(t *testing.T) {
	s := sim()
	now := time.Unix(1_900_000_000, 0)
	s.SetClock(func() time.Time { return now })
	srv := httptest.NewServer(s)
	defer srv.Close()
	a := open(t, svcPW)
	if _, err := a.Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, op(canonical.Update{DisplayName: canonical.Some("a")})); err != nil {
		t.Fatal(err)
	}
	now = now.Add(31 * time.Minute) // idle expiry
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	if _, err := a.Apply(context.Background(), d, op(canonical.Update{DisplayName: canonical.Some("b")})); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range d.Calls() {
		got = append(got, c.Method+" "+c.Path)
	}
	want := []string{"PUT /V4/user/42", "POST /Login", "PUT /V4/user/42"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls -want +got:\n%s", diff)
	}
	if s.Logins() != 2 {
		t.Errorf("logins %d", s.Logins())
	}
}

func TestPreflight(t *testing.T) {
	a := open(t, svcPW)
	for _, tc := range []struct {
		op    adapters.Op
		field string
	}{
		{adapters.Op{UserID: "abc", Update: canonical.Update{DisplayName: canonical.Some("x")}}, "vendor_ids.commvault"},
		{adapters.Op{UserID: "4294967296", Update: canonical.Update{DisplayName: canonical.Some("x")}}, "vendor_ids.commvault"},
		{op(canonical.Update{AuthMethod: canonical.Some("KERBEROS")}), "user.auth_method"},
		{op(canonical.Update{Plan: canonical.Some(canonical.Ref{ID: canonical.Some[int64](1 << 40)})}), "user.plan.id"},
	} {
		_, err := a.Preflight(tc.op)
		e := canonical.AsError(err)
		if len(e.Fields) == 0 || e.Fields[0].Field != tc.field {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
}

// TestRequestsMatchOpenAPI validates the PUT against Commvault's own spec.
func TestRequestsMatchOpenAPI(t *testing.T) {
	raw, err := os.ReadFile("../testdata/vendorspecs/commvault-v4-openapi3.yaml")
	if err != nil {
		t.Fatalf("vendor spec missing (adapters/testdata/vendorspecs): %v", err)
	}
	// The whole file has media types elsewhere that kin-openapi rejects; keep
	// the user path and the schemas it references.
	var node map[string]any
	if err := yaml.Unmarshal(raw, &node); err != nil {
		t.Fatal(err)
	}
	paths := node["paths"].(map[string]any)
	for p := range paths {
		if p != "/V4/user/{userId}" {
			delete(paths, p)
		}
	}
	comps := node["components"].(map[string]any)
	for k := range comps {
		if k != "schemas" && k != "securitySchemes" {
			delete(comps, k)
		}
	}
	js, _ := json.Marshal(node)
	doc, err := openapi3.NewLoader().LoadFromData(js)
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://cv.test/webconsole/api"}}
	router, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim())
	defer srv.Close()
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	if _, err := open(t, svcPW).Apply(context.Background(), d, op(full())); err != nil {
		t.Fatal(err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	for _, c := range d.Calls() {
		if c.Kind == adapters.Auth {
			continue
		}
		req, _ := http.NewRequest(c.Method, "http://cv.test/webconsole/api"+c.Path, bytes.NewReader(c.Body))
		req.Header = c.Header.Clone()
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.Method, c.Path, err)
		}
		if err := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}); err != nil {
			t.Errorf("%s %s: %v", c.Method, c.Path, err)
		}
	}
}

func FuzzOutcome(f *testing.F) {
	for _, s := range []string{`{"errorCode":0,"errorMessage":""}`, `{"errorCode":404,"errorMessage":"x"}`, `{"token":"QSDK a"}`, `[]`} {
		f.Add([]byte(s), 200)
	}
	f.Fuzz(func(t *testing.T, b []byte, status int) {
		_ = outcome(&adapters.Response{Status: status, Body: b, Header: http.Header{}})
	})
}

// TestPreflightPasswordLength (issue 17, item 13): the deployment's
// Commvault password limit is checked before any call, naming the field and
// never quoting the password.
func TestPreflightPasswordLength(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		pw    string
		bad   bool
	}{
		{"at the limit", 16, strings.Repeat("p", 16), false},
		{"over the limit", 16, strings.Repeat("p", 17), true},
		{"multi-byte counts bytes", 16, strings.Repeat("é", 9), true},
		{"no limit configured", 0, strings.Repeat("p", 1000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := (&Config{MaxPasswordBytes: tc.limit}).Open("commvault", adapters.Deps{Credential: adapters.Credential{Username: svcUser, Password: svcPW}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.(*Adapter).Preflight(op(canonical.Update{Password: canonical.Some(canonical.Password{New: canonical.Secret(tc.pw)})}))
			if !tc.bad {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e := canonical.AsError(err)
			if e.Code != canonical.CodeInvalidRequest || len(e.Fields) != 1 || e.Fields[0].Field != "user.password.new" || e.Fields[0].Target != "commvault" {
				t.Fatalf("error %+v", e)
			}
			if strings.Contains(err.Error(), tc.pw[:4]) {
				t.Errorf("the error quotes the password: %v", err)
			}
		})
	}
	if _, err := (&Config{MaxPasswordBytes: -1}).Open("commvault", adapters.Deps{Credential: adapters.Credential{Username: svcUser, Password: svcPW}}); err == nil {
		t.Error("a negative limit was accepted")
	}
}
