package frontier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	clientID = "svc-client"
	secret   = "s3cr3t-client-secret-value"
	userID   = "7f0a1a8e-1b2c-4d3e-8f90-a1b2c3d4e5f6"
)

var png = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 16)...)

func open(t testing.TB, cred adapters.Credential) *Adapter {
	t.Helper()
	a, err := (&Config{}).Open("frontier", adapters.Deps{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Adapter)
}

func seeded(superuser bool) *frontiersim.Sim {
	s := frontiersim.New()
	s.AddClient(clientID, secret, superuser)
	s.AddUser(frontiersim.User{ID: userID, Name: "janedoe", Email: "jane@example.com", Title: "Jane",
		Avatar: "data:image/png;base64,AAAA", Metadata: map[string]any{"label": map[string]any{"team": "sre"}, "description": "on call"}})
	return s
}

var cred = adapters.Credential{Username: clientID, Password: secret}

func op(u canonical.Update) adapters.Op { return adapters.Op{UserID: userID, Update: u} }

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
			return open(t, cred), seeded(true), []string{secret}
		},
		Cases: []adaptertest.Case{
			{Name: "title", Op: op(canonical.Update{DisplayName: canonical.Some("Jane D")})},
			{Name: "everything", Op: op(canonical.Update{DisplayName: canonical.Some("J"), Enabled: canonical.Some(true),
				Avatar:   canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png}),
				Metadata: canonical.Some(canonical.Metadata{"description": "x"})})},
			{Name: "disable", Op: op(canonical.Update{Enabled: canonical.Some(false)})},
		},
		Missing: adapters.Op{UserID: "00000000-0000-4000-8000-00000000dead"},
		State: func(sim http.Handler, op adapters.Op) any {
			u, _ := sim.(*frontiersim.Sim).User(op.UserID)
			u.UpdatedAt = "" // stamped on every write
			return u
		},
	}
}

func TestTitleOnlyKeepsMetadataAndAvatar(t *testing.T) {
	sim := seeded(true)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	out, err := open(t, cred).Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, op(canonical.Update{DisplayName: canonical.Some("Jane Doe")}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]canonical.Field{canonical.FieldDisplayName}, out.Applied); diff != "" {
		t.Error(diff)
	}
	u, _ := sim.User(userID)
	if u.Title != "Jane Doe" || u.Avatar != "data:image/png;base64,AAAA" || u.Metadata["description"] != "on call" || u.Email != "jane@example.com" {
		t.Errorf("stored user %+v", u)
	}
}

func TestEnableDisableOrder(t *testing.T) {
	sim := seeded(true)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	a := open(t, cred)
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	if _, err := a.Apply(context.Background(), d, op(canonical.Update{Enabled: canonical.Some(false), DisplayName: canonical.Some("Off")})); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range d.Calls() {
		got = append(got, c.Method+" "+c.Path)
	}
	want := []string{"GET /v1beta1/users/" + userID, "PUT /v1beta1/users/" + userID, "POST /v1beta1/users/" + userID + "/disable"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls -want +got:\n%s", diff)
	}
	if u, _ := sim.User(userID); u.State != "disabled" || u.Title != "Off" {
		t.Errorf("user %+v", u)
	}
	// A disabled user is hidden from GET: a field update alone is not_found,
	// with enable first it works.
	_, err := a.Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, op(canonical.Update{DisplayName: canonical.Some("x")}))
	if e := canonical.AsError(err); e.Code != canonical.CodeNotFound {
		t.Errorf("update of disabled user: %v", err)
	}
	if _, err := a.Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, op(canonical.Update{Enabled: canonical.Some(true), DisplayName: canonical.Some("On")})); err != nil {
		t.Fatal(err)
	}
	if u, _ := sim.User(userID); u.State != "enabled" || u.Title != "On" {
		t.Errorf("user %+v", u)
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name  string
		sim   func() *frontiersim.Sim
		cred  adapters.Credential
		op    adapters.Op
		code  canonical.Code
		calls int
	}{
		{"non-superuser", func() *frontiersim.Sim { return seeded(false) }, cred, op(canonical.Update{DisplayName: canonical.Some("x")}), canonical.CodeUpstreamAuthFailed, 1},
		{"wrong secret", func() *frontiersim.Sim { return seeded(true) }, adapters.Credential{Username: clientID, Password: "nope"}, op(canonical.Update{DisplayName: canonical.Some("x")}), canonical.CodeUpstreamAuthFailed, 1},
		{"unknown user", func() *frontiersim.Sim { return seeded(true) }, cred, adapters.Op{UserID: "00000000-0000-4000-8000-000000000000", Update: canonical.Update{DisplayName: canonical.Some("x")}}, canonical.CodeNotFound, 1},
		{"enable unknown user (500 code 13)", func() *frontiersim.Sim { return seeded(true) }, cred, adapters.Op{UserID: "00000000-0000-4000-8000-000000000000", Update: canonical.Update{Enabled: canonical.Some(true)}}, canonical.CodeNotFound, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.sim())
			defer srv.Close()
			d := &adaptertest.HTTPDoer{Base: srv.URL}
			_, err := open(t, tc.cred).Apply(context.Background(), d, tc.op)
			var e *canonical.Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("err %v, want %s", err, tc.code)
			}
			if len(d.Calls()) != tc.calls {
				t.Errorf("calls %d want %d", len(d.Calls()), tc.calls)
			}
			if strings.Contains(err.Error(), secret) {
				t.Error("secret in error")
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	a := open(t, cred)
	cases := []struct {
		name   string
		op     adapters.Op
		field  string
		unsupp canonical.Field
	}{
		{"not a uuid", adapters.Op{UserID: "jane@example.com", Update: canonical.Update{DisplayName: canonical.Some("x")}}, "vendor_ids.frontier", ""},
		{"webp avatar", op(canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/webp", Data: []byte("RIFF")})}), "", canonical.FieldAvatar},
		{"huge avatar", op(canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: make([]byte, 200000)})}), "user.avatar", ""},
		{"label not object", op(canonical.Update{Metadata: canonical.Some(canonical.Metadata{"label": "x"})}), "user.metadata", ""},
		{"description not string", op(canonical.Update{Metadata: canonical.Some(canonical.Metadata{"description": 5.0})}), "user.metadata", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uns, err := a.Preflight(tc.op)
			if tc.field != "" {
				e := canonical.AsError(err)
				if len(e.Fields) == 0 || e.Fields[0].Field != tc.field || e.Fields[0].Target != "frontier" {
					t.Errorf("err %v", err)
				}
			}
			if tc.unsupp != "" && (len(uns) != 1 || uns[0].Field != tc.unsupp) {
				t.Errorf("unsupported %v", uns)
			}
		})
	}
}

// TestRequestsMatchSwagger validates every request the adapter sends
// against Frontier's own v0.90.0 swagger.
func TestRequestsMatchSwagger(t *testing.T) {
	raw, err := os.ReadFile("../testdata/vendorspecs/frontier-v0.90.0-apidocs.swagger.yaml")
	if err != nil {
		t.Fatalf("vendor spec missing (adapters/testdata/vendorspecs): %v", err)
	}
	var node map[string]any
	if err := yaml.Unmarshal(raw, &node); err != nil {
		t.Fatal(err)
	}
	// Auth is checked by the simulator tests; kin-openapi's 2->3 converter
	// does not take this file's security definitions.
	delete(node, "securityDefinitions")
	delete(node, "security")
	// The full file has conflicting templates elsewhere; keep the user paths.
	paths := node["paths"].(map[string]any)
	for p := range paths {
		if !strings.HasPrefix(p, "/v1beta1/users/{id}") {
			delete(paths, p)
		}
	}
	js, err := json.Marshal(node)
	if err != nil {
		t.Fatal(err)
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(js, &doc2); err != nil {
		t.Fatal(err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		t.Fatal(err)
	}
	doc3.Servers = openapi3.Servers{{URL: "http://frontier.test"}}
	router, err := legacy.NewRouter(doc3, openapi3.DisableExamplesValidation())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(seeded(true))
	defer srv.Close()
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	for _, u := range []canonical.Update{
		{DisplayName: canonical.Some("Jane"), Enabled: canonical.Some(true),
			Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png}), Metadata: canonical.Some(canonical.Metadata{"description": "x"})},
		{DisplayName: canonical.Some("Off"), Enabled: canonical.Some(false)},
	} {
		if _, err := open(t, cred).Apply(context.Background(), d, op(u)); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.Calls()) != 6 {
		t.Fatalf("%d calls, want enable, get, put, get, put, disable", len(d.Calls()))
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	validate := func(c adapters.Call) error {
		req, _ := http.NewRequest(c.Method, "http://frontier.test"+c.Path, bytes.NewReader(c.Body))
		req.Header = c.Header.Clone()
		route, params, err := router.FindRoute(req)
		if err != nil {
			return err
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
		return openapi3filter.ValidateRequest(context.Background(), in)
	}
	for _, c := range d.Calls() {
		if err := validate(c); err != nil {
			t.Errorf("%s %s does not match the swagger: %v", c.Method, c.Path, err)
		}
	}
	// The validator is live: a body the swagger forbids is refused.
	bad := d.Calls()[2]
	bad.Body = []byte(`{"email":"a@b.co","title":5}`)
	if err := validate(bad); err == nil {
		t.Error("the swagger validator accepted a numeric title")
	}
}

func FuzzParseUser(f *testing.F) {
	f.Add([]byte(`{"user":{"id":"x","title":"t","metadata":{"a":1}}}`))
	f.Add([]byte(`{"code":14,"message":"function not available at the moment"}`))
	f.Add([]byte(`{"user":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseUser(b)
		a := &Adapter{name: "frontier"}
		for _, st := range []int{400, 404, 500, 503} {
			e := a.mapError(&adapters.Response{Status: st, Body: b})
			if e == nil || e.Code == "" || e.Message == "" {
				t.Fatalf("status %d: unusable error %+v", st, e)
			}
		}
		_ = a.Classify(&adapters.Response{Status: 503, Body: b})
	})
}
