package akanasim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/akana/akanasim"
)

// TestRouting: a path the platform lacks is 404 and a method a path lacks
// 405, both text/plain and before authentication; the simulator's own
// endpoints answer 404 to anything else.
func TestRouting(t *testing.T) {
	h, _ := akanasim.Seeded(0)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	user := "/api/users/" + akanasim.DemoUserID
	cases := []struct {
		name, method, path string
		status             int
		body               string // a prefix of the text answer
	}{
		{"unknown path", "GET", "/api/nowhere", 404, "not found"},
		{"users without an id", "GET", "/api/users/", 404, "not found"},
		{"below settings", "GET", user + "/settings/more", 404, "not found"},
		{"another sub-resource", "GET", user + "/photo", 404, "not found"},
		{"login is POST only", "GET", "/api/login", 405, "method not allowed"},
		{"renewal is POST only", "PUT", "/api/login/renewToken", 405, "method not allowed"},
		{"notification types are GET only", "POST", "/api/notifications/types", 405, "method not allowed"},
		{"HEAD of the notification types", "HEAD", "/api/notifications/types", 405, ""},
		{"user is GET or PUT", "DELETE", user, 405, "method not allowed"},
		{"settings are GET or PUT", "POST", user + "/settings", 405, "method not allowed"},
		{"HEAD of a user", "HEAD", user, 405, ""},
		{"HEAD of an unknown path", "HEAD", "/api/nowhere", 404, ""},
		{"user needs a session", "GET", user, 401, "Unauthorized: login required"},
		{"settings need a session", "PUT", user + "/settings", 401, "Unauthorized: login required"},
		{"renewal needs a session", "POST", "/api/login/renewToken", 401, "Unauthorized: login required"},
		{"simulator log is GET only", "POST", "/_sim/requests", 404, "not found"},
		{"unknown simulator endpoint", "GET", "/_sim/nothing", 404, "not found"},
		{"simulator log", "GET", "/_sim/requests", 200, "["},
		{"the simulator's folder itself", "GET", "/_sim", 404, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			status, b := adaptertest.Exchange(t, req)
			if status != tc.status || !strings.HasPrefix(b, tc.body) {
				t.Errorf("%s %s: %d %q, want %d %q...", tc.method, tc.path, status, b, tc.status, tc.body)
			}
		})
	}
}
