package frontiersim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const uid = "11111111-2222-4333-8444-555555555555"

func sim() *Sim {
	s := New()
	s.AddClient("admin", "pw", true)
	s.AddClient("member", "pw", false)
	s.AddUser(User{ID: uid, Name: "jane", Email: "Jane@Example.com", Title: "T", Avatar: "data:image/png;base64,AA==", Metadata: map[string]any{"description": "d"}})
	return s
}

func basic(id, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+pw))
}

func TestContract(t *testing.T) {
	cases := []struct {
		name, method, path, auth, body string
		status, code                   int
		msg                            string
	}{
		{"validation before auth", "PUT", "/v1beta1/users/" + uid, "", `{"email":"not an email"}`, 400, 3, "invalid UserRequestBody.Email: value must be a valid email address"},
		{"name regex first", "PUT", "/v1beta1/users/" + uid, "", `{"name":"ab","email":"bad"}`, 400, 3, "invalid UserRequestBody.Name"},
		{"avatar pattern", "PUT", "/v1beta1/users/" + uid, basic("admin", "pw"), `{"email":"a@b.co","avatar":"data:image/webp;base64,AA=="}`, 400, 3, "invalid UserRequestBody.Avatar"},
		{"no auth", "PUT", "/v1beta1/users/" + uid, "", `{"email":"a@b.co"}`, 401, 16, "not authenticated"},
		{"lowercase basic prefix", "PUT", "/v1beta1/users/" + uid, strings.ToLower(basic("admin", "pw")[:6]) + basic("admin", "pw")[6:], `{"email":"a@b.co"}`, 401, 16, "not authenticated"},
		{"not superuser", "PUT", "/v1beta1/users/" + uid, basic("member", "pw"), `{"email":"a@b.co"}`, 503, 14, "function not available at the moment"},
		{"blank email", "PUT", "/v1beta1/users/" + uid, basic("admin", "pw"), `{"title":"x"}`, 400, 3, "invalid UserRequestBody.Email"},
		{"metaschema", "PUT", "/v1beta1/users/" + uid, basic("admin", "pw"), `{"email":"a@b.co","metadata":{"label":"x"}}`, 400, 3, "metadata schema validation failed"},
		{"unknown uuid", "PUT", "/v1beta1/users/00000000-0000-4000-8000-000000000000", basic("admin", "pw"), `{"email":"a@b.co"}`, 404, 5, "user doesn't exist"},
		{"enable unknown", "POST", "/v1beta1/users/00000000-0000-4000-8000-000000000000/enable", basic("admin", "pw"), `{}`, 500, 13, "user doesn't exist"},
		{"enable non-uuid", "POST", "/v1beta1/users/jane/enable", basic("admin", "pw"), `{}`, 500, 13, "invalid input syntax for type uuid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim()
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			var e struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Details []any  `json:"details"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) || e.Details == nil {
				t.Errorf("got %d %+v, want %d code %d %q", w.Code, e, tc.status, tc.code, tc.msg)
			}
		})
	}
}

func TestPutReplacesAndIgnoresNameEmail(t *testing.T) {
	s := sim()
	r := httptest.NewRequest("PUT", "/v1beta1/users/"+uid, strings.NewReader(`{"name":"newname","email":"other@example.com","title":"New","unknown":1}`))
	r.Header.Set("Authorization", basic("admin", "pw"))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var env map[string]map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &env)
	for _, k := range []string{"id", "name", "title", "email", "metadata", "created_at", "updated_at", "state", "avatar"} {
		if _, ok := env["user"][k]; !ok {
			t.Errorf("response lacks %s (snake_case, every field)", k)
		}
	}
	u, _ := s.User(uid)
	if u.Name != "jane" || u.Email != "jane@example.com" || u.Title != "New" || u.Avatar != "" || len(u.Metadata) != 0 {
		t.Errorf("user %+v: want name/email kept, title set, avatar and metadata replaced by empty", u)
	}
}

func TestGetHidesDisabled(t *testing.T) {
	s := sim()
	do := func(method, path string) int {
		r := httptest.NewRequest(method, path, strings.NewReader(`{}`))
		r.Header.Set("Authorization", basic("admin", "pw"))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code
	}
	if c := do("POST", "/v1beta1/users/"+uid+"/disable"); c != 200 {
		t.Fatal(c)
	}
	if c := do("GET", "/v1beta1/users/"+uid); c != 404 {
		t.Errorf("GET disabled by uuid: %d", c)
	}
	if c := do("GET", "/v1beta1/users/jane"); c != 200 {
		t.Errorf("GET disabled by name: %d", c)
	}
}

// send is one request against s; auth "" sends no Authorization header.
func send(s *Sim, method, path, auth, body string) (*httptest.ResponseRecorder, errBody) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var e errBody
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	return w, e
}

type errBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

// TestExactMessages pins the full first-error texts of frontier.md section 6
// (PGV's generated messages, wrapped by the embedded-message rule).
func TestExactMessages(t *testing.T) {
	const pre = "invalid UpdateUserRequest.Body: embedded message failed validation | caused by: "
	const email = "invalid UserRequestBody.Email: value must be a valid email address | caused by: "
	long := strings.Repeat("a", 65)
	cases := []struct{ name, body, msg string }{
		{"name", `{"name":"1abc","email":"a@b.co"}`, pre + `invalid UserRequestBody.Name: value does not match regex pattern "^([a-zA-Z][a-zA-Z0-9-_]{3,64})?$"`},
		{"name too short", `{"name":"abc","email":"a@b.co"}`, pre + `invalid UserRequestBody.Name: value does not match regex pattern "^([a-zA-Z][a-zA-Z0-9-_]{3,64})?$"`},
		{"no email", `{"title":"x"}`, pre + email + "mail: no address"},
		{"no at", `{"email":"nobody"}`, pre + email + "mail: missing '@' or angle-addr"},
		{"local part", `{"email":"` + long + `@b.co"}`, pre + email + "email address local phrase cannot exceed 64 characters"},
		{"host char", `{"email":"a@b_c.co"}`, pre + email + `hostname parts can only contain alphanumeric characters or hyphens, got "_"`},
		{"host hyphen", `{"email":"a@-b.co"}`, pre + email + "hostname parts cannot begin with hyphens"},
		{"host label length", `{"email":"a@` + strings.Repeat("h", 64) + `.co"}`, pre + email + "hostname part must be non-empty and cannot exceed 63 characters"},
		{"email before avatar", `{"email":"bad","avatar":"x"}`, pre + email + "mail: missing '@' or angle-addr"},
		{"avatar length", `{"email":"a@b.co","avatar":"data:image/png;base64,` + strings.Repeat("A", 250000) + `"}`, pre + "invalid UserRequestBody.Avatar: value length must be at most 250000 runes"},
		{"avatar pattern", `{"email":"a@b.co","avatar":"data:image/webp;base64,AAAA"}`, pre + `invalid UserRequestBody.Avatar: value does not match regex pattern "^data:image/(png|jpg|jpeg|gif);base64,([a-zA-Z0-9+/]+={0,2})+$"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// No credentials: validation runs before authentication.
			w, e := send(sim(), "PUT", "/v1beta1/users/"+uid, "", tc.body)
			if w.Code != 400 || e.Code != 3 || e.Message != tc.msg {
				t.Errorf("got %d %d %q\nwant 400 3 %q", w.Code, e.Code, e.Message, tc.msg)
			}
		})
	}
	// Name-addr forms and a@localhost pass PGV (net/mail).
	for _, ok := range []string{"Jane <jane@example.com>", "a@localhost", "UPPER@Example.COM"} {
		if w, e := send(sim(), "PUT", "/v1beta1/users/"+uid, basic("admin", "pw"), `{"email":"`+ok+`"}`); w.Code != 200 {
			t.Errorf("%s: %d %s", ok, w.Code, e.Message)
		}
	}
}

func TestDecodeAndHandlerOrder(t *testing.T) {
	admin := basic("admin", "pw")
	cases := []struct {
		name, auth, body string
		status, code     int
		msg              string
	}{
		{"malformed JSON before auth", "", `{"email":`, 400, 3, "proto: syntax error"},
		{"top-level null", "", `null`, 400, 3, "proto: syntax error"},
		{"metadata not an object", "", `{"email":"a@b.co","metadata":"x"}`, 400, 3, "proto: syntax error"},
		{"title not a string", "", `{"email":"a@b.co","title":5}`, 400, 3, "invalid value for string type"},
		{"empty body passes validation, then auth", "", ``, 401, 16, "not authenticated"},
		{"empty body with auth", admin, ``, 400, 3, "invalid syntax in body"},
		{"metaschema description", admin, `{"email":"a@b.co","metadata":{"description":5}}`, 400, 3, "invalid syntax in body : metadata schema validation failed"},
		{"metaschema extra keys pass", admin, `{"email":"a@b.co","metadata":{"x":[1,2],"label":{"a":"b"}}}`, 200, 0, ""},
		{"metadata null is empty", admin, `{"email":"a@b.co","metadata":null}`, 200, 0, ""},
		{"lowerCamel and unknown fields", admin, `{"email":"a@b.co","title":"t","createdAt":"x","foo":{}}`, 200, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, e := send(sim(), "PUT", "/v1beta1/users/"+uid, tc.auth, tc.body)
			if w.Code != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("got %d %+v, want %d %d %q", w.Code, e, tc.status, tc.code, tc.msg)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	s := sim()
	s.AddClient("colon", "a:b", true)
	s.AddToken("tok-admin", true)
	s.AddToken("tok-member", false)
	raw := func(v string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(v)) }
	cases := []struct {
		name, auth string
		status     int
	}{
		{"superuser", basic("admin", "pw"), 200},
		{"wrong secret", basic("admin", "px"), 401},
		{"unknown client", basic("nobody", "pw"), 401},
		{"unpadded base64", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("admin:pw1")), 401},
		{"colon in secret never authenticates", raw("colon:a:b"), 401},
		{"no colon", raw("adminpw"), 401},
		{"lowercase prefix", "basic " + strings.TrimPrefix(basic("admin", "pw"), "Basic "), 401},
		{"bearer superuser", "Bearer tok-admin", 200},
		{"bearer member", "Bearer tok-member", 503},
		{"bearer unknown", "Bearer nope", 401},
		{"empty bearer", "Bearer ", 401},
		{"member", basic("member", "pw"), 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []struct{ method, path, body string }{
				{"GET", "/v1beta1/users/" + uid, ""},
				{"PUT", "/v1beta1/users/" + uid, `{"email":"a@b.co"}`},
				{"POST", "/v1beta1/users/" + uid + "/enable", `{}`},
			} {
				w, e := send(s, m.method, m.path, tc.auth, m.body)
				if w.Code != tc.status {
					t.Errorf("%s: %d %+v, want %d", m.method, w.Code, e, tc.status)
				}
				if w.Code == 401 && (w.Header().Get("WWW-Authenticate") != "not authenticated" || e.Code != 16) {
					t.Errorf("%s: 401 without WWW-Authenticate or code 16", m.method)
				}
				if w.Code == 503 && (e.Code != 14 || e.Message != "function not available at the moment") {
					t.Errorf("%s: 503 body %+v", m.method, e)
				}
			}
		})
	}
}

func TestIdentityAndState(t *testing.T) {
	s := sim()
	admin := basic("admin", "pw")
	tick := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.mu.Lock()
	s.now = func() time.Time { tick = tick.Add(time.Second); return tick }
	s.mu.Unlock()

	// updated_at moves on every successful PUT, even one that changes nothing.
	before, _ := s.User(uid)
	body := `{"email":"jane@example.com","title":"T","avatar":"data:image/png;base64,AA==","metadata":{"description":"d"}}`
	if w, _ := send(s, "PUT", "/v1beta1/users/"+uid, admin, body); w.Code != 200 {
		t.Fatal(w.Code)
	}
	after, _ := s.User(uid)
	if after.UpdatedAt == before.UpdatedAt || after.Title != "T" {
		t.Errorf("updated_at %s -> %s", before.UpdatedAt, after.UpdatedAt)
	}
	// Other UUID spellings reach the same user; e-mail and name forms are
	// refused by decision; a blank id is 404.
	for path, want := range map[string]int{
		"/v1beta1/users/" + strings.ToUpper(uid):              200,
		"/v1beta1/users/%7B" + uid + "%7D":                    200,
		"/v1beta1/users/" + strings.ReplaceAll(uid, "-", ""):  200,
		"/v1beta1/users/jane@example.com":                     501,
		"/v1beta1/users/jane":                                 501,
		"/v1beta1/users/%20":                                  404,
		"/v1beta1/users/00000000-0000-4000-8000-000000000000": 404,
		"/v1beta1/users/" + uid + "/enable":                   501, // PUT on the enable path
		"/v1beta1/users/" + uid + "/roles":                    404,
		"/v1beta1/groups/" + uid:                              404,
	} {
		if w, e := send(s, "PUT", path, admin, body); w.Code != want {
			t.Errorf("PUT %s: %d %+v, want %d", path, w.Code, e, want)
		}
	}
	// Disable: GET by UUID and e-mail hide the user, PUT by UUID still works,
	// disabling twice is fine, enable brings it back.
	for i := 0; i < 2; i++ {
		if w, _ := send(s, "POST", "/v1beta1/users/"+uid+"/disable", admin, ``); w.Code != 200 || strings.TrimSpace(w.Body.String()) != "{}" {
			t.Fatalf("disable: %d %s", w.Code, w.Body)
		}
	}
	for _, id := range []string{uid, "jane@example.com"} {
		if w, e := send(s, "GET", "/v1beta1/users/"+id, admin, ""); w.Code != 404 || e.Message != "user doesn't exist" {
			t.Errorf("GET disabled %s: %d %+v", id, w.Code, e)
		}
	}
	if w, _ := send(s, "PUT", "/v1beta1/users/"+uid, admin, `{"email":"jane@example.com","title":"While off"}`); w.Code != 200 {
		t.Errorf("PUT disabled by uuid: %d", w.Code)
	}
	if u, _ := s.User(uid); u.State != "disabled" || u.Title != "While off" {
		t.Errorf("user %+v", u)
	}
	if w, _ := send(s, "POST", "/v1beta1/users/"+uid+"/enable", admin, `{"id":"ignored"}`); w.Code != 200 {
		t.Errorf("enable: %d", w.Code)
	}
	w, _ := send(s, "GET", "/v1beta1/users/"+uid, admin, "")
	var env struct{ User map[string]any }
	_ = json.Unmarshal(w.Body.Bytes(), &env)
	if env.User["state"] != "enabled" || env.User["avatar"] != "" || env.User["metadata"] == nil {
		t.Errorf("GET after enable: %s", w.Body)
	}
	if w, e := send(s, "POST", "/v1beta1/users/"+uid+"/enable", admin, `not json`); w.Code != 400 || e.Code != 3 {
		t.Errorf("enable with a bad body: %d %+v", w.Code, e)
	}
}

func TestSimEndpointsAndLog(t *testing.T) {
	s := sim()
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := s.SeedDemo()
	req, _ := http.NewRequest("PUT", srv.URL+"/v1beta1/users/"+d.UserID+"?x=1", strings.NewReader(`{"email":"jane.doe@example.com","title":"Demo"}`))
	req.Header.Set("Authorization", basic(d.ClientID, d.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("demo credential: %d", resp.StatusCode)
	}
	if u, ok := s.User(d.UserID); !ok || u.Title != "Demo" {
		t.Errorf("demo user %+v", u)
	}
	log := s.Requests()
	if len(log) != 1 || log[0].Method != "PUT" || log[0].Path != "/v1beta1/users/"+d.UserID+"?x=1" || !strings.Contains(string(log[0].Body), `"Demo"`) {
		t.Fatalf("log %+v", log)
	}
	resp, err = http.Get(srv.URL + "/_sim/requests")
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Method, Path, Body string
		Header             http.Header
	}
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if len(got) != 1 || got[0].Body != `{"email":"jane.doe@example.com","title":"Demo"}` || got[0].Header.Get("Authorization") == "" {
		t.Errorf("/_sim/requests %+v", got)
	}
	if resp, _ := http.Get(srv.URL + "/_sim/reset"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /_sim/reset: %d", resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+"/_sim/reset", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %v", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("log after reset: %d", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := sim()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			send(s, "PUT", "/v1beta1/users/"+uid, basic("admin", "pw"), `{"email":"a@b.co","title":"t`+strconv.Itoa(i)+`"}`)
			send(s, "GET", "/v1beta1/users/"+uid, basic("admin", "pw"), "")
			_ = s.Requests()
			_, _ = s.User(uid)
		}(i)
	}
	wg.Wait()
	if n := len(s.Requests()); n != 32 {
		t.Errorf("logged %d requests, want 32", n)
	}
}

func TestListUsersKeywordPagingAndState(t *testing.T) {
	s := New()
	s.AddUser(User{ID: "00000000-0000-4000-8000-000000000001", Name: "anna", Email: "Anna@Corp.example"})
	s.AddUser(User{ID: "00000000-0000-4000-8000-000000000002", Name: "hanna", Email: "hanna@corp.example"})
	s.AddUser(User{ID: "00000000-0000-4000-8000-000000000003", Name: "bob", Email: "bob@corp.example", State: "disabled"})
	s.AddUser(User{ID: "00000000-0000-4000-8000-000000000004", Name: "a_b", Email: "axb@corp.example"})
	cases := []struct {
		name, query string
		status      int
		names       []string
	}{
		{"substring, case-insensitive, no auth needed", "keyword=ANNA", 200, []string{"anna", "hanna"}},
		{"e-mail substring", "keyword=corp.EXAMPLE", 200, []string{"anna", "hanna", "a_b"}},
		{"disabled hidden", "keyword=bob", 200, nil},
		{"state=disabled shows them", "keyword=bob&state=disabled", 200, []string{"bob"}},
		{"underscore is a wildcard", "keyword=a_b", 200, []string{"a_b"}},
		{"percent is a wildcard", "keyword=h%25a@", 200, []string{"hanna"}},
		{"page size 1, page 2", "keyword=corp&page_size=1&page_num=2", 200, []string{"hanna"}},
		{"past the end", "keyword=corp&page_size=2&page_num=3", 200, nil},
		{"zero means default", "page_size=0", 200, []string{"anna", "hanna", "a_b"}},
		{"negative page size", "page_size=-1", 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest("GET", "/v1beta1/users?"+tc.query, nil))
			if w.Code != tc.status {
				t.Fatalf("status %d %s", w.Code, w.Body)
			}
			if tc.status != 200 {
				return
			}
			var out struct {
				Count int    `json:"count"`
				Users []User `json:"users"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range out.Users {
				names = append(names, u.Name)
				if u.State != "" || len(u.Metadata) != 0 {
					t.Errorf("list item shows state %q metadata %v; Frontier's SELECT leaves them out", u.State, u.Metadata)
				}
			}
			if out.Count != len(out.Users) || strings.Join(names, ",") != strings.Join(tc.names, ",") {
				t.Fatalf("count %d names %v, want %v", out.Count, names, tc.names)
			}
		})
	}
}
