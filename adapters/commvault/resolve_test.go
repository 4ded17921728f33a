package commvault

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
)

func TestResolveListsUsersAndMatchesCaseInsensitively(t *testing.T) {
	s := sim()
	// Commvault allows duplicate e-mails (commvault.md 4): both come back.
	s.AddUser(commvaultsim.User{ID: 44, Name: "jdoe2", Email: "JANE@example.com", Password: "x"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	cases := []struct {
		by, value string
		want      []string
	}{
		{adapters.ResolveByEmail, "taken@EXAMPLE.com", []string{"43"}},
		{adapters.ResolveByEmail, "jane@example.com", []string{"42", "44"}},
		{adapters.ResolveByUsername, "JDOE", []string{"42"}},
		{adapters.ResolveByUsername, "jane@example.com", nil},
		{adapters.ResolveByEmail, "nobody@example.com", nil},
	}
	for _, tc := range cases {
		t.Run(tc.by+" "+tc.value, func(t *testing.T) {
			d := &adaptertest.HTTPDoer{Base: srv.URL}
			got, err := open(t, svcPW).Resolve(context.Background(), d, tc.by, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ids (-want +got):\n%s", diff)
			}
			calls := d.Calls()
			if len(calls) != 2 || calls[0].Name != "login" || calls[1].Method != "GET" || calls[1].Path != "/V4/user" || calls[1].Kind != adapters.Read {
				t.Fatalf("calls %+v", calls)
			}
		})
	}
}

func TestSimListNeedsAToken(t *testing.T) {
	w := httptest.NewRecorder()
	sim().ServeHTTP(w, httptest.NewRequest("GET", "/webconsole/api/V4/user", nil))
	if w.Code != 401 {
		t.Fatalf("status %d", w.Code)
	}
	// With a token: every user, numberOfUsers agreeing.
	srv := httptest.NewServer(sim())
	defer srv.Close()
	var body string
	d := adapters.DoerFunc(func(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
		r, err := (&adaptertest.HTTPDoer{Base: srv.URL}).Do(ctx, c)
		if err == nil && c.Name == "list users" {
			body = string(r.Body)
		}
		return r, err
	})
	if _, err := open(t, svcPW).Resolve(context.Background(), d, adapters.ResolveByEmail, "x@y"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"numberOfUsers":3`) || !strings.Contains(body, `"email":"taken@example.com"`) {
		t.Fatalf("list body %s", body)
	}
}

// The list call and the simulator's answer both match the vendor's spec
// (GetUsers: UserListResp of UserSummary).
func TestUserListMatchesOpenAPI(t *testing.T) {
	raw, err := os.ReadFile("../testdata/vendorspecs/commvault-v4-openapi3.yaml")
	if err != nil {
		t.Fatalf("vendor spec missing (adapters/testdata/vendorspecs): %v", err)
	}
	var node map[string]any
	if err := yaml.Unmarshal(raw, &node); err != nil {
		t.Fatal(err)
	}
	paths := node["paths"].(map[string]any)
	for p := range paths {
		if p != "/V4/user" {
			delete(paths, p)
		}
	}
	// Only GET: the other operations' media types are what kin-openapi rejects.
	for m := range paths["/V4/user"].(map[string]any) {
		if m != "get" {
			delete(paths["/V4/user"].(map[string]any), m)
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
	s := sim()
	s.AddUser(commvaultsim.User{ID: 50, Name: "planned", Email: "p@example.com", Plan: &commvaultsim.IdName{ID: 7, Name: "CSPlan"}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	var checked int
	d := adapters.DoerFunc(func(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
		resp, err := (&adaptertest.HTTPDoer{Base: srv.URL}).Do(ctx, c)
		if err != nil || c.Kind == adapters.Auth {
			return resp, err
		}
		req, _ := http.NewRequest(c.Method, "http://cv.test/webconsole/api"+c.Path, bytes.NewReader(c.Body))
		req.Header = c.Header.Clone()
		route, params, ferr := router.FindRoute(req)
		if ferr != nil {
			t.Fatalf("%s %s: %v", c.Method, c.Path, ferr)
		}
		opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
		if verr := openapi3filter.ValidateRequest(ctx, in); verr != nil {
			t.Errorf("request: %v", verr)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.Status, Header: resp.Header, Options: opts}
		out.SetBodyBytes(resp.Body)
		if verr := openapi3filter.ValidateResponse(ctx, out); verr != nil {
			t.Errorf("simulator's answer: %v", verr)
		}
		checked++
		return resp, nil
	})
	if _, err := open(t, svcPW).Resolve(context.Background(), d, adapters.ResolveByEmail, "p@example.com"); err != nil {
		t.Fatal(err)
	}
	if checked != 1 {
		t.Fatalf("%d list calls checked", checked)
	}
}
