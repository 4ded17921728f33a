package commvaultsim_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
)

// TestRouting: the vendor's paths match in any case under either API
// prefix or the root; an unknown path is 404 "Page not found"; under
// /V4/User/ authentication comes first, then the id, then the method.
func TestRouting(t *testing.T) {
	s := commvaultsim.New()
	s.SeedDemo()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	do := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authtoken", token)
		}
		req.Header.Set("Content-Type", "application/json")
		return adaptertest.Exchange(t, req)
	}
	login := `{"username":"` + commvaultsim.DemoUsername + `","password":"` + base64.StdEncoding.EncodeToString([]byte(commvaultsim.DemoPassword)) + `"}`
	_, b := do("POST", "/commandcenter/api/Login", "", login)
	var in struct{ Token string }
	if err := json.Unmarshal([]byte(b), &in); err != nil || in.Token == "" {
		t.Fatalf("login: %s %v", b, err)
	}
	tok := in.Token
	cases := []struct {
		name, method, path, token string
		status                    int
		body                      string // contained in the answer
	}{
		{"user under webconsole", "GET", "/webconsole/api/V4/User/42", tok, 200, `"name":"jdoe"`},
		{"user in lower case at the root", "GET", "/v4/user/42", tok, 200, `"name":"jdoe"`},
		{"user list", "GET", "/commandcenter/api/V4/User", tok, 200, "users"},
		{"user list needs a token", "GET", "/V4/User", "", 401, ""},
		{"HEAD of the list", "HEAD", "/V4/User", tok, 404, ""},
		{"PUT of the list", "PUT", "/V4/User", tok, 404, "Page not found"},
		{"login is POST only", "GET", "/Login", "", 404, "Page not found"},
		{"unknown path", "GET", "/V4/Plan", tok, 404, "Page not found"},
		{"user needs a token first", "DELETE", "/V4/User/abc", "", 401, ""},
		{"then a numeric id", "DELETE", "/V4/User/abc", tok, 400, "Invalid userId"},
		{"then an existing user", "DELETE", "/V4/User/7", tok, 404, "Requested Details not found"},
		{"then the method", "DELETE", "/V4/User/42", tok, 405, "Method not allowed"},
		{"empty id", "GET", "/V4/User/", tok, 400, "Invalid userId"},
		{"simulator log, exact path only", "GET", "/_SIM/REQUESTS", tok, 404, "Page not found"},
		{"simulator log", "GET", "/_sim/requests", "", 200, "["},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(tc.method, tc.path, tc.token, "")
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, status, body, tc.status, tc.body)
			}
		})
	}
}

// TestUniqueNamesAndEmails: a PUT that would give a user another user's
// name or e-mail (in any case) is refused with 409 in the errList; a user
// may keep or re-case its own; a name given up is free for another user,
// and a user added over an existing id gives up the old one's values.
func TestUniqueNamesAndEmails(t *testing.T) {
	s := commvaultsim.New()
	s.SeedDemo()
	s.AddUser(commvaultsim.User{ID: 50, Name: "other", Email: "other@example.com", Password: "pw-other-1", Enabled: true, AuthMethod: "LOCAL"})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	post := func(method, path, token, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authtoken", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var in struct{ Token string }
	_ = json.Unmarshal([]byte(post("POST", "/Login", "", `{"username":"`+commvaultsim.DemoUsername+`","password":"`+base64.StdEncoding.EncodeToString([]byte(commvaultsim.DemoPassword))+`"}`)), &in)
	steps := []struct {
		name, body string
		conflict   bool
	}{
		{"another user's name", `{"newName":"OTHER"}`, true},
		{"another user's e-mail", `{"email":"Other@Example.com"}`, true},
		{"its own e-mail re-cased", `{"email":"JANE.DOE@example.com"}`, false},
		{"a new name", `{"newName":"jane"}`, false},
		{"its old name is free: other takes jdoe", ``, false},
	}
	for _, st := range steps {
		path, body := "/V4/User/42", st.body
		if body == "" {
			path, body = "/V4/User/50", `{"newName":"jdoe"}`
		}
		got := post("PUT", path, in.Token, body)
		if conflict := strings.Contains(got, `"errorCode":409`); conflict != st.conflict {
			t.Errorf("%s: %s, want conflict %v", st.name, got, st.conflict)
		}
	}
	if u, _ := s.User(50); u.Name != "jdoe" {
		t.Errorf("user 50 is %q, want jdoe", u.Name)
	}
	// Replacing user 50 by id frees "jdoe" and other@example.com.
	s.AddUser(commvaultsim.User{ID: 50, Name: "replaced", Email: "replaced@example.com", Password: "pw-other-1", Enabled: true, AuthMethod: "LOCAL"})
	if got := post("PUT", "/V4/User/42", in.Token, `{"newName":"jdoe","email":"other@example.com"}`); strings.Contains(got, `"errorCode":409`) {
		t.Errorf("values of a replaced user still taken: %s", got)
	}
}
