package frontiersim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
