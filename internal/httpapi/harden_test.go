package httpapi

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestQueryIsStrict (issue 17, item 1): dry_run takes exactly true or false,
// and a parameter a route does not define is refused, so a misspelt dry run
// never turns into a live write.
func TestQueryIsStrict(t *testing.T) {
	body := `{"user":{"display_name":"J"}}`
	cases := []struct {
		name   string
		method string
		target string
		status int
		field  string
		calls  int32
	}{
		// A dry run runs the adapter, whose write the dispatcher answers
		// itself: 1 call, and the body says planned.
		{"dry_run=true", "PATCH", "/v1/users/jdoe?dry_run=true", 200, "", 1},
		{"dry_run=false", "PATCH", "/v1/users/jdoe?dry_run=false", 200, "", 1},
		{"no query", "PATCH", "/v1/users/jdoe", 200, "", 1},
		{"name without value", "PATCH", "/v1/users/jdoe?dry_run", 400, "dry_run", 0},
		{"empty value", "PATCH", "/v1/users/jdoe?dry_run=", 400, "dry_run", 0},
		{"repeated", "PATCH", "/v1/users/jdoe?dry_run=false&dry_run=true", 400, "dry_run", 0},
		{"repeated same", "PATCH", "/v1/users/jdoe?dry_run=true&dry_run=true", 400, "dry_run", 0},
		{"upper-case name", "PATCH", "/v1/users/jdoe?DRY_RUN=true", 400, "DRY_RUN", 0},
		{"upper-case value", "PATCH", "/v1/users/jdoe?dry_run=TRUE", 400, "dry_run", 0},
		{"one", "PATCH", "/v1/users/jdoe?dry_run=1", 400, "dry_run", 0},
		{"zero", "PATCH", "/v1/users/jdoe?dry_run=0", 400, "dry_run", 0},
		{"misspelt", "PATCH", "/v1/users/jdoe?dryrun=true", 400, "dryrun", 0},
		{"unknown beside a good one", "PATCH", "/v1/users/jdoe?dry_run=true&force=1", 400, "force", 0},
		{"empty name", "PATCH", "/v1/users/jdoe?=true", 400, "", 0},
		{"capabilities takes none", "GET", "/v1/capabilities?x=1", 400, "x", 0},
		{"healthz takes none", "GET", "/healthz?x", 400, "x", 0},
		{"readyz takes none", "GET", "/readyz?dry_run=true", 400, "dry_run", 0},
		{"capabilities plain", "GET", "/v1/capabilities", 200, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, do := newApp(t, Options{AuthNone: true})
			var req *http.Request
			if tc.method == "PATCH" {
				req = patchAt(tc.target, body)
			} else {
				req = httptest.NewRequest(tc.method, tc.target, nil)
			}
			resp := do(req)
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.status == 200 && tc.method == "PATCH" {
				b, _ := io.ReadAll(resp.Body)
				if dry := strings.Contains(tc.target, "dry_run=true"); dry != strings.Contains(string(b), `"status":"planned"`) {
					t.Errorf("dry run %v, body %s", dry, b)
				}
			}
			if tc.status >= 400 {
				p := problem(t, resp)
				if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
					t.Errorf("problem errors %+v, want field %q", p.Errors, tc.field)
				}
			}
			if got := a.calls.Load(); got != tc.calls {
				t.Errorf("adapter applied %d times, want %d", got, tc.calls)
			}
		})
	}
}

// TestIdempotencyKeyHeaderShape (issue 17, item 3): an empty key is not "no
// key", and two keys are not one.
func TestIdempotencyKeyHeaderShape(t *testing.T) {
	cases := []struct {
		name   string
		keys   []string
		status int
		calls  int32
	}{
		{"one key", []string{"k-1"}, 200, 1},
		{"empty key", []string{""}, 400, 0},
		{"blank key", []string{"   "}, 400, 0},
		{"two keys", []string{"k-1", "k-2"}, 400, 0},
		{"two equal keys", []string{"k-1", "k-1"}, 400, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, do := newApp(t, Options{AuthNone: true})
			req := patch(`{"user":{"display_name":"J"}}`)
			for _, k := range tc.keys {
				req.Header.Add("Idempotency-Key", k)
			}
			resp := do(req)
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.status == 400 {
				if p := problem(t, resp); len(p.Errors) == 0 || p.Errors[0].Field != "Idempotency-Key" {
					t.Errorf("problem errors %+v, want the header named", p.Errors)
				}
			}
			if got := a.calls.Load(); got != tc.calls {
				t.Errorf("adapter applied %d times, want %d", got, tc.calls)
			}
		})
	}
}

// TestAuthorizationSchemeCaseInsensitive (issue 17, item 12): RFC 9110
// section 11.1, the auth scheme is case-insensitive.
func TestAuthorizationSchemeCaseInsensitive(t *testing.T) {
	key := "k3y"
	sum := sha256.Sum256([]byte(key))
	clients := []Client{{Name: "ops", KeyHash: sum}}
	cases := []struct {
		header string
		status int
	}{
		{"Bearer " + key, 200},
		{"bearer " + key, 200},
		{"BEARER " + key, 200},
		{"bEaReR " + key, 200},
		{"Bearer  " + key, 200},
		{"Bearer", 401},
		{"Bearer ", 401},
		{"Basic " + key, 401},
		{"Bearerx " + key, 401},
		{key, 401},
	}
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			_, do := newApp(t, Options{Clients: clients})
			resp := do(patch(`{"user":{"display_name":"J"}}`, "Authorization", tc.header))
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, b)
			}
		})
	}
}

// TestQueryDidYouMean (issue 19): a misspelt parameter offers the route's own.
func TestQueryDidYouMean(t *testing.T) {
	_, do := newApp(t, Options{AuthNone: true})
	for target, want := range map[string]string{
		"/v1/users/jdoe?DRY_RUN=true": "did you mean dry_run?",
		"/v1/users/jdoe?dryrun=true":  "did you mean dry_run?",
		"/v1/users/jdoe?dry-run=true": "did you mean dry_run?",
	} {
		p := problem(t, do(patchAt(target, `{"user":{"display_name":"J"}}`)))
		if len(p.Errors) == 0 || !strings.Contains(p.Errors[0].Message, want) {
			t.Errorf("%s: %+v, want %q", target, p.Errors, want)
		}
	}
}
