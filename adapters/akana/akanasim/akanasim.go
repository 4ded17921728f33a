// Package akanasim simulates the Akana API Platform (Community Manager)
// calls the gateway uses, read independently from
// docs/vendors/akana.md. Standard library only; it never imports the
// adapter or the gateway's canonical model.
//
// What it enforces (akana.md sections 2, 3, 5):
//   - POST /api/login with a JSON {"email","password"} body sets the
//     AtmoAuthToken_{fedmemberid} cookie (a URL-encoded TokenID=...,
//     expirationTime=<ms>,... list) and the Csrf-Token_{fedmemberid} cookie;
//     bad credentials are 401. POST /api/login/renewToken needs a valid
//     cookie and the CSRF header and sets fresh cookies with a later expiry.
//   - Every other call needs the auth cookie (exact, case-sensitive name),
//     issued by this simulator and not expired (the clock and the session
//     lifetime are settable, so tests need no sleeps) -> else 401.
//   - Writes (anything but GET) need X-Csrf-Token_{fedmemberid} equal to the
//     CSRF cookie's value (header names match case-insensitively) -> else 401.
//   - /api/users/{UserID}...: the caller must be that user or a Site Admin
//     -> else 401 (the docs use 401, not 403).
//   - GET /api/users/{UserID}/settings answers application/json
//     AccountSettings {UserID, Email, OptedNotification}.
//   - PUT /api/users/{UserID}/settings replaces the opted-in set with exactly
//     the given one (an omitted group is opted out) and the Email; codes
//     must be among the ten of GET /api/notifications/types; Email is
//     required, an addr-spec, at most 320 characters; with the email lock on
//     (the default), only a Site Admin may change it. Answers 200 text/plain
//     with the path's UserID.
//   - GET /api/users/{UserID} answers the User object as JSON; PUT replaces
//     FirstName, LastName (max 64), Phone (max 32) and Email (as above): an
//     omitted member is cleared. Answers 200 text/plain with the UserID.
//   - Content-Type on writes: application/json or
//     application/vnd.soa.v71/v72/v80/v81+json, else 415; Accept must admit
//     text/plain on PUT and JSON on GET, else 406.
//
// Guesses where the docs are silent (akana.md section 8), kept tolerant:
// error bodies are short text/plain messages; a malformed body or a value
// the platform refuses is 400; an unknown user asked for by a Site Admin is
// 404; the body's UserID is ignored, the path decides (section 2.2); a
// renewal leaves the old cookie valid until its own expiry.
//
// Test hooks: GET /_sim/requests (the request log, bodies as strings) and
// POST /_sim/reset (clears the log).
package akanasim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/identity-gateway/identity-gateway/adapters/simlog"
)

// NotificationTypes is the answer of GET /api/notifications/types
// (akana.md section 2.3): the only codes PUT settings accepts.
func NotificationTypes() []string {
	return []string{
		"com.soa.notification.type.api.auto.connect", "com.soa.notification.type.app.alert",
		"com.soa.notification.type.app.lifecycle", "com.soa.notification.type.app.post",
		"com.soa.notification.type.appteam", "com.soa.notification.type.contract.state.change",
		"com.soa.notification.type.news.update", "com.soa.notification.type.post.comment",
		"com.soa.notification.type.privateapi", "com.soa.notification.type.ticket.change",
	}
}

// Request is one received request. Path includes the query.
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

// User is one platform user. Email and Password are its login.
type User struct {
	UserID    string
	Email     string
	Password  string
	FirstName string
	LastName  string
	Phone     string
	SiteAdmin bool
	// Opted is the opted-in notification codes.
	Opted []string
}

type session struct {
	userID  string
	csrf    string
	expires time.Time
}

// Sim is the simulator; an http.Handler safe for concurrent use.
type Sim struct {
	tenant  string
	muxOnce sync.Once
	mux     *http.ServeMux

	mu        sync.Mutex
	users     map[string]*User
	sessions  map[string]*session // by AtmoAuthToken cookie value
	log       []Request
	logins    int
	renewals  int
	lifetime  time.Duration
	now       func() time.Time
	emailLock bool
}

// DefaultLifetime is the session lifetime of a new Sim: the platform's
// documented default of 30 minutes (akana.md section 3, step 4).
const DefaultLifetime = 30 * time.Minute

// New returns an empty simulator for the tenant (fedmemberid) given, or
// DemoTenant when none is. Only the first argument is used; the parameter
// is variadic so that New() is the plain constructor.
func New(tenant ...string) *Sim {
	t := DemoTenant
	if len(tenant) > 0 && tenant[0] != "" {
		t = tenant[0]
	}
	return &Sim{tenant: t, users: map[string]*User{}, sessions: map[string]*session{},
		lifetime: DefaultLifetime, now: time.Now, emailLock: true}
}

// Tenant returns the simulator's fedmemberid.
func (s *Sim) Tenant() string { return s.tenant }

// SetLifetime sets the session lifetime for logins and renewals from now on.
func (s *Sim) SetLifetime(d time.Duration) { s.mu.Lock(); s.lifetime = d; s.mu.Unlock() }

// SetClock replaces the clock (default time.Now).
func (s *Sim) SetClock(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// SetEmailLock sets the business security setting that lets only a Site
// Admin change e-mail addresses (on by default).
func (s *Sim) SetEmailLock(on bool) { s.mu.Lock(); s.emailLock = on; s.mu.Unlock() }

// Logins counts successful logins.
func (s *Sim) Logins() int { s.mu.Lock(); defer s.mu.Unlock(); return s.logins }

// Renewals counts successful token renewals.
func (s *Sim) Renewals() int { s.mu.Lock(); defer s.mu.Unlock(); return s.renewals }

// AddUser stores a copy of u, replacing a user with the same UserID.
func (s *Sim) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := u
	cp.Opted = slices.Clone(u.Opted)
	s.users[u.UserID] = &cp
}

// User returns a copy of the user with that UserID.
func (s *Sim) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	cp := *u
	cp.Opted = slices.Clone(u.Opted)
	return cp, true
}

// Requests returns the latest simlog.Limit requests received, in order,
// the /_sim endpoints excepted.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// Demo is what a gateway config needs to reach the seeded demo user.
type Demo struct {
	// Tenant is the fedmemberid (settings.tenant).
	Tenant string
	// UserID is the demo user's UserID (vendor_ids.akana).
	UserID string
	// AdminUserID is the service account's own UserID.
	AdminUserID string
	// AdminEmail and AdminPassword are the Site Admin service account
	// (credential username and password).
	AdminEmail    string
	AdminPassword string
}

// Demo values, for a simulator built for DemoTenant.
const (
	DemoTenant        = "acmepaymentscorp"
	DemoUserID        = "522320b9-cb6b-495d-ae07-e4b3bfdb3f6a.acmepaymentscorp"
	DemoAdminUUID     = "0c6f1d2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5"
	DemoAdminEmail    = "gateway-admin@acmepaymentscorp.example"
	DemoAdminPassword = "akana-sim-demo-password"
)

// SeedDemo adds a Site Admin service account and a demo user (Jane Doe,
// opted into ticket.change and app.alert). The demo user's UserID is
// DemoUserID's UUID under the simulator's tenant.
func (s *Sim) SeedDemo() Demo {
	uuid, _, _ := strings.Cut(DemoUserID, ".")
	d := Demo{Tenant: s.tenant, UserID: uuid + "." + s.tenant, AdminUserID: DemoAdminUUID + "." + s.tenant,
		AdminEmail: DemoAdminEmail, AdminPassword: DemoAdminPassword}
	s.AddUser(User{UserID: d.AdminUserID, Email: DemoAdminEmail, Password: DemoAdminPassword, SiteAdmin: true, FirstName: "Gateway", LastName: "Admin"})
	s.AddUser(User{UserID: d.UserID, Email: "jane.doe@acmepaymentscorp.example", Password: "demo-user-password", FirstName: "Jane", LastName: "Doe",
		Phone: "+1 555 0100", Opted: []string{"com.soa.notification.type.ticket.change", "com.soa.notification.type.app.alert"}})
	return d
}

// SeedUsers adds n users with ids SeededUserID(i, tenant), for load tests
// and the multi-replica proof, where each key needs its own user.
func (s *Sim) SeedUsers(n int) {
	for i := 0; i < n; i++ {
		s.AddUser(User{UserID: SeededUserID(i, s.tenant), Email: fmt.Sprintf("seeded%d@%s.example", i, s.tenant), Password: "unused"})
	}
}

// SeededUserID is the UserID of the i-th seeded user.
func SeededUserID(i int, tenant string) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d.%s", i, tenant)
}

func (s *Sim) authCookie() string { return "AtmoAuthToken_" + s.tenant }
func (s *Sim) csrfCookie() string { return "Csrf-Token_" + s.tenant }
func (s *Sim) csrfHeader() string { return "X-Csrf-Token_" + s.tenant }

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.routes().ServeHTTP(w, r)
}

// routes is the simulator's router, built once. A path the platform does
// not have is 404 and a method a path lacks 405, both text/plain, before
// any authentication.
func (s *Sim) routes() *http.ServeMux {
	s.muxOnce.Do(func() {
		m := http.NewServeMux()
		m.HandleFunc("GET /_sim/requests", func(w http.ResponseWriter, r *http.Request) {
			b, err := json.Marshal(s.Requests())
			if err != nil {
				text(w, http.StatusInternalServerError, err.Error())
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		})
		m.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.log = nil
			s.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})
		m.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) { text(w, http.StatusNotFound, "not found") })
		// Without this, the mux would redirect /_sim to /_sim/.
		m.Handle("/_sim", s.logged(func(w http.ResponseWriter, r *http.Request, _ []byte) { text(w, http.StatusNotFound, "not found") }))

		m.Handle("POST /api/login", s.logged(s.login))
		m.Handle("POST /api/login/renewToken", s.logged(func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if sess, ok := s.authenticate(w, r); ok {
				s.mu.Lock()
				s.renewals++
				s.mu.Unlock()
				s.issue(w, sess.userID)
				writeJSON(w, http.StatusOK, map[string]string{"UserID": sess.userID})
			}
		}))
		m.Handle("GET /api/notifications/types", s.logged(func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if _, ok := s.authenticate(w, r); ok {
				writeJSON(w, http.StatusOK, map[string][]string{"NotificationType": NotificationTypes()})
			}
		}))
		for _, path := range []string{"/api/users/{id}", "/api/users/{id}/settings"} {
			settings := strings.HasSuffix(path, "/settings")
			user := s.logged(func(w http.ResponseWriter, r *http.Request, body []byte) { s.user(w, r, body, settings) })
			m.Handle("GET "+path, user)
			m.Handle("PUT "+path, user)
		}
		// Every other method of these paths (and HEAD, which a GET pattern
		// would take) is 405.
		for _, path := range []string{"/api/login", "/api/login/renewToken", "/api/notifications/types", "/api/users/{id}", "/api/users/{id}/settings",
			"HEAD /api/notifications/types", "HEAD /api/users/{id}", "HEAD /api/users/{id}/settings"} {
			m.Handle(path, s.logged(func(w http.ResponseWriter, r *http.Request, _ []byte) {
				text(w, http.StatusMethodNotAllowed, "method not allowed")
			}))
		}
		m.Handle("/", s.logged(func(w http.ResponseWriter, r *http.Request, _ []byte) { text(w, http.StatusNotFound, "not found") }))
		s.mux = m
	})
	return s.mux
}

// logged reads the request's body (up to 1 MiB) and records the request
// in the simulator's log before h.
func (s *Sim) logged(h func(http.ResponseWriter, *http.Request, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			text(w, http.StatusBadRequest, "unreadable request body")
			return
		}
		s.mu.Lock()
		s.log = simlog.Append(s.log, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
		h(w, r, body)
	})
}

// user serves GET and PUT of /api/users/{id} and, with settings, of its
// /settings.
func (s *Sim) user(w http.ResponseWriter, r *http.Request, body []byte, settings bool) {
	id := r.PathValue("id")
	sub := ""
	if settings {
		sub = "settings"
	}
	sess, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	caller, target := s.users[sess.userID], s.users[id]
	admin := caller != nil && caller.SiteAdmin
	s.mu.Unlock()
	if caller == nil || (sess.userID != id && !admin) {
		text(w, http.StatusUnauthorized, "Unauthorized: you are not the user or a Site Admin")
		return
	}
	if target == nil {
		text(w, http.StatusNotFound, "user not found: "+id)
		return
	}
	if r.Method == http.MethodGet {
		if !accepts(r, "application/json", "application/vnd.soa.v71+json", "application/vnd.soa.v72+json", "application/vnd.soa.v80+json", "application/vnd.soa.v81+json") {
			text(w, http.StatusNotAcceptable, "not acceptable: the answer is application/json")
			return
		}
		s.mu.Lock()
		var out any
		if sub == "settings" {
			out = map[string]any{"UserID": target.UserID, "Email": target.Email, "OptedNotification": append([]string{}, target.Opted...)}
		} else {
			out = map[string]any{"UserID": target.UserID, "FirstName": target.FirstName, "LastName": target.LastName,
				"Email": target.Email, "Phone": target.Phone, "State": "active"}
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
		return
	}
	if !jsonBody(r) {
		text(w, http.StatusUnsupportedMediaType, "unsupported media type: send application/json or application/vnd.soa.v8x+json")
		return
	}
	if !accepts(r, "text/plain") {
		text(w, http.StatusNotAcceptable, "not acceptable: the answer is text/plain")
		return
	}
	if sub == "settings" {
		s.putSettings(w, id, admin, body)
	} else {
		s.putUser(w, id, admin, body)
	}
}

func (s *Sim) login(w http.ResponseWriter, r *http.Request, body []byte) {
	if !jsonBody(r) {
		text(w, http.StatusUnsupportedMediaType, "unsupported media type: send application/json")
		return
	}
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Email == "" {
		text(w, http.StatusBadRequest, "invalid login request: email and password are required")
		return
	}
	s.mu.Lock()
	var found *User
	for _, u := range s.users {
		if strings.EqualFold(u.Email, in.Email) && u.Password != "" && u.Password == in.Password {
			found = u
			break
		}
	}
	if found != nil {
		s.logins++
	}
	s.mu.Unlock()
	if found == nil {
		text(w, http.StatusUnauthorized, "Unauthorized: invalid email or password")
		return
	}
	s.issue(w, found.UserID)
	writeJSON(w, http.StatusOK, map[string]string{"loginStatus": "SUCCESS", "UserID": found.UserID})
}

// issue creates a session and sets both cookies.
func (s *Sim) issue(w http.ResponseWriter, userID string) {
	s.mu.Lock()
	now := s.now()
	exp := now.Add(s.lifetime)
	uuid, _, _ := strings.Cut(userID, ".")
	token := url.QueryEscape(fmt.Sprintf("TokenID=%s,claimed_id=urn:atmosphere:user:%s:%s,issueTime=%d,expirationTime=%d,UserName=%s,UserFDN=%s,AttributesIncluded=false,sig=%s",
		newID(), s.tenant, uuid, now.UnixMilli(), exp.UnixMilli(), uuid, url.QueryEscape(userID), newID()+newID()))
	csrf := url.QueryEscape(fmt.Sprintf("TokenID=%s,expirationTime=%d", newID(), exp.UnixMilli()))
	s.sessions[token] = &session{userID: userID, csrf: csrf, expires: exp}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.authCookie(), Value: token, Path: "/", HttpOnly: true, Secure: true})
	http.SetCookie(w, &http.Cookie{Name: s.csrfCookie(), Value: csrf, Path: "/", Secure: true})
}

// authenticate checks the cookie, its expiry and, on writes, the CSRF
// header, answering 401 itself when one fails.
func (s *Sim) authenticate(w http.ResponseWriter, r *http.Request) (session, bool) {
	c, err := r.Cookie(s.authCookie())
	if err != nil {
		text(w, http.StatusUnauthorized, "Unauthorized: login required ("+s.authCookie()+" cookie missing)")
		return session{}, false
	}
	s.mu.Lock()
	sess, ok := s.sessions[c.Value]
	expired := ok && !s.now().Before(sess.expires)
	if expired {
		delete(s.sessions, c.Value)
	}
	var cp session
	if ok {
		cp = *sess
	}
	s.mu.Unlock()
	if !ok || expired {
		text(w, http.StatusUnauthorized, "Unauthorized: the login cookie is invalid or expired")
		return session{}, false
	}
	if r.Method != http.MethodGet && r.Header.Get(s.csrfHeader()) != cp.csrf {
		text(w, http.StatusUnauthorized, "Unauthorized: missing or invalid "+s.csrfHeader()+" header")
		return session{}, false
	}
	return cp, true
}

// jsonBody reports whether the request's Content-Type is one the write
// operations accept.
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "application/vnd.soa.v71+json", "application/vnd.soa.v72+json",
		"application/vnd.soa.v80+json", "application/vnd.soa.v81+json":
		return true
	}
	return false
}

// accepts reports whether the Accept header admits one of types (no
// header admits everything).
func accepts(r *http.Request, types ...string) bool {
	h := r.Header.Values("Accept")
	if len(h) == 0 {
		return true
	}
	for _, v := range h {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || params["q"] == "0" {
				continue
			}
			major, _, _ := strings.Cut(mt, "/")
			for _, t := range types {
				tm, _, _ := strings.Cut(t, "/")
				if mt == "*/*" || mt == t || mt == major+"/*" && major == tm {
					return true
				}
			}
		}
	}
	return false
}

// checkEmail applies the User object's e-mail rules; "" when fine.
func checkEmail(email string) string {
	if email == "" {
		return "Email is required"
	}
	if utf8.RuneCountInString(email) > 320 {
		return "Email must be at most 320 characters"
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return "Email is not a valid e-mail address"
	}
	return ""
}

func (s *Sim) putSettings(w http.ResponseWriter, id string, admin bool, body []byte) {
	var in struct {
		UserID            string          `json:"UserID"`
		Email             *string         `json:"Email"`
		OptedNotification json.RawMessage `json:"OptedNotification"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		text(w, http.StatusBadRequest, "invalid AccountSettings: "+err.Error())
		return
	}
	var opted []string
	if len(in.OptedNotification) > 0 && string(in.OptedNotification) != "null" {
		if err := json.Unmarshal(in.OptedNotification, &opted); err != nil {
			text(w, http.StatusBadRequest, "invalid AccountSettings: OptedNotification must be an array of notification types")
			return
		}
	}
	for _, n := range opted {
		if !slices.Contains(NotificationTypes(), n) {
			text(w, http.StatusBadRequest, "invalid notification type: "+n)
			return
		}
	}
	email := ""
	if in.Email != nil {
		email = *in.Email
	}
	if msg := checkEmail(email); msg != "" {
		text(w, http.StatusBadRequest, msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	if u == nil { // removed meanwhile
		text(w, http.StatusNotFound, "user not found: "+id)
		return
	}
	if s.emailLock && !admin && !strings.EqualFold(email, u.Email) {
		text(w, http.StatusUnauthorized, "Unauthorized: only a Site Admin can change the email address")
		return
	}
	// Full replacement: an omitted group is opted out.
	u.Opted = slices.Compact(slices.Clone(opted))
	if u.Opted == nil {
		u.Opted = []string{}
	}
	u.Email = email
	text(w, http.StatusOK, u.UserID)
}

func (s *Sim) putUser(w http.ResponseWriter, id string, admin bool, body []byte) {
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		text(w, http.StatusBadRequest, "invalid User: a JSON object is required")
		return
	}
	var msgs []string
	str := func(k string, max int) string {
		v, ok := in[k]
		if !ok || v == nil {
			return ""
		}
		sv, isStr := v.(string)
		if !isStr {
			msgs = append(msgs, k+" must be a string")
			return ""
		}
		if utf8.RuneCountInString(sv) > max {
			msgs = append(msgs, k+" must be at most "+strconv.Itoa(max)+" characters")
		}
		return sv
	}
	first, last, phone, email := str("FirstName", 64), str("LastName", 64), str("Phone", 32), str("Email", 320)
	if len(msgs) == 0 {
		if msg := checkEmail(email); msg != "" {
			msgs = append(msgs, msg)
		}
	}
	if len(msgs) > 0 {
		text(w, http.StatusBadRequest, "invalid User: "+strings.Join(msgs, "; "))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	if u == nil {
		text(w, http.StatusNotFound, "user not found: "+id)
		return
	}
	if s.emailLock && !admin && !strings.EqualFold(email, u.Email) {
		text(w, http.StatusUnauthorized, "Unauthorized: only a Site Admin can change the email address")
		return
	}
	// Replacement of the editable members: an omitted one is cleared.
	u.FirstName, u.LastName, u.Phone, u.Email = first, last, phone, email
	text(w, http.StatusOK, u.UserID)
}

// ExpiresAt parses expirationTime out of an AtmoAuthToken or Csrf-Token
// cookie value; zero when absent.
func ExpiresAt(cookie string) time.Time {
	v, err := url.QueryUnescape(cookie)
	if err != nil {
		return time.Time{}
	}
	for _, part := range strings.Split(v, ",") {
		if ms, ok := strings.CutPrefix(part, "expirationTime="); ok {
			if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
				return time.UnixMilli(n)
			}
		}
	}
	return time.Time{}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func text(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
