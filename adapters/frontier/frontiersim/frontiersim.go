// Package frontiersim simulates the Raystack Frontier v0.90.0 REST API for
// the user endpoints the gateway uses, as docs/vendors/frontier.md
// describes the real server (section 7): request decoding (protojson:
// unknown fields ignored, strings must be strings, metadata an object), then
// validation (first PGV error only, in Frontier's exact message format), then
// authentication (Basic exactly as section 3.1, or static Bearer tokens),
// then the superuser rule (503 code 14 "function not available at the
// moment"), then the handler. Responses are snake_case with every field
// present, errors {"code","message","details":[]}. PUT replaces title,
// avatar and metadata and ignores name and email, also for disabled users;
// GET by UUID or e-mail hides disabled users; enable/disable take UUIDs only
// and answer 500 code 13 for an unknown user. It uses the standard library
// only and never imports the adapter.
//
// Decisions (section 7.5 leaves them to simulator authors): PUT by e-mail or
// by name answers 501 with a clear simulator message instead of the upsert
// and by-name quirks, since the gateway always addresses users by UUID;
// users/self and DELETE are likewise 501. Client secrets are compared in
// constant time rather than with bcrypt, so no cost-14 delay is simulated.
package frontiersim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/identity-gateway/identity-gateway/adapters/simlog"
)

// Request is one received request, for assertions. Path includes the query.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// MarshalJSON writes the body as a string, which is how /_sim/requests
// shows it.
func (r Request) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Method string      `json:"method"`
		Path   string      `json:"path"`
		Header http.Header `json:"header"`
		Body   string      `json:"body"`
	}{r.Method, r.Path, r.Header, string(r.Body)})
}

// User is a stored user.
type User struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Title     string         `json:"title"`
	Email     string         `json:"email"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt string         `json:"created_at"`
	UpdatedAt string         `json:"updated_at"`
	State     string         `json:"state"`
	Avatar    string         `json:"avatar"`
}

type client struct {
	secret    string
	superuser bool
}

// Sim is the simulator; safe for concurrent use.
type Sim struct {
	muxOnce sync.Once
	mux     *http.ServeMux

	mu      sync.Mutex
	users   map[string]*User
	clients map[string]client
	tokens  map[string]client
	log     []Request
	now     func() time.Time
}

// New returns an empty simulator.
func New() *Sim {
	return &Sim{users: map[string]*User{}, clients: map[string]client{}, tokens: map[string]client{}, now: time.Now}
}

// Demo is what a gateway config needs to reach the demo user.
type Demo struct {
	UserID       string
	ClientID     string
	ClientSecret string
}

// Demo values are fixed so the quick-start config can name them.
const (
	DemoUserID       = "2e5b6f3a-8c1d-4f7e-9a2b-3c4d5e6f7a8b"
	DemoClientID     = "9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e"
	DemoClientSecret = "c2ltdWxhdG9yLWRlbW8tc2VjcmV0LW5vdC1yZWFsLTAx"
)

// SeedDemo adds the demo user and a superuser service credential.
func (s *Sim) SeedDemo() Demo {
	s.AddClient(DemoClientID, DemoClientSecret, true)
	s.AddUser(User{ID: DemoUserID, Name: "janedoe", Email: "jane.doe@example.com", Title: "Jane", Metadata: map[string]any{"label": map[string]any{"team": "sre"}}})
	return Demo{UserID: DemoUserID, ClientID: DemoClientID, ClientSecret: DemoClientSecret}
}

// AddClient registers a service-user credential.
func (s *Sim) AddClient(id, secret string, superuser bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = client{secret: secret, superuser: superuser}
}

// AddToken registers a static Bearer token (a stand-in for a Frontier
// access token or JWT, which the simulator does not issue).
func (s *Sim) AddToken(token string, superuser bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = client{superuser: superuser}
}

// AddUser stores u (state enabled unless set; name and email lowercased).
func (s *Sim) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.State == "" {
		u.State = "enabled"
	}
	if u.Metadata == nil {
		u.Metadata = map[string]any{}
	}
	u.Name, u.Email = strings.ToLower(u.Name), strings.ToLower(u.Email)
	ts := s.stamp()
	u.CreatedAt, u.UpdatedAt = ts, ts
	s.users[strings.ToLower(u.ID)] = &u
}

// User returns a copy of the stored user.
func (s *Sim) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[strings.ToLower(id)]
	if !ok {
		return User{}, false
	}
	cp := *u
	cp.Metadata = cloneMap(u.Metadata)
	return cp, true
}

// Requests returns the latest simlog.Limit requests received, in order,
// the /_sim endpoints excepted.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.log))
	for i, r := range s.log {
		r.Header = r.Header.Clone()
		r.Body = append([]byte(nil), r.Body...)
		out[i] = r
	}
	return out
}

func (s *Sim) stamp() string { return s.now().UTC().Format("2006-01-02T15:04:05.000000Z") }

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.routes().ServeHTTP(w, r)
}

// routes is the simulator's router, built once. It answers as
// grpc-gateway does: an unknown path is 404, a known path with a method it
// lacks 501 (code 12), both in the vendor's JSON error shape.
func (s *Sim) routes() *http.ServeMux {
	s.muxOnce.Do(func() {
		m := http.NewServeMux()
		m.HandleFunc("GET /_sim/requests", func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			b, _ := json.Marshal(s.log)
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		})
		m.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.log = nil
			s.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})
		for path, only := range map[string]string{"/_sim/requests": "simulator: GET only", "/_sim/reset": "simulator: POST only"} {
			m.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { writeErr(w, http.StatusMethodNotAllowed, 12, only) })
		}

		// A GET pattern takes HEAD as well, which the vendor lacks.
		m.Handle("GET /v1beta1/users", s.logged(func(w http.ResponseWriter, r *http.Request, body []byte) {
			if r.Method == http.MethodHead {
				notFound(w, r, body)
				return
			}
			s.list(w, r)
		}))
		m.Handle("POST /v1beta1/users", s.logged(s.create))
		m.Handle("PUT /v1beta1/users/{id}", s.logged(func(w http.ResponseWriter, r *http.Request, body []byte) {
			s.update(w, r, r.PathValue("id"), body)
		}))
		m.Handle("GET /v1beta1/users/{id}", s.logged(func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.Method == http.MethodHead {
				methodMissing(w)
				return
			}
			s.get(w, r, r.PathValue("id"))
		}))
		m.Handle("DELETE /v1beta1/users/{id}", s.logged(func(w http.ResponseWriter, r *http.Request, _ []byte) { s.remove(w, r, r.PathValue("id")) }))
		for _, state := range []string{"enable", "disable"} {
			m.Handle("POST /v1beta1/users/{id}/"+state, s.logged(func(w http.ResponseWriter, r *http.Request, body []byte) {
				s.setState(w, r, r.PathValue("id"), state, body)
			}))
		}
		// grpc-gateway routes users/self to the current-user handlers
		// (frontier.md section 2.4), which the gateway never uses. Each
		// method is spelt out: a method-less "/users/self" would conflict
		// with "GET /users/{id}".
		notSimulated := s.logged(func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			writeErr(w, http.StatusNotImplemented, 12, "simulator: users/self is not simulated")
		})
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
			http.MethodDelete, http.MethodOptions, http.MethodTrace} {
			m.Handle(method+" /v1beta1/users/self", notSimulated)
		}
		// The path exists with another method: grpc-gateway's answer.
		for _, path := range []string{"/v1beta1/users/{id}", "/v1beta1/users/{id}/enable", "/v1beta1/users/{id}/disable"} {
			m.Handle(path, s.logged(func(w http.ResponseWriter, _ *http.Request, _ []byte) { methodMissing(w) }))
		}
		m.Handle("/", s.logged(notFound))
		s.mux = m
	})
	return s.mux
}

// logged reads the request's body (up to 8 MiB) and records the request in
// the simulator's log before h.
func (s *Sim) logged(h func(http.ResponseWriter, *http.Request, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		s.mu.Lock()
		s.log = simlog.Append(s.log, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
		h(w, r, body)
	})
}

func notFound(w http.ResponseWriter, _ *http.Request, _ []byte) {
	writeErr(w, http.StatusNotFound, 5, "Not Found")
}

// methodMissing is grpc-gateway's answer to a method a path lacks.
func methodMissing(w http.ResponseWriter) {
	writeErr(w, http.StatusNotImplemented, 12, "Method Not Allowed")
}

var (
	nameRe   = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9-_]{3,64})?$`)
	avatarRe = regexp.MustCompile(`^data:image/(png|jpg|jpeg|gif);base64,([a-zA-Z0-9+/]+={0,2})+$`)
)

const validationPrefix = "invalid UpdateUserRequest.Body: embedded message failed validation | caused by: "

// update follows frontier.md section 6: decode, validate, authenticate,
// authorise, then the handler.
func (s *Sim) update(w http.ResponseWriter, r *http.Request, id string, body []byte) {
	in, err := decodeBody(body)
	if err != nil {
		writeErr(w, http.StatusBadRequest, 3, err.Error())
		return
	}
	if msg := validate(in); msg != "" {
		writeErr(w, http.StatusBadRequest, 3, validationPrefix+msg)
		return
	}
	if !s.authorise(w, r) {
		return
	}
	if in == nil || strings.TrimSpace(in.Email) == "" {
		writeErr(w, http.StatusBadRequest, 3, "invalid syntax in body")
		return
	}
	if msg := metaschema(in.Metadata); msg != "" {
		writeErr(w, http.StatusBadRequest, 3, "invalid syntax in body : metadata schema validation failed")
		return
	}
	if strings.TrimSpace(id) == "" {
		writeErr(w, http.StatusNotFound, 5, "user doesn't exist")
		return
	}
	uid, ok := parseUUID(id)
	if !ok {
		writeErr(w, http.StatusNotImplemented, 12, "simulator: updating users by e-mail or name is not simulated; address users by UUID")
		return
	}
	s.mu.Lock()
	u, found := s.users[uid]
	if !found {
		s.mu.Unlock()
		writeErr(w, http.StatusNotFound, 5, "user doesn't exist")
		return
	}
	// Replace semantics: absent means empty.
	u.Title, u.Avatar = in.Title, in.Avatar
	u.Metadata = in.Metadata
	if u.Metadata == nil {
		u.Metadata = map[string]any{}
	}
	u.UpdatedAt = s.stamp()
	out := *u
	out.Metadata = cloneMap(u.Metadata)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"user": out})
}

func (s *Sim) get(w http.ResponseWriter, r *http.Request, id string) {
	if !s.authorise(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var u *User
	if uid, ok := parseUUID(id); ok {
		if x := s.users[uid]; x != nil && x.State != "disabled" {
			u = x
		}
	} else if _, err := mail.ParseAddress(id); err == nil {
		for _, x := range s.users {
			if x.Email == strings.ToLower(id) && x.State != "disabled" {
				u = x
			}
		}
	} else {
		for _, x := range s.users {
			if x.Name == strings.ToLower(id) {
				u = x
			}
		}
	}
	if u == nil {
		writeErr(w, http.StatusNotFound, 5, "user doesn't exist")
		return
	}
	out := *u
	out.Metadata = cloneMap(u.Metadata)
	writeJSON(w, http.StatusOK, map[string]any{"user": out})
}

func (s *Sim) setState(w http.ResponseWriter, r *http.Request, id, action string, body []byte) {
	if len(strings.TrimSpace(string(body))) > 0 {
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			writeErr(w, http.StatusBadRequest, 3, "proto: syntax error: unexpected token")
			return
		}
	}
	if !s.authorise(w, r) {
		return
	}
	uid, ok := parseUUID(id)
	if !ok {
		writeErr(w, http.StatusInternalServerError, 13, fmt.Sprintf("ERROR: invalid input syntax for type uuid: %q (SQLSTATE 22P02)", id))
		return
	}
	s.mu.Lock()
	u, found := s.users[uid]
	if found {
		u.State = map[string]string{"enable": "enabled", "disable": "disabled"}[action]
		u.UpdatedAt = s.stamp()
	}
	s.mu.Unlock()
	if !found {
		writeErr(w, http.StatusInternalServerError, 13, "user doesn't exist")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// authorise checks the credential as frontier.md section 3 says, then the
// superuser rule (section 3.3).
func (s *Sim) authorise(w http.ResponseWriter, r *http.Request) bool {
	c, ok := s.principal(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", "not authenticated")
		writeErr(w, http.StatusUnauthorized, 16, "not authenticated")
		return false
	}
	if !c.superuser {
		writeErr(w, http.StatusServiceUnavailable, 14, "function not available at the moment")
		return false
	}
	return true
}

// principal resolves an Authorization header: Basic exactly as section 3.1
// (case-sensitive prefix, padded standard base64, exactly one ':'), or one
// of the static Bearer tokens (the section 3.2 simplification).
func (s *Sim) principal(h string) (client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		c, known := s.tokens[tok]
		return c, known && tok != ""
	}
	enc, ok := strings.CutPrefix(h, "Basic ")
	if !ok {
		return client{}, false
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return client{}, false
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 2 {
		return client{}, false
	}
	c, known := s.clients[parts[0]]
	if !known || subtle.ConstantTimeCompare([]byte(c.secret), []byte(parts[1])) != 1 {
		return client{}, false
	}
	return c, true
}

type body struct {
	Name     string
	Email    string
	Title    string
	Avatar   string
	Metadata map[string]any
}

// decodeBody reads a UserRequestBody like protojson: snake_case or
// lowerCamel names, unknown fields ignored, strings must be strings and
// metadata an object.
func decodeBody(b []byte) (*body, error) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return nil, fmt.Errorf("proto: syntax error (line 1:1): unexpected token")
	}
	out := &body{}
	for k, v := range raw {
		var dst *string
		switch k {
		case "name":
			dst = &out.Name
		case "email":
			dst = &out.Email
		case "title":
			dst = &out.Title
		case "avatar":
			dst = &out.Avatar
		case "metadata":
			if string(v) == "null" {
				continue
			}
			if err := json.Unmarshal(v, &out.Metadata); err != nil || out.Metadata == nil {
				return nil, fmt.Errorf("proto: syntax error (line 1:1): invalid value for Struct type")
			}
			continue
		default:
			continue
		}
		if string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return nil, fmt.Errorf("proto: (line 1:1): invalid value for string type: %s", strings.TrimSpace(string(v)))
		}
	}
	return out, nil
}

// validate returns the first failing PGV rule: name, email, avatar length,
// avatar pattern.
func validate(b *body) string {
	if b == nil {
		return ""
	}
	if !nameRe.MatchString(b.Name) {
		return `invalid UserRequestBody.Name: value does not match regex pattern "^([a-zA-Z][a-zA-Z0-9-_]{3,64})?$"`
	}
	if msg := emailProblem(b.Email); msg != "" {
		return "invalid UserRequestBody.Email: value must be a valid email address | caused by: " + msg
	}
	if b.Avatar != "" {
		if utf8.RuneCountInString(b.Avatar) > 250000 {
			return "invalid UserRequestBody.Avatar: value length must be at most 250000 runes"
		}
		if !avatarRe.MatchString(b.Avatar) {
			return `invalid UserRequestBody.Avatar: value does not match regex pattern "^data:image/(png|jpg|jpeg|gif);base64,([a-zA-Z0-9+/]+={0,2})+$"`
		}
	}
	return ""
}

// emailProblem is protoc-gen-validate's generated e-mail check
// (_validateEmail and _validateHostname), with its own messages.
func emailProblem(e string) string {
	a, err := mail.ParseAddress(e)
	if err != nil {
		return err.Error()
	}
	addr := a.Address
	if len(addr) > 254 {
		return "email addresses cannot exceed 254 characters"
	}
	parts := strings.SplitN(addr, "@", 2)
	if len(parts[0]) > 64 {
		return "email address local phrase cannot exceed 64 characters"
	}
	if len(parts) < 2 {
		return "mail: missing '@' or angle-addr"
	}
	host := parts[1]
	if len(host) > 253 {
		return "hostname cannot exceed 253 characters"
	}
	for _, part := range strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".") {
		if l := len(part); l == 0 || l > 63 {
			return "hostname part must be non-empty and cannot exceed 63 characters"
		}
		if part[0] == '-' {
			return "hostname parts cannot begin with hyphens"
		}
		if part[len(part)-1] == '-' {
			return "hostname parts cannot end with hyphens"
		}
		for _, r := range part {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return fmt.Sprintf("hostname parts can only contain alphanumeric characters or hyphens, got %q", string(r))
			}
		}
	}
	return ""
}

// metaschema applies the default user schema: label an object,
// description a string, anything else allowed.
func metaschema(m map[string]any) string {
	if v, ok := m["label"]; ok {
		if _, isObj := v.(map[string]any); !isObj {
			return "label"
		}
	}
	if v, ok := m["description"]; ok {
		if _, isStr := v.(string); !isStr {
			return "description"
		}
	}
	return ""
}

// parseUUID accepts what Go's uuid.Parse accepts and returns the canonical
// lowercase form.
func parseUUID(s string) (string, bool) {
	s = strings.ToLower(s)
	switch {
	case len(s) == 36+9 && strings.HasPrefix(s, "urn:uuid:"):
		s = s[9:]
	case len(s) == 38 && s[0] == '{' && s[37] == '}':
		s = s[1:37]
	case len(s) == 32:
		s = s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
	}
	if len(s) != 36 {
		return "", false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return "", false
			}
		}
	}
	return s, true
}

// NewUUID returns a random version-4 UUID, for tests that create users.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func writeErr(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "details": []any{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// list is ListUsers (frontier.md 9.1): no authentication; keyword is
// name ILIKE '%kw%' OR email ILIKE '%kw%' with % and _ unescaped, so they
// act as wildcards; page_size defaults to 50 and page_num to 1, a value
// below 1 other than 0 is 400; count is the page's length; disabled users
// are hidden unless state=disabled, and state=<s> keeps rows whose state is
// exactly s; items show "state": "" and "metadata": {} (the SELECT leaves
// them out). The real query has no ORDER BY; the simulator sorts by id so
// paging is stable. org_id and group_id (which switch to member listing)
// and the disable_users_listing preference (503 code 14) are not simulated.
func (s *Sim) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("org_id") != "" || q.Get("group_id") != "" {
		writeErr(w, http.StatusNotImplemented, 12, "simulator: listing by org_id or group_id is not simulated")
		return
	}
	num := func(name string, def int) (int, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			writeErr(w, http.StatusBadRequest, 3, fmt.Sprintf("invalid value for int32 type: %s", v))
			return 0, false
		}
		if n == 0 {
			return def, true
		}
		if n < 1 {
			field := map[string]string{"page_size": "PageSize", "page_num": "PageNum"}[name]
			writeErr(w, http.StatusBadRequest, 3, fmt.Sprintf("invalid ListUsersRequest.%s: value must be greater than or equal to 1", field))
			return 0, false
		}
		return n, true
	}
	size, ok := num("page_size", 50)
	if !ok {
		return
	}
	page, ok := num("page_num", 1)
	if !ok {
		return
	}
	match := ilike(q.Get("keyword"))
	state := q.Get("state")
	s.mu.Lock()
	var hits []User
	for _, u := range s.users {
		if state != "" && u.State != state || state == "" && u.State == "disabled" {
			continue
		}
		if !match(u.Name) && !match(u.Email) {
			continue
		}
		item := *u
		item.State, item.Metadata = "", map[string]any{}
		hits = append(hits, item)
	}
	s.mu.Unlock()
	sort.Slice(hits, func(i, j int) bool { return hits[i].ID < hits[j].ID })
	from := min((page-1)*size, len(hits))
	to := min(from+size, len(hits))
	out := hits[from:to]
	if out == nil {
		out = []User{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(out), "users": out})
}

// ilike is PostgreSQL's v ILIKE '%kw%' with the keyword unescaped: % is any
// run of characters and _ any one character, compared case-insensitively.
func ilike(kw string) func(string) bool {
	var b strings.Builder
	b.WriteString("(?is)")
	for _, r := range kw {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return func(string) bool { return false }
	}
	return re.MatchString
}

// SeedUsers adds n users with predictable UUIDs (see SeededUserID), for
// load tests and the multi-replica proof, where each key needs its own user.
func (s *Sim) SeedUsers(n int) {
	for i := 0; i < n; i++ {
		s.AddUser(User{ID: SeededUserID(i), Name: fmt.Sprintf("seeded%d", i), Email: fmt.Sprintf("seeded%d@example.com", i)})
	}
}

// SeededUserID is the UUID of the i-th seeded user.
func SeededUserID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
