package frontiersim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
)

// TestRouting: grpc-gateway's answers before any handler runs: an unknown
// path is 404 (code 5), a known path with a method it lacks 501 (code 12),
// users/self is not simulated, whatever the method.
func TestRouting(t *testing.T) {
	srv := httptest.NewServer(frontiersim.New())
	t.Cleanup(srv.Close)
	cases := []struct {
		name, method, path string
		status             int
		body               string // contained in the answer
	}{
		{"unknown path", "GET", "/v1beta1/groups", 404, `"code":5`},
		{"users with a trailing slash", "GET", "/v1beta1/users/", 404, `"code":5`},
		{"below a user", "GET", "/v1beta1/users/u1/avatar", 404, `"code":5`},
		{"HEAD of the list", "HEAD", "/v1beta1/users", 404, ""},
		{"PATCH of the list", "PATCH", "/v1beta1/users", 404, `"code":5`},
		{"PATCH of a user", "PATCH", "/v1beta1/users/u1", 501, `"code":12`},
		{"HEAD of a user", "HEAD", "/v1beta1/users/u1", 501, ""},
		{"GET of enable", "GET", "/v1beta1/users/u1/enable", 501, `"code":12`},
		{"DELETE of disable", "DELETE", "/v1beta1/users/u1/disable", 501, `"code":12`},
		{"self", "GET", "/v1beta1/users/self", 501, "users/self is not simulated"},
		{"self, another method", "PATCH", "/v1beta1/users/self", 501, "users/self is not simulated"},
		{"simulator log is GET only", "POST", "/_sim/requests", 405, "simulator: GET only"},
		{"simulator reset is POST only", "GET", "/_sim/reset", 405, "simulator: POST only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			status, b := adaptertest.Exchange(t, req)
			if status != tc.status || !strings.Contains(b, tc.body) {
				t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, status, b, tc.status, tc.body)
			}
		})
	}
}
