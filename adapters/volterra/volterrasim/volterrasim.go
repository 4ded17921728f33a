// Package volterrasim simulates the F5 Distributed Cloud console API calls
// the gateway uses, read independently from docs/vendors/volterra.md and F5's
// OpenAPI files (ves.io.schema.user.setting, ves.io.schema.user): user
// settings (GET/PUT), the settings image (GET/PUT/DELETE), notification
// preferences (GET) and whoami.
//
// What it enforces:
//   - Auth (section 1, 5): `Authorization: APIToken <token>` with that exact
//     scheme word and one space; an unknown token is 401, a read-only token
//     writing is 403. Every /user/... call acts on the token's owner: there
//     is no user id in any path.
//   - PUT user/settings replaces all five fields by default (section 6
//     GUESS): a member the body leaves out is reset (names to "", OTP off,
//     notifications off, image removed). SetPutSemantics(Merge) switches to
//     merging, so a test can show an adapter is safe either way.
//   - GET user/settings answers UserSettingsResponse: notifications as
//     objects {code,label,description,enabled} from a catalogue, otp_status.
//   - PUT answers 200 {}.
//   - Errors are grpc-gateway objects {"code","message","details"} (section
//     5 GUESS), or the spec's bare JSON string after SetStringErrors(true).
//
// Decisions where the notes say GUESS: unknown body members, wrong value
// types and invalid base64 are 400 (grpc code 3); both snake_case and
// lowerCamelCase member names are accepted; an unknown notification code is
// 400; the image endpoint takes image/png, image/jpeg, image/gif and
// image/webp up to 1 MiB decoded; a SERVICE user (service credential) has no
// settings: settings and image calls are 404; OTP changes settle at once. A
// method a path does not have is 501 (grpc-gateway maps it to
// Unimplemented); an unknown path is 404.
//
// Standard library only; it never imports the adapter.
package volterrasim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/identity-gateway/identity-gateway/adapters/simlog"
)

// Request is one received request, as logged.
type Request struct {
	Method string
	// Path is the request URI: path and query.
	Path   string
	Header http.Header
	Body   []byte
}

// MarshalJSON renders the body as a string, as GET /_sim/requests shows it.
func (r Request) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Method string      `json:"method"`
		Path   string      `json:"path"`
		Header http.Header `json:"header"`
		Body   string      `json:"body"`
	}{r.Method, r.Path, r.Header, string(r.Body)})
}

// User is one console user's state.
type User struct {
	// Name is the user name (whoami "name"); the key of the user.
	Name      string
	Email     string
	FirstName string
	LastName  string
	Tenant    string
	UUID      string
	// Type is whoami "type": USER (default) or SERVICE.
	Type string
	OTP  bool
	// Notifications maps a catalogue code to enabled; AddUser fills codes
	// left out with the catalogue defaults.
	Notifications map[string]bool
	// Image is the avatar, base64; ImageType its content type.
	Image     string
	ImageType string
}

// EnabledCodes lists the user's enabled notification codes, sorted.
func (u User) EnabledCodes() []string {
	var out []string
	for c, on := range u.Notifications {
		if on {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// Notification is a catalogue entry (F5's "uam config" defaults).
type Notification struct {
	Code, Label, Description string
	Default                  bool
}

// Catalogue returns the notification codes the simulator knows. F5
// publishes only the examples notif-1 and notif-2; the rest are invented
// so a test can tell "kept" from "reset to default".
func Catalogue() []Notification {
	return []Notification{
		{"notif-1", "Support ticket updates", "A support ticket you follow changed", true},
		{"notif-2", "Application alerts", "Alerts raised for your applications", true},
		{"notif-3", "Security events", "Security events in your tenant", false},
		{"notif-4", "Billing", "Invoices and plan changes", false},
		{"notif-5", "Maintenance", "Planned maintenance windows", false},
	}
}

// PutSemantics says what PUT user/settings does with members the body
// leaves out.
type PutSemantics int

const (
	// Replace resets what the body leaves out (the default; section 6).
	Replace PutSemantics = iota
	// Merge keeps what the body leaves out.
	Merge
)

// MaxImageBytes is the decoded avatar limit the simulator enforces.
const MaxImageBytes = 1 << 20

// Sim is the simulator. The zero value is not usable; call New.
type Sim struct {
	muxOnce sync.Once
	mux     *http.ServeMux

	mu        sync.Mutex
	users     map[string]*User // by name
	tokens    map[string]token
	log       []Request
	put       PutSemantics
	stringErr bool
	faults    []fault
}

type token struct {
	user     string
	readOnly bool
}

type fault struct {
	method, path string
	status       int
	retryAfter   string
}

// New returns an empty simulator with replace semantics.
func New() *Sim {
	return &Sim{users: map[string]*User{}, tokens: map[string]token{}}
}

// AddUser stores (or replaces) u, keyed by u.Name.
func (s *Sim) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Type == "" {
		u.Type = "USER"
	}
	// Explicit choices over the catalogue defaults, as GET
	// user/notifications merges them (section 2.4).
	notes := map[string]bool{}
	for _, n := range Catalogue() {
		notes[n.Code] = n.Default
	}
	maps.Copy(notes, u.Notifications)
	u.Notifications = notes
	s.users[u.Name] = &u
}

// AddToken issues an API token owned by user. A readOnly token may read
// but gets 403 on every write (a credential lacking RBAC, section 5).
func (s *Sim) AddToken(tok, user string, readOnly bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = token{user: user, readOnly: readOnly}
}

// RevokeToken makes tok unknown (401 from then on).
func (s *Sim) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tok)
}

// SetPutSemantics chooses replace (default) or merge for PUT user/settings.
func (s *Sim) SetPutSemantics(p PutSemantics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put = p
}

// SetStringErrors makes error bodies the spec's bare JSON string instead of
// the grpc-gateway object.
func (s *Sim) SetStringErrors(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stringErr = on
}

// FailNext makes the next authenticated request for method and path (path
// without query) answer status with a generic error body; retryAfter, when
// not empty, is sent as Retry-After (an extension: F5 documents none).
// Faults queue in order.
func (s *Sim) FailNext(method, path string, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: method, path: path, status: status, retryAfter: retryAfter})
}

// User returns a copy of the named user.
func (s *Sim) User(name string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		return User{}, false
	}
	cp := *u
	cp.Notifications = maps.Clone(u.Notifications)
	return cp, true
}

// Requests returns the latest simlog.Limit requests received, in order,
// the /_sim endpoints excepted.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.log))
	for i, r := range s.log {
		out[i] = Request{Method: r.Method, Path: r.Path, Header: r.Header.Clone(), Body: bytes.Clone(r.Body)}
	}
	return out
}

// Reset clears the request log.
func (s *Sim) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// Demo is what a gateway config needs to reach the demo user.
type Demo struct {
	// UserName is the demo user's name (whoami "name").
	UserName string
	// UserUUID is whoami's user_uuid: the demo user's vendor id in the
	// gateway's users map (the adapter checks the token's owner against it).
	UserUUID string
	// Token is the demo user's own API token ("My Credentials"): the
	// gateway's service token in dev, or a caller's pass-through token.
	Token string
}

// Demo values.
const (
	DemoUser  = "jane.doe"
	DemoUUID  = "5b0c9a4e-0d7e-4c64-a3c2-0f6a1f2e3d4c"
	DemoToken = "vsim-demo-token-0000000000000000"
)

// SeedDemo adds the demo user and its API token.
func (s *Sim) SeedDemo() Demo {
	s.AddUser(User{Name: DemoUser, Email: "jane.doe@example.com", FirstName: "Jane", LastName: "Doe",
		Tenant: "acme", UUID: DemoUUID, OTP: true})
	s.AddToken(DemoToken, DemoUser, false)
	return Demo{UserName: DemoUser, UserUUID: DemoUUID, Token: DemoToken}
}

const (
	apiPrefix     = "/api/web/namespaces/system/user/"
	settingsPath  = apiPrefix + "settings"
	imagePath     = settingsPath + "/image"
	notesPath     = apiPrefix + "notifications"
	whoamiPrefix  = "/api/web/custom/namespaces/"
	whoamiSuffix  = "/whoami"
	maxBodyBytes  = 4 << 20
	codeInvalid   = 3  // INVALID_ARGUMENT
	codeNotFound  = 5  // NOT_FOUND
	codeDenied    = 7  // PERMISSION_DENIED
	codeUnimpl    = 12 // UNIMPLEMENTED
	codeUnauth    = 16 // UNAUTHENTICATED
	codeResources = 8  // RESOURCE_EXHAUSTED
	codeInternal  = 13 // INTERNAL
	codeUnavail   = 14 // UNAVAILABLE
	codeDeadline  = 4  // DEADLINE_EXCEEDED
	codeAborted   = 10 // ABORTED
)

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.routes().ServeHTTP(w, r)
}

// routes is the simulator's router, built once. The vendor's routes
// answer as grpc-gateway does: an unknown path is 404 before any
// authentication; a known path with a method it lacks is 501, after it.
func (s *Sim) routes() *http.ServeMux {
	s.muxOnce.Do(func() {
		m := http.NewServeMux()
		m.HandleFunc("GET /_sim/requests", func(w http.ResponseWriter, r *http.Request) {
			b, _ := json.Marshal(s.Requests())
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		})
		m.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) {
			s.Reset()
			w.WriteHeader(http.StatusNoContent)
		})
		// The catch-all below would take other methods of these paths.
		for path, allow := range map[string]string{"/_sim/requests": http.MethodGet, "/_sim/reset": http.MethodPost} {
			m.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Allow", allow)
				http.Error(w, allow+" only", http.StatusMethodNotAllowed)
			})
		}
		get := func(h func(http.ResponseWriter, *User)) vendorHandler {
			return func(w http.ResponseWriter, u *User, _ []byte) { h(w, u) }
		}
		vendor := []struct {
			pattern string
			// anyProfile: service users (no user profile) may call it.
			anyProfile bool
			methods    map[string]vendorHandler
		}{
			{whoamiPrefix + "{namespace}" + whoamiSuffix, true, map[string]vendorHandler{http.MethodGet: get(s.whoami)}},
			{settingsPath, false, map[string]vendorHandler{http.MethodGet: get(s.getSettings), http.MethodPut: s.putSettings}},
			{imagePath, false, map[string]vendorHandler{http.MethodGet: get(s.getImage), http.MethodPut: s.putImage, http.MethodDelete: get(s.deleteImage)}},
			// PUT (NtfnPreferencesMap) exists at F5 but is not simulated.
			{notesPath, false, map[string]vendorHandler{http.MethodGet: get(s.getNotifications)}},
		}
		for _, v := range vendor {
			for method, h := range v.methods {
				m.Handle(method+" "+v.pattern, s.vendorRoute(v.anyProfile, h))
			}
			// Every other method of a known path: 501 once authenticated.
			m.Handle(v.pattern, s.logged(func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if _, _, ok := s.auth(w, r); ok {
					s.writeErr(w, http.StatusNotImplemented, codeUnimpl, "Method Not Allowed")
				}
			}))
		}
		m.Handle("/", s.logged(func(w http.ResponseWriter, r *http.Request, _ []byte) {
			s.writeErr(w, http.StatusNotFound, codeNotFound, "Not Found")
		}))
		s.mux = m
	})
	return s.mux
}

// vendorHandler serves one method of one vendor route for the
// authenticated user u, with the request body.
type vendorHandler func(w http.ResponseWriter, u *User, body []byte)

// logged records the request in the simulator's log and reads its body
// (up to maxBodyBytes) before h.
func (s *Sim) logged(h func(http.ResponseWriter, *http.Request, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		s.mu.Lock()
		s.log = simlog.Append(s.log, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
		if err != nil || len(body) > maxBodyBytes {
			s.writeErr(w, http.StatusBadRequest, codeInvalid, "request body too large or unreadable")
			return
		}
		h(w, r, body)
	})
}

// vendorRoute wraps a vendor route in what every one of them does first,
// in the vendor's order: log, authenticate, answer a queued fault, refuse
// writes of read-only tokens and, except for whoami (anyProfile), users
// without a profile.
func (s *Sim) vendorRoute(anyProfile bool, h vendorHandler) http.Handler {
	return s.logged(func(w http.ResponseWriter, r *http.Request, body []byte) {
		u, tok, ok := s.auth(w, r)
		if !ok {
			return
		}
		if r.Method == http.MethodHead {
			// A GET pattern takes HEAD too; the vendor has no HEAD.
			s.writeErr(w, http.StatusNotImplemented, codeUnimpl, "Method Not Allowed")
			return
		}
		if s.injected(w, r.Method, r.URL.Path) {
			return
		}
		if r.Method != http.MethodGet && tok.readOnly {
			s.writeErr(w, http.StatusForbidden, codeDenied, "no permission to perform the operation")
			return
		}
		if !anyProfile && u.Type == "SERVICE" {
			s.writeErr(w, http.StatusNotFound, codeNotFound, "user settings not found: service users have no user profile")
			return
		}
		h(w, u, body)
	})
}

func (s *Sim) getImage(w http.ResponseWriter, u *User) {
	s.mu.Lock()
	v := map[string]any{"content_type": u.ImageType, "data": u.Image, "extensions": []any{}}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

func (s *Sim) deleteImage(w http.ResponseWriter, u *User) {
	s.mu.Lock()
	u.Image, u.ImageType = "", ""
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{})
}

// auth resolves the token's owner; the scheme word and the single space are
// exact, as documented.
func (s *Sim) auth(w http.ResponseWriter, r *http.Request) (*User, token, bool) {
	tokStr, ok := strings.CutPrefix(r.Header.Get("Authorization"), "APIToken ")
	s.mu.Lock()
	tok, known := s.tokens[tokStr]
	u := s.users[tok.user]
	s.mu.Unlock()
	if !ok || tokStr == "" || !known || u == nil {
		s.writeErr(w, http.StatusUnauthorized, codeUnauth, "not authorized: missing, invalid or expired API token")
		return nil, token{}, false
	}
	return u, tok, true
}

// injected answers a queued fault for method and path, if any.
func (s *Sim) injected(w http.ResponseWriter, method, path string) bool {
	s.mu.Lock()
	i := slices.IndexFunc(s.faults, func(f fault) bool { return f.method == method && f.path == path })
	var f fault
	if i >= 0 {
		f = s.faults[i]
		s.faults = slices.Delete(s.faults, i, i+1)
	}
	s.mu.Unlock()
	if i < 0 {
		return false
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	code, msg := codeInternal, "internal error"
	switch f.status {
	case http.StatusNotFound:
		code, msg = codeNotFound, "user not found"
	case http.StatusConflict:
		code, msg = codeAborted, "conflicting update of user settings"
	case http.StatusTooManyRequests:
		code, msg = codeResources, "too many requests"
	case http.StatusServiceUnavailable:
		code, msg = codeUnavail, "service unavailable"
	case http.StatusGatewayTimeout:
		code, msg = codeDeadline, "timed out processing the request"
	case http.StatusUnauthorized:
		code, msg = codeUnauth, "not authorized"
	case http.StatusForbidden:
		code, msg = codeDenied, "no permission to perform the operation"
	}
	s.writeErr(w, f.status, code, msg)
	return true
}

func (s *Sim) whoami(w http.ResponseWriter, u *User) {
	s.mu.Lock()
	v := map[string]any{"name": u.Name, "email": u.Email, "first_name": u.FirstName, "last_name": u.LastName,
		"tenant": u.Tenant, "user_uuid": u.UUID, "type": u.Type, "idm_type": "VOLTERRA_MANAGED", "disabled": false,
		"namespace_roles": []any{}}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

func (s *Sim) notificationList(u *User) []map[string]any {
	out := []map[string]any{}
	for _, n := range Catalogue() {
		out = append(out, map[string]any{"code": n.Code, "label": n.Label, "description": n.Description, "enabled": u.Notifications[n.Code]})
	}
	return out
}

func (s *Sim) getSettings(w http.ResponseWriter, u *User) {
	s.mu.Lock()
	status := "OTP_DISABLED"
	if u.OTP {
		status = "OTP_ENABLED"
	}
	v := map[string]any{
		"image":                   u.Image,
		"initial_access":          map[string]any{"email_sent": false, "requested": false},
		"is_next_request_allowed": true,
		"notifications":           s.notificationList(u),
		"otp_enabled":             u.OTP,
		"otp_status":              status,
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

func (s *Sim) getNotifications(w http.ResponseWriter, u *User) {
	s.mu.Lock()
	v := map[string]any{"notifications": s.notificationList(u)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

// settingsBody is a decoded UserSettingsRequest; nil pointers are members
// the body left out.
type settingsBody struct {
	notes       *[]string
	first, last *string
	image       *string
	otp         *bool
}

func decodeSettings(body []byte) (settingsBody, string) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return settingsBody{}, "invalid request body: expected a JSON object"
	}
	var out settingsBody
	keys := slices.Sorted(maps.Keys(raw))
	for _, k := range keys {
		v := raw[k]
		var err error
		switch k {
		case "enabled_notifications", "enabledNotifications":
			out.notes = new([]string)
			err = json.Unmarshal(v, out.notes)
		case "first_name", "firstName":
			out.first = new(string)
			err = json.Unmarshal(v, out.first)
		case "last_name", "lastName":
			out.last = new(string)
			err = json.Unmarshal(v, out.last)
		case "image":
			out.image = new(string)
			if err = json.Unmarshal(v, out.image); err == nil && *out.image != "" {
				_, err = base64.StdEncoding.DecodeString(*out.image)
			}
		case "otp_enabled", "otpEnabled":
			out.otp = new(bool)
			err = json.Unmarshal(v, out.otp)
		default:
			return settingsBody{}, fmt.Sprintf("invalid request body: unknown field %q", k)
		}
		if err != nil {
			return settingsBody{}, fmt.Sprintf("invalid request body: bad value for field %q", k)
		}
	}
	return out, ""
}

// putSettings applies UserSettingsRequest with the configured semantics.
func (s *Sim) putSettings(w http.ResponseWriter, u *User, body []byte) {
	in, msg := decodeSettings(body)
	if msg != "" {
		s.writeErr(w, http.StatusBadRequest, codeInvalid, msg)
		return
	}
	known := map[string]bool{}
	for _, n := range Catalogue() {
		known[n.Code] = true
	}
	if in.notes != nil {
		for _, c := range *in.notes {
			if !known[c] {
				s.writeErr(w, http.StatusBadRequest, codeInvalid, fmt.Sprintf("invalid notification code %q", c))
				return
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	oldImage, oldType := u.Image, u.ImageType
	if s.put == Replace {
		// proto3 cannot tell an omitted member from its zero value.
		u.FirstName, u.LastName, u.OTP, u.Image, u.ImageType = "", "", false, "", ""
		for c := range u.Notifications {
			u.Notifications[c] = false
		}
	}
	if in.first != nil {
		u.FirstName = *in.first
	}
	if in.last != nil {
		u.LastName = *in.last
	}
	if in.otp != nil {
		u.OTP = *in.otp
	}
	if in.image != nil {
		u.Image = *in.image
	}
	// The settings image carries no content type: the old one stays only
	// while the bytes are the same.
	if u.Image == oldImage {
		u.ImageType = oldType
	} else {
		u.ImageType = ""
	}
	if in.notes != nil {
		for c := range u.Notifications {
			u.Notifications[c] = false
		}
		for _, c := range *in.notes {
			u.Notifications[c] = true
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Sim) putImage(w http.ResponseWriter, u *User, body []byte) {
	var in struct {
		ContentType *string `json:"content_type"`
		Image       *string `json:"image"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		s.writeErr(w, http.StatusBadRequest, codeInvalid, "invalid request body: expected UpdateImageRequest")
		return
	}
	if in.Image == nil || in.ContentType == nil {
		s.writeErr(w, http.StatusBadRequest, codeInvalid, "content_type and image are required")
		return
	}
	data, err := base64.StdEncoding.DecodeString(*in.Image)
	allowed := []string{"image/png", "image/jpeg", "image/gif", "image/webp"}
	switch {
	case err != nil:
		s.writeErr(w, http.StatusBadRequest, codeInvalid, "image must be standard base64")
		return
	case len(data) == 0:
		s.writeErr(w, http.StatusBadRequest, codeInvalid, "image must not be empty")
		return
	case !slices.Contains(allowed, *in.ContentType):
		s.writeErr(w, http.StatusBadRequest, codeInvalid, fmt.Sprintf("unsupported image content type %q", *in.ContentType))
		return
	case len(data) > MaxImageBytes:
		s.writeErr(w, http.StatusBadRequest, codeInvalid, "image larger than "+strconv.Itoa(MaxImageBytes)+" bytes")
		return
	}
	s.mu.Lock()
	u.Image, u.ImageType = *in.Image, *in.ContentType
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Sim) writeErr(w http.ResponseWriter, status, code int, msg string) {
	s.mu.Lock()
	str := s.stringErr
	s.mu.Unlock()
	if str {
		writeJSON(w, status, msg)
		return
	}
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "details": []any{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// SeedUsers adds n users, each with its own API token SeededToken(i), for
// load tests and the multi-replica proof, where each key needs its own user
// (Volterra acts on the token's owner).
func (s *Sim) SeedUsers(n int) {
	for i := 0; i < n; i++ {
		name := "seeded" + strconv.Itoa(i)
		s.AddUser(User{Name: name, Email: name + "@example.com", UUID: SeededUUID(i)})
		s.AddToken(SeededToken(i), name, false)
	}
}

// SeededUUID is the user_uuid of the i-th seeded user: its vendor id.
func SeededUUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// SeededToken is the API token of the i-th seeded user.
func SeededToken(i int) string { return "vsim-seeded-token-" + strconv.Itoa(i) }
