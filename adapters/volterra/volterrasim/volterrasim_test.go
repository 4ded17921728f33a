package volterrasim_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/volterra/volterrasim"
)

const (
	settings = "/api/web/namespaces/system/user/settings"
	image    = settings + "/image"
	notes    = "/api/web/namespaces/system/user/notifications"
	whoami   = "/api/web/custom/namespaces/system/whoami"
	tok      = "tok-jane"
)

func newSim(t *testing.T) (*volterrasim.Sim, *httptest.Server) {
	t.Helper()
	s := volterrasim.New()
	s.AddUser(volterrasim.User{Name: "jane", Email: "jane@example.com", FirstName: "Jane", LastName: "Doe", Tenant: "acme", UUID: "u-1", OTP: true, Image: "AAAA", ImageType: "image/png"})
	s.AddUser(volterrasim.User{Name: "bot", Type: "SERVICE", UUID: "u-2"})
	s.AddToken(tok, "jane", false)
	s.AddToken("tok-ro", "jane", true)
	s.AddToken("tok-bot", "bot", false)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func do(t *testing.T, srv *httptest.Server, method, path, auth, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

type grpcErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

func decodeErr(t *testing.T, b []byte) grpcErr {
	t.Helper()
	var e grpcErr
	if err := json.Unmarshal(b, &e); err != nil || e.Message == "" || e.Details == nil {
		t.Fatalf("error body %s is not {code,message,details}", b)
	}
	return e
}

func TestAuth(t *testing.T) {
	_, srv := newSim(t)
	cases := []struct {
		name   string
		method string
		auth   string
		status int
		code   int
	}{
		{"no header", "GET", "", 401, 16},
		{"bearer scheme", "GET", "Bearer " + tok, 401, 16},
		{"scheme in another case", "GET", "apitoken " + tok, 401, 16},
		{"two spaces", "GET", "APIToken  " + tok, 401, 16},
		{"unknown token", "GET", "APIToken nope", 401, 16},
		{"scheme alone", "GET", "APIToken ", 401, 16},
		{"valid", "GET", "APIToken " + tok, 200, 0},
		{"read-only token reads", "GET", "APIToken tok-ro", 200, 0},
		{"read-only token writes", "PUT", "APIToken tok-ro", 403, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			if tc.method == "PUT" {
				body = `{"first_name":"X"}`
			}
			status, _, b := do(t, srv, tc.method, settings, tc.auth, body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, b)
			}
			if tc.code != 0 && decodeErr(t, b).Code != tc.code {
				t.Errorf("code in %s, want %d", b, tc.code)
			}
		})
	}
}

func TestGetSettingsShape(t *testing.T) {
	_, srv := newSim(t)
	status, h, b := do(t, srv, "GET", settings, "APIToken "+tok, "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s", status, h)
	}
	var got struct {
		Image         string `json:"image"`
		InitialAccess *struct {
			EmailSent bool `json:"email_sent"`
			Requested bool `json:"requested"`
		} `json:"initial_access"`
		IsNextRequestAllowed *bool `json:"is_next_request_allowed"`
		Notifications        []struct {
			Code, Label, Description string
			Enabled                  *bool
		} `json:"notifications"`
		OTPEnabled bool   `json:"otp_enabled"`
		OTPStatus  string `json:"otp_status"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Image != "AAAA" || !got.OTPEnabled || got.OTPStatus != "OTP_ENABLED" || got.InitialAccess == nil || got.IsNextRequestAllowed == nil {
		t.Errorf("settings %s", b)
	}
	if len(got.Notifications) != len(volterrasim.Catalogue()) {
		t.Fatalf("notifications %s", b)
	}
	for i, n := range got.Notifications {
		c := volterrasim.Catalogue()[i]
		if n.Code != c.Code || n.Label == "" || n.Description == "" || n.Enabled == nil || *n.Enabled != c.Default {
			t.Errorf("notification %d: %+v", i, n)
		}
	}
	if strings.Contains(string(b), "first_name") {
		t.Error("GET settings carries no names (section 1)")
	}
}

func TestWhoami(t *testing.T) {
	_, srv := newSim(t)
	for _, ns := range []string{"system", "default"} {
		status, _, b := do(t, srv, "GET", "/api/web/custom/namespaces/"+ns+"/whoami", "APIToken "+tok, "")
		var w map[string]any
		_ = json.Unmarshal(b, &w)
		if status != 200 || w["name"] != "jane" || w["first_name"] != "Jane" || w["last_name"] != "Doe" || w["user_uuid"] != "u-1" || w["type"] != "USER" || w["tenant"] != "acme" {
			t.Errorf("%s: %d %s", ns, status, b)
		}
	}
	if status, _, b := do(t, srv, "GET", whoami, "APIToken tok-bot", ""); status != 200 || !strings.Contains(string(b), `"type":"SERVICE"`) {
		t.Errorf("service user whoami: %d %s", status, b)
	}
}

func TestPutSettingsSemantics(t *testing.T) {
	cases := []struct {
		name string
		sem  volterrasim.PutSemantics
		body string
		want volterrasim.User
	}{
		{"replace resets what is left out", volterrasim.Replace, `{"first_name":"Janet"}`,
			volterrasim.User{FirstName: "Janet", LastName: "", OTP: false, Image: "", ImageType: ""}},
		{"merge keeps what is left out", volterrasim.Merge, `{"first_name":"Janet"}`,
			volterrasim.User{FirstName: "Janet", LastName: "Doe", OTP: true, Image: "AAAA", ImageType: "image/png"}},
		{"full body under replace", volterrasim.Replace, `{"enabled_notifications":["notif-3"],"first_name":"J","last_name":"D","image":"AAAA","otp_enabled":true}`,
			volterrasim.User{FirstName: "J", LastName: "D", OTP: true, Image: "AAAA", ImageType: "image/png"}},
		{"lowerCamelCase accepted", volterrasim.Replace, `{"firstName":"A","lastName":"B","otpEnabled":true,"enabledNotifications":[]}`,
			volterrasim.User{FirstName: "A", LastName: "B", OTP: true}},
		{"new image through settings has no type", volterrasim.Merge, `{"image":"AAEC"}`,
			volterrasim.User{FirstName: "Jane", LastName: "Doe", OTP: true, Image: "AAEC"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newSim(t)
			s.SetPutSemantics(tc.sem)
			status, _, b := do(t, srv, "PUT", settings, "APIToken "+tok, tc.body)
			if status != 200 || strings.TrimSpace(string(b)) != "{}" {
				t.Fatalf("%d %s", status, b)
			}
			u, _ := s.User("jane")
			got := volterrasim.User{FirstName: u.FirstName, LastName: u.LastName, OTP: u.OTP, Image: u.Image, ImageType: u.ImageType}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if u.Email != "jane@example.com" || u.UUID != "u-1" {
				t.Error("PUT settings changed identity fields")
			}
		})
	}
	t.Run("notifications", func(t *testing.T) {
		s, srv := newSim(t)
		if status, _, b := do(t, srv, "PUT", settings, "APIToken "+tok, `{"enabled_notifications":["notif-3","notif-5"]}`); status != 200 {
			t.Fatalf("%d %s", status, b)
		}
		u, _ := s.User("jane")
		if got := u.EnabledCodes(); !reflect.DeepEqual(got, []string{"notif-3", "notif-5"}) {
			t.Errorf("enabled %v", got)
		}
		_, _, b := do(t, srv, "GET", notes, "APIToken "+tok, "")
		if !strings.Contains(string(b), `"code":"notif-3","description":"Security events in your tenant","enabled":true`) {
			t.Errorf("GET notifications %s", b)
		}
	})
}

func TestPutSettingsValidation(t *testing.T) {
	cases := []struct{ name, body, msg string }{
		{"not JSON", `{`, "expected a JSON object"},
		{"not an object", `[]`, "expected a JSON object"},
		{"empty body", ``, "expected a JSON object"},
		{"unknown member", `{"email":"x@example.com"}`, `unknown field "email"`},
		{"wrong type", `{"otp_enabled":"yes"}`, `bad value for field "otp_enabled"`},
		{"invalid base64 image", `{"image":"***"}`, `bad value for field "image"`},
		{"unknown notification code", `{"enabled_notifications":["notif-99"]}`, `invalid notification code "notif-99"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newSim(t)
			status, _, b := do(t, srv, "PUT", settings, "APIToken "+tok, tc.body)
			if status != 400 {
				t.Fatalf("%d %s", status, b)
			}
			if e := decodeErr(t, b); e.Code != 3 || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("error %+v, want %q", e, tc.msg)
			}
			if u, _ := s.User("jane"); u.FirstName != "Jane" || !u.OTP {
				t.Error("a refused PUT changed the user")
			}
		})
	}
}

func TestImage(t *testing.T) {
	s, srv := newSim(t)
	data := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nrest"))
	if status, _, b := do(t, srv, "PUT", image, "APIToken "+tok, `{"content_type":"image/jpeg","image":"`+data+`"}`); status != 200 || strings.TrimSpace(string(b)) != "{}" {
		t.Fatalf("%d %s", status, b)
	}
	if u, _ := s.User("jane"); u.Image != data || u.ImageType != "image/jpeg" {
		t.Errorf("stored %+v", u)
	}
	_, _, b := do(t, srv, "GET", image, "APIToken "+tok, "")
	var hb struct {
		ContentType string `json:"content_type"`
		Data        string `json:"data"`
	}
	if err := json.Unmarshal(b, &hb); err != nil || hb.ContentType != "image/jpeg" || hb.Data != data {
		t.Errorf("GET image (HttpBody) %s", b)
	}
	if status, _, _ := do(t, srv, "DELETE", image, "APIToken "+tok, ""); status != 200 {
		t.Error("DELETE image")
	}
	if u, _ := s.User("jane"); u.Image != "" || u.ImageType != "" {
		t.Errorf("after DELETE %+v", u)
	}
	big := base64.StdEncoding.EncodeToString(make([]byte, volterrasim.MaxImageBytes+1))
	for name, body := range map[string]string{
		"bad base64":       `{"content_type":"image/png","image":"***"}`,
		"empty":            `{"content_type":"image/png","image":""}`,
		"unsupported type": `{"content_type":"image/bmp","image":"AAAA"}`,
		"unknown member":   `{"content_type":"image/png","image":"AAAA","name":"x"}`,
		"missing type":     `{"image":"AAAA"}`,
		"too large":        `{"content_type":"image/png","image":"` + big + `"}`,
	} {
		if status, _, b := do(t, srv, "PUT", image, "APIToken "+tok, body); status != 400 || decodeErr(t, b).Code != 3 {
			t.Errorf("%s: %d %s", name, status, b)
		}
	}
}

func TestRoutingAndServiceUsers(t *testing.T) {
	_, srv := newSim(t)
	cases := []struct {
		name, method, path, auth string
		status                   int
	}{
		{"unknown path", "GET", "/api/web/namespaces/system/user/settingz", "APIToken " + tok, 404},
		{"user id in path does not exist", "GET", "/api/web/namespaces/system/user/jane/settings", "APIToken " + tok, 404},
		{"method the path lacks", "POST", settings, "APIToken " + tok, 501},
		{"unauthenticated before method check", "POST", settings, "", 401},
		{"service user has no settings", "GET", settings, "APIToken tok-bot", 404},
		{"service user has no image", "PUT", image, "APIToken tok-bot", 404},
		{"unknown path before authentication", "GET", "/nowhere", "", 404},
		{"trailing slash is another path", "GET", settings + "/", "APIToken " + tok, 404},
		{"HEAD is a method the path lacks", "HEAD", settings, "APIToken " + tok, 501},
		{"DELETE of the image exists", "DELETE", image, "APIToken " + tok, 200},
		{"whoami of any namespace", "GET", "/api/web/custom/namespaces/other/whoami", "APIToken " + tok, 200},
		{"whoami needs its namespace", "GET", "/api/web/custom/namespaces//whoami", "APIToken " + tok, 404},
		{"service user has a whoami", "GET", "/api/web/custom/namespaces/system/whoami", "APIToken tok-bot", 200},
		{"simulator log is GET only", "POST", "/_sim/requests", "", 405},
	}
	for _, tc := range cases {
		if status, _, b := do(t, srv, tc.method, tc.path, tc.auth, ""); status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, b, tc.status)
		}
	}
}

func TestFaultsAndErrorShapes(t *testing.T) {
	s, srv := newSim(t)
	s.FailNext("PUT", settings, 429, "30")
	s.FailNext("PUT", settings, 409, "")
	status, h, b := do(t, srv, "PUT", settings, "APIToken "+tok, `{}`)
	if status != 429 || h.Get("Retry-After") != "30" || decodeErr(t, b).Code != 8 {
		t.Errorf("first fault: %d %v %s", status, h, b)
	}
	s.SetStringErrors(true)
	status, _, b = do(t, srv, "PUT", settings, "APIToken "+tok, `{}`)
	var msg string
	if status != 409 || json.Unmarshal(b, &msg) != nil || msg == "" {
		t.Errorf("second fault as a bare JSON string: %d %s", status, b)
	}
	if status, _, _ := do(t, srv, "GET", settings, "APIToken "+tok, ""); status != 200 {
		t.Error("faults are one-shot")
	}
	if u, _ := s.User("jane"); u.FirstName != "Jane" {
		t.Error("a failed PUT changed the user")
	}
	s.RevokeToken(tok)
	if status, _, _ := do(t, srv, "GET", settings, "APIToken "+tok, ""); status != 401 {
		t.Error("a revoked token still works")
	}
}

func TestRequestLog(t *testing.T) {
	s, srv := newSim(t)
	do(t, srv, "GET", settings+"?x=1", "APIToken "+tok, "")
	do(t, srv, "PUT", settings, "APIToken "+tok, `{"first_name":"Q"}`)
	got := s.Requests()
	if len(got) != 2 || got[0].Path != settings+"?x=1" || got[1].Method != "PUT" || string(got[1].Body) != `{"first_name":"Q"}` || got[1].Header.Get("Authorization") != "APIToken "+tok {
		t.Fatalf("log %+v", got)
	}
	_, _, b := do(t, srv, "GET", "/_sim/requests", "", "")
	var over []struct{ Method, Path, Body string }
	if err := json.Unmarshal(b, &over); err != nil || len(over) != 2 || over[1].Body != `{"first_name":"Q"}` {
		t.Fatalf("/_sim/requests %s", b)
	}
	if status, _, _ := do(t, srv, "POST", "/_sim/reset", "", ""); status != 204 {
		t.Error("reset")
	}
	if len(s.Requests()) != 0 {
		t.Error("reset kept the log")
	}
	// Concurrent use is safe (run with -race).
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PUT", srv.URL+settings, strings.NewReader(`{"first_name":"C"}`))
			req.Header.Set("Authorization", "APIToken "+tok)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			_ = s.Requests()
			_, _ = s.User("jane")
		}()
	}
	wg.Wait()
	if n := len(s.Requests()); n != 20 {
		t.Errorf("%d requests logged, want 20", n)
	}
}

func TestSeedDemo(t *testing.T) {
	s := volterrasim.New()
	d := s.SeedDemo()
	srv := httptest.NewServer(s)
	defer srv.Close()
	status, _, b := do(t, srv, "GET", whoami, "APIToken "+d.Token, "")
	if status != 200 || !strings.Contains(string(b), `"user_uuid":"`+d.UserUUID+`"`) || !strings.Contains(string(b), `"name":"`+d.UserName+`"`) {
		t.Errorf("demo whoami %d %s", status, b)
	}
}
