package httpapi

import (
	"strings"
	"testing"
)

// TestDocumentedRoute: route patterns in messages read as the docs write
// them, never in Fiber's syntax.
func TestDocumentedRoute(t *testing.T) {
	for _, tc := range []struct{ pattern, want string }{
		{"/v1/users/:id", "/v1/users/{id}"},
		{`/v1/users\:batch`, "/v1/users:batch"},
		{"/v1/users/:id/links/:target", "/v1/users/{id}/links/{target}"},
		{"/scim/v2/Users/:id?", "/scim/v2/Users/{id}"},
		{"/v1/capabilities", "/v1/capabilities"},
	} {
		if got := documentedRoute(tc.pattern); got != tc.want {
			t.Errorf("documentedRoute(%q) = %q, want %q", tc.pattern, got, tc.want)
		}
	}
}

// TestUnknownQueryParameterNamesTheDocumentedRoute: the 400 for a query
// parameter a route does not define names the route as the API
// documentation does ("/v1/users/{id} takes only dry_run").
func TestUnknownQueryParameterNamesTheDocumentedRoute(t *testing.T) {
	_, do := newApp(t, Options{AuthNone: true})
	resp := do(patchAt("/v1/users/jdoe?dryrun=true", `{"user":{"display_name":"J"}}`))
	p := problem(t, resp)
	if resp.StatusCode != 400 || len(p.Errors) != 1 {
		t.Fatalf("status %d, errors %+v; want 400 with one error", resp.StatusCode, p.Errors)
	}
	msg := p.Errors[0].Message
	if !strings.Contains(msg, "/v1/users/{id} takes only dry_run") || strings.Contains(msg, ":id") {
		t.Errorf("message %q, want the route as /v1/users/{id}", msg)
	}
}
