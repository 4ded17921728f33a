// Package volterrasim simulates the F5 Distributed Cloud console API calls
// the gateway uses (../shared/vendors/volterra.md): user settings, the
// settings image, and whoami. Every call acts on the owner of the
// `Authorization: APIToken <token>` credential; there is no user id in any
// path. PUT user/settings replaces all five fields (the adapter must read
// first). Errors are grpc-gateway style {"code","message","details"}.
// Standard library only; it never imports the adapter.
//
// Decisions where the vendor notes say GUESS: unknown body fields and
// unknown notification codes are 400 (code 3); both snake_case and
// lowerCamelCase names are accepted; the image endpoint takes png, jpeg,
// gif and webp up to 1 MiB; OTP changes settle at once.
package volterrasim

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// Request is one received request.
type Request struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// User is one console user's state.
type User struct {
	Name, Email, FirstName, LastName, Tenant, UUID string
	OTP                                            bool
	Notifications                                  map[string]bool // code -> enabled
	Image                                          string          // base64, set through settings or the image call
	ImageType                                      string
}

// Notification is a catalogue entry.
type Notification struct {
	Code, Label, Description string
	Default                  bool
}

// Catalogue is the notification codes the simulator knows.
func Catalogue() []Notification {
	return []Notification{
		{"notif-1", "Support ticket updates", "A support ticket changed", true},
		{"notif-2", "Application alerts", "Alerts raised for your applications", true},
		{"notif-3", "Security events", "Security events in your tenant", false},
		{"notif-4", "Billing", "Invoices and plan changes", false},
		{"notif-5", "Maintenance", "Planned maintenance windows", false},
	}
}

// Sim is the simulator.
type Sim struct {
	mu       sync.Mutex
	users    map[string]*User // by name
	tokens   map[string]token
	log      []Request
	maxImage int
}

type token struct {
	user     string
	readOnly bool
}

// New returns an empty simulator.
func New() *Sim {
	return &Sim{users: map[string]*User{}, tokens: map[string]token{}, maxImage: 1 << 20}
}

// AddUser stores u.
func (s *Sim) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Notifications == nil {
		u.Notifications = map[string]bool{}
		for _, n := range Catalogue() {
			u.Notifications[n.Code] = n.Default
		}
	}
	s.users[u.Name] = &u
}

// AddToken issues an API token for a user; readOnly tokens get 403 on writes.
func (s *Sim) AddToken(tok, user string, readOnly bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = token{user: user, readOnly: readOnly}
}

// User returns a copy of a user.
func (s *Sim) User(name string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		return User{}, false
	}
	cp := *u
	cp.Notifications = map[string]bool{}
	for k, v := range u.Notifications {
		cp.Notifications[k] = v
	}
	return cp, true
}

// Requests returns every request received.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Demo is the demo user's credential.
type Demo struct {
	UserName string
	Token    string
}

// Demo values.
const (
	DemoUser  = "jane.doe"
	DemoToken = "vsim-demo-token-0000000000000000"
)

// SeedDemo adds the demo user and its API token.
func (s *Sim) SeedDemo() Demo {
	s.AddUser(User{Name: DemoUser, Email: "jane.doe@example.com", FirstName: "Jane", LastName: "Doe", Tenant: "acme", UUID: "5b0c9a4e-0d7e-4c64-a3c2-0f6a1f2e3d4c", OTP: true})
	s.AddToken(DemoToken, DemoUser, false)
	return Demo{UserName: DemoUser, Token: DemoToken}
}

const (
	settingsPath = "/api/web/namespaces/system/user/settings"
	imagePath    = settingsPath + "/image"
	whoamiPath   = "/api/web/custom/namespaces/system/whoami"
)

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	switch r.URL.Path {
	case "/_sim/requests":
		s.mu.Lock()
		b, _ := json.Marshal(s.log)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	case "/_sim/reset":
		s.mu.Lock()
		s.log = nil
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.mu.Lock()
	s.log = append(s.log, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)})
	s.mu.Unlock()

	route := map[string]bool{settingsPath: true, imagePath: true, whoamiPath: true}
	if !route[r.URL.Path] {
		writeErr(w, http.StatusNotFound, 5, "Not Found")
		return
	}
	u, tok, ok := s.auth(w, r)
	if !ok {
		return
	}
	write := r.Method != http.MethodGet
	if write && tok.readOnly {
		writeErr(w, http.StatusForbidden, 7, "no permission to perform the operation")
		return
	}
	switch {
	case r.URL.Path == whoamiPath && r.Method == http.MethodGet:
		s.whoami(w, u)
	case r.URL.Path == settingsPath && r.Method == http.MethodGet:
		s.getSettings(w, u)
	case r.URL.Path == settingsPath && r.Method == http.MethodPut:
		s.putSettings(w, u, body)
	case r.URL.Path == imagePath && r.Method == http.MethodGet:
		s.mu.Lock()
		writeJSON(w, 200, map[string]any{"content_type": u.ImageType, "data": u.Image, "extensions": []any{}})
		s.mu.Unlock()
	case r.URL.Path == imagePath && r.Method == http.MethodPut:
		s.putImage(w, u, body)
	case r.URL.Path == imagePath && r.Method == http.MethodDelete:
		s.mu.Lock()
		u.Image, u.ImageType = "", ""
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{})
	default:
		writeErr(w, http.StatusNotImplemented, 12, "Method Not Allowed")
	}
}

func (s *Sim) auth(w http.ResponseWriter, r *http.Request) (*User, token, bool) {
	tokStr, ok := strings.CutPrefix(r.Header.Get("Authorization"), "APIToken ")
	s.mu.Lock()
	tok, known := s.tokens[tokStr]
	u := s.users[tok.user]
	s.mu.Unlock()
	if !ok || !known || u == nil {
		writeErr(w, http.StatusUnauthorized, 16, "not authorized: invalid or expired API token")
		return nil, token{}, false
	}
	return u, tok, true
}

func (s *Sim) whoami(w http.ResponseWriter, u *User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"name": u.Name, "email": u.Email, "first_name": u.FirstName, "last_name": u.LastName,
		"tenant": u.Tenant, "user_uuid": u.UUID, "type": "USER", "idm_type": "VOLTERRA_MANAGED", "disabled": false, "namespace_roles": []any{}})
}

func (s *Sim) getSettings(w http.ResponseWriter, u *User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var notes []map[string]any
	for _, n := range Catalogue() {
		notes = append(notes, map[string]any{"code": n.Code, "label": n.Label, "description": n.Description, "enabled": u.Notifications[n.Code]})
	}
	status := "OTP_DISABLED"
	if u.OTP {
		status = "OTP_ENABLED"
	}
	writeJSON(w, 200, map[string]any{
		"image":                   u.Image,
		"initial_access":          map[string]any{"email_sent": false, "requested": false},
		"is_next_request_allowed": true,
		"notifications":           notes,
		"otp_enabled":             u.OTP,
		"otp_status":              status,
	})
}

// putSettings replaces all five fields: what the body leaves out is reset.
func (s *Sim) putSettings(w http.ResponseWriter, u *User, body []byte) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		writeErr(w, http.StatusBadRequest, 3, "invalid request body: expected a JSON object")
		return
	}
	var (
		notes       []string
		first, last string
		image       string
		otp         bool
	)
	for k, v := range raw {
		var err error
		switch k {
		case "enabled_notifications", "enabledNotifications":
			err = json.Unmarshal(v, &notes)
		case "first_name", "firstName":
			err = json.Unmarshal(v, &first)
		case "last_name", "lastName":
			err = json.Unmarshal(v, &last)
		case "image":
			err = json.Unmarshal(v, &image)
			if err == nil && image != "" {
				_, err = base64.StdEncoding.DecodeString(image)
			}
		case "otp_enabled", "otpEnabled":
			err = json.Unmarshal(v, &otp)
		default:
			writeErr(w, http.StatusBadRequest, 3, "invalid request body: unknown field \""+k+"\"")
			return
		}
		if err != nil {
			writeErr(w, http.StatusBadRequest, 3, "invalid request body: bad value for field \""+k+"\"")
			return
		}
	}
	known := map[string]bool{}
	for _, n := range Catalogue() {
		known[n.Code] = true
	}
	set := map[string]bool{}
	for _, n := range Catalogue() {
		set[n.Code] = false
	}
	for _, c := range notes {
		if !known[c] {
			writeErr(w, http.StatusBadRequest, 3, "invalid notification code \""+c+"\"")
			return
		}
		set[c] = true
	}
	s.mu.Lock()
	u.FirstName, u.LastName, u.OTP, u.Notifications, u.Image = first, last, otp, set, image
	if image == "" {
		u.ImageType = ""
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{})
}

func (s *Sim) putImage(w http.ResponseWriter, u *User, body []byte) {
	var in struct {
		ContentType string `json:"content_type"`
		Image       string `json:"image"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeErr(w, http.StatusBadRequest, 3, "invalid request body")
		return
	}
	data, err := base64.StdEncoding.DecodeString(in.Image)
	allowed := map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}
	switch {
	case err != nil || len(data) == 0:
		writeErr(w, http.StatusBadRequest, 3, "image must be non-empty base64")
		return
	case !allowed[in.ContentType]:
		writeErr(w, http.StatusBadRequest, 3, "unsupported image content type")
		return
	case len(data) > s.maxImage:
		writeErr(w, http.StatusBadRequest, 3, "image too large")
		return
	}
	s.mu.Lock()
	u.Image, u.ImageType = in.Image, in.ContentType
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{})
}

// EnabledCodes lists a user's enabled codes, sorted.
func (u User) EnabledCodes() []string {
	var out []string
	for c, on := range u.Notifications {
		if on {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

func writeErr(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "details": []any{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
