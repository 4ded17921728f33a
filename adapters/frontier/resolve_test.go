package frontier

import (
	"context"
	"encoding/json"
	"fmt"
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
)

func TestResolvePagesTheKeywordListAndKeepsExactMatches(t *testing.T) {
	s := seeded(true)
	// 55 users whose names contain "ann"; the exact "ann" sorts last, on
	// the second page of 50.
	for i := range 55 {
		s.AddUser(frontiersim.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Name: fmt.Sprintf("ann%d", i), Email: fmt.Sprintf("ann%d@corp.example", i)})
	}
	s.AddUser(frontiersim.User{ID: "ffffffff-0000-4000-8000-000000000000", Name: "ann", Email: "Ann@Corp.example"})
	s.AddUser(frontiersim.User{ID: "ffffffff-0000-4000-8000-000000000001", Name: "gone", Email: "gone@corp.example", State: "disabled"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	cases := []struct {
		name, by, value string
		want            []string
		pages           int
	}{
		{"username on page two", adapters.ResolveByUsername, "ANN", []string{"ffffffff-0000-4000-8000-000000000000"}, 2},
		{"e-mail, case-insensitive", adapters.ResolveByEmail, "ann@corp.EXAMPLE", []string{"ffffffff-0000-4000-8000-000000000000"}, 1},
		{"substring hits are not matches", adapters.ResolveByEmail, "corp.example", nil, 2},
		{"disabled users are not listed", adapters.ResolveByUsername, "gone", nil, 1},
		{"no one", adapters.ResolveByEmail, "nobody@corp.example", nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &adaptertest.HTTPDoer{Base: srv.URL}
			got, err := open(t, cred).Resolve(context.Background(), d, tc.by, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ids (-want +got):\n%s", diff)
			}
			calls := d.Calls()
			if len(calls) != tc.pages {
				t.Fatalf("%d calls, want %d pages", len(calls), tc.pages)
			}
			for i, c := range calls {
				if c.Kind != adapters.Read || !strings.Contains(c.Path, fmt.Sprintf("page_num=%d", i+1)) || !strings.Contains(c.Path, "page_size=50") {
					t.Errorf("call %d: %s %s", i, c.Method, c.Path)
				}
			}
		})
	}
}

// The list call and the simulator's answer both match Frontier's own
// v0.90.0 swagger (ListUsers: v1beta1ListUsersResponse).
func TestUserListMatchesSwagger(t *testing.T) {
	raw, err := os.ReadFile("../testdata/vendorspecs/frontier-v0.90.0-apidocs.swagger.yaml")
	if err != nil {
		t.Fatalf("vendor spec missing (adapters/testdata/vendorspecs): %v", err)
	}
	var node map[string]any
	if err := yaml.Unmarshal(raw, &node); err != nil {
		t.Fatal(err)
	}
	delete(node, "securityDefinitions")
	delete(node, "security")
	paths := node["paths"].(map[string]any)
	for p := range paths {
		if p != "/v1beta1/users" {
			delete(paths, p)
		}
	}
	for m := range paths["/v1beta1/users"].(map[string]any) {
		if m != "get" {
			delete(paths["/v1beta1/users"].(map[string]any), m)
		}
	}
	js, _ := json.Marshal(node)
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
	var checked int
	d := adapters.DoerFunc(func(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
		resp, err := (&adaptertest.HTTPDoer{Base: srv.URL}).Do(ctx, c)
		if err != nil {
			return resp, err
		}
		req, _ := http.NewRequest(c.Method, "http://frontier.test"+c.Path, nil)
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
	if _, err := open(t, cred).Resolve(context.Background(), d, adapters.ResolveByEmail, "jane@example.com"); err != nil {
		t.Fatal(err)
	}
	if checked != 1 {
		t.Fatalf("%d list calls checked", checked)
	}
}
