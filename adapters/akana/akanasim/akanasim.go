// Package akanasim simulates the Akana API Platform (Community Manager)
// calls the gateway uses (../shared/vendors/akana.md): POST /api/login and
// /api/login/renewToken with the AtmoAuthToken_{fedmemberid} and
// Csrf-Token_{fedmemberid} cookies, the X-Csrf-Token_{fedmemberid} header on
// writes, self-or-Site-Admin authorisation (401 otherwise, as the docs say),
// GET/PUT /api/users/{UserID}/settings (PUT replaces the opted-in set and
// answers 200 text/plain with the UserID) and GET/PUT /api/users/{UserID}
// (names; the simulator treats PUT as a replacement of the editable fields).
// Session lifetime and clock are settable so tests need no sleeps.
// Standard library only; it never imports the adapter.
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
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// NotificationTypes is GET /api/notifications/types (akana.md section 2.3).
func NotificationTypes() []string {
	return []string{
		"com.soa.notification.type.api.auto.connect", "com.soa.notification.type.app.alert",
		"com.soa.notification.type.app.lifecycle", "com.soa.notification.type.app.post",
		"com.soa.notification.type.appteam", "com.soa.notification.type.contract.state.change",
		"com.soa.notification.type.news.update", "com.soa.notification.type.post.comment",
		"com.soa.notification.type.privateapi", "com.soa.notification.type.ticket.change",
	}
}

// Request is one received request.
type Request struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// User is one platform user.
type User struct {
	UserID, Email, Password, FirstName, LastName, Phone string
	SiteAdmin                                           bool
	Opted                                               []string
}

type session struct {
	userID  string
	csrf    string
	expires time.Time
}

// Sim is the simulator.
type Sim struct {
	tenant string

	mu       sync.Mutex
	users    map[string]*User
	sessions map[string]*session // by AtmoAuthToken cookie value
	log      []Request
	logins   int
	lifetime time.Duration
	now      func() time.Time
}

// New returns a simulator for one tenant (fedmemberid).
func New(tenant string) *Sim {
	return &Sim{tenant: tenant, users: map[string]*User{}, sessions: map[string]*session{}, lifetime: 30 * time.Minute, now: time.Now}
}

// SetLifetime sets the session lifetime for new logins.
func (s *Sim) SetLifetime(d time.Duration) { s.mu.Lock(); s.lifetime = d; s.mu.Unlock() }

// SetClock replaces the clock.
func (s *Sim) SetClock(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// Logins counts successful logins.
func (s *Sim) Logins() int { s.mu.Lock(); defer s.mu.Unlock(); return s.logins }

// AddUser stores u.
func (s *Sim) AddUser(u User) { s.mu.Lock(); defer s.mu.Unlock(); cp := u; s.users[u.UserID] = &cp }

// User returns a copy of a user.
func (s *Sim) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	cp := *u
	cp.Opted = append([]string(nil), u.Opted...)
	return cp, true
}

// Requests returns every request received.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Demo is the demo data.
type Demo struct {
	Tenant, UserID, AdminEmail, AdminPassword string
}

// Demo values.
const (
	DemoTenant        = "acmepaymentscorp"
	DemoUserID        = "522320b9-cb6b-495d-ae07-e4b3bfdb3f6a.acmepaymentscorp"
	DemoAdminEmail    = "gateway-admin@acmepaymentscorp.example"
	DemoAdminPassword = "akana-sim-demo-password"
)

// SeedDemo adds the demo user and a Site Admin service account (the
// simulator must have been built for DemoTenant).
func (s *Sim) SeedDemo() Demo {
	s.AddUser(User{UserID: "0c6f1d2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5." + s.tenant, Email: DemoAdminEmail, Password: DemoAdminPassword, SiteAdmin: true, FirstName: "Gateway", LastName: "Admin"})
	s.AddUser(User{UserID: DemoUserID, Email: "jane.doe@acmepaymentscorp.example", Password: "unused", FirstName: "Jane", LastName: "Doe",
		Opted: []string{"com.soa.notification.type.ticket.change", "com.soa.notification.type.app.alert"}})
	return Demo{Tenant: s.tenant, UserID: DemoUserID, AdminEmail: DemoAdminEmail, AdminPassword: DemoAdminPassword}
}

func (s *Sim) cookieName() string { return "AtmoAuthToken_" + s.tenant }
func (s *Sim) csrfCookie() string { return "Csrf-Token_" + s.tenant }
func (s *Sim) csrfHeader() string { return "X-Csrf-Token_" + s.tenant }

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

	switch {
	case r.URL.Path == "/api/login" && r.Method == http.MethodPost:
		s.login(w, body)
		return
	case r.URL.Path == "/api/login/renewToken" && r.Method == http.MethodPost:
		sess, ok := s.authenticate(w, r, true)
		if ok {
			s.issue(w, sess.userID)
			text(w, http.StatusOK, "renewed")
		}
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/users/")
	if !ok {
		text(w, http.StatusNotFound, "not found")
		return
	}
	id, sub, _ := strings.Cut(rest, "/")
	if sub != "" && sub != "settings" {
		text(w, http.StatusNotFound, "not found")
		return
	}
	write := r.Method != http.MethodGet
	sess, ok := s.authenticate(w, r, write)
	if !ok {
		return
	}
	s.mu.Lock()
	caller := s.users[sess.userID]
	target := s.users[id]
	s.mu.Unlock()
	if caller == nil || (caller.UserID != id && !caller.SiteAdmin) {
		text(w, http.StatusUnauthorized, "not authorized: the caller is neither the user nor a Site Admin")
		return
	}
	if target == nil {
		text(w, http.StatusNotFound, "user not found")
		return
	}
	switch {
	case sub == "settings" && r.Method == http.MethodGet:
		s.mu.Lock()
		out := map[string]any{"UserID": target.UserID, "Email": target.Email, "OptedNotification": append([]string{}, target.Opted...)}
		s.mu.Unlock()
		writeJSON(w, out)
	case sub == "settings" && r.Method == http.MethodPut:
		s.putSettings(w, r, target, body)
	case sub == "" && r.Method == http.MethodGet:
		s.mu.Lock()
		out := map[string]any{"UserID": target.UserID, "FirstName": target.FirstName, "LastName": target.LastName, "Email": target.Email, "Phone": target.Phone, "State": "active"}
		s.mu.Unlock()
		writeJSON(w, out)
	case sub == "" && r.Method == http.MethodPut:
		s.putUser(w, r, target, body)
	default:
		text(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (s *Sim) login(w http.ResponseWriter, body []byte) {
	var in struct{ Email, Password string }
	if err := json.Unmarshal(body, &in); err != nil {
		text(w, http.StatusBadRequest, "invalid login request")
		return
	}
	s.mu.Lock()
	var found *User
	for _, u := range s.users {
		if strings.EqualFold(u.Email, in.Email) && u.Password == in.Password {
			found = u
		}
	}
	s.mu.Unlock()
	if found == nil {
		text(w, http.StatusUnauthorized, "invalid email or password")
		return
	}
	s.issue(w, found.UserID)
	s.mu.Lock()
	s.logins++
	s.mu.Unlock()
	writeJSON(w, map[string]any{"loginStatus": "SUCCESS", "UserID": found.UserID})
}

// issue creates a session and sets both cookies.
func (s *Sim) issue(w http.ResponseWriter, userID string) {
	s.mu.Lock()
	exp := s.now().Add(s.lifetime)
	s.mu.Unlock()
	tid, cid := newID(), newID()
	uuidPart, _, _ := strings.Cut(userID, ".")
	token := url.QueryEscape(fmt.Sprintf("TokenID=%s,claimed_id=urn:atmosphere:user:%s:%s,issueTime=%d,expirationTime=%d,UserName=%s,UserFDN=%s,AttributesIncluded=false,sig=%s",
		tid, s.tenant, uuidPart, exp.Add(-s.lifetime).UnixMilli(), exp.UnixMilli(), uuidPart, userID, newID()+newID()))
	csrf := url.QueryEscape(fmt.Sprintf("TokenID=%s,expirationTime=%d", cid, exp.UnixMilli()))
	s.mu.Lock()
	s.sessions[token] = &session{userID: userID, csrf: csrf, expires: exp}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: token, Path: "/", HttpOnly: true, Secure: true})
	http.SetCookie(w, &http.Cookie{Name: s.csrfCookie(), Value: csrf, Path: "/", Secure: true})
}

// authenticate checks the cookie, its expiry and, on writes, the CSRF header.
func (s *Sim) authenticate(w http.ResponseWriter, r *http.Request, write bool) (*session, bool) {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		text(w, http.StatusUnauthorized, "authentication required")
		return nil, false
	}
	s.mu.Lock()
	sess := s.sessions[c.Value]
	now := s.now()
	s.mu.Unlock()
	if sess == nil || !now.Before(sess.expires) {
		text(w, http.StatusUnauthorized, "session expired or invalid")
		return nil, false
	}
	if write && r.Header.Get(s.csrfHeader()) != sess.csrf {
		text(w, http.StatusUnauthorized, "missing or invalid CSRF token")
		return nil, false
	}
	return sess, true
}

func jsonType(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/vnd.soa.v"))
}

func (s *Sim) putSettings(w http.ResponseWriter, r *http.Request, u *User, body []byte) {
	if !jsonType(r) {
		text(w, http.StatusUnsupportedMediaType, "unsupported media type")
		return
	}
	var in struct {
		UserID            string
		Email             *string
		OptedNotification *[]string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		text(w, http.StatusBadRequest, "invalid AccountSettings")
		return
	}
	known := map[string]bool{}
	for _, t := range NotificationTypes() {
		known[t] = true
	}
	var opted []string
	if in.OptedNotification != nil {
		for _, n := range *in.OptedNotification {
			if !known[n] {
				text(w, http.StatusBadRequest, "unknown notification type "+n)
				return
			}
			opted = append(opted, n)
		}
	}
	email := ""
	if in.Email != nil {
		email = *in.Email
	}
	if email != "" {
		if _, err := mail.ParseAddress(email); err != nil || len(email) > 320 || strings.ContainsAny(email, "<> ") {
			text(w, http.StatusBadRequest, "invalid Email")
			return
		}
	}
	s.mu.Lock()
	u.Opted = opted // full replacement: omitted groups are opted out
	u.Email = email
	s.mu.Unlock()
	text(w, http.StatusOK, u.UserID)
}

func (s *Sim) putUser(w http.ResponseWriter, r *http.Request, u *User, body []byte) {
	if !jsonType(r) {
		text(w, http.StatusUnsupportedMediaType, "unsupported media type")
		return
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		text(w, http.StatusBadRequest, "invalid User")
		return
	}
	str := func(k string, max int) (string, bool) {
		v, ok := in[k]
		if !ok {
			return "", true
		}
		sv, isStr := v.(string)
		return sv, isStr && utf8.RuneCountInString(sv) <= max
	}
	first, ok1 := str("FirstName", 64)
	last, ok2 := str("LastName", 64)
	phone, ok3 := str("Phone", 32)
	email, ok4 := str("Email", 320)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		text(w, http.StatusBadRequest, "invalid User: FirstName and LastName at most 64, Phone 32, Email 320 characters")
		return
	}
	s.mu.Lock()
	u.FirstName, u.LastName, u.Phone, u.Email = first, last, phone, email
	s.mu.Unlock()
	text(w, http.StatusOK, u.UserID)
}

// ExpiresAt parses expirationTime out of a cookie value, for tests.
func ExpiresAt(cookie string) time.Time {
	v, _ := url.QueryUnescape(cookie)
	for _, part := range strings.Split(v, ",") {
		if ms, ok := strings.CutPrefix(part, "expirationTime="); ok {
			n, _ := strconv.ParseInt(ms, 10, 64)
			return time.UnixMilli(n)
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
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
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
