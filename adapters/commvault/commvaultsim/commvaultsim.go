// Package commvaultsim simulates the Commvault REST API V4 calls the gateway
// uses (docs/vendors/commvault.md): GET /V4/user (the unfiltered,
// unpaged user list identity links resolve through), POST /Login (base64 password; a
// failed login is HTTP 200 with errList and no token), the Authtoken header
// with a sliding idle expiry, and GET/PUT /V4/user/{userId} with int32 ids,
// group and plan references by id or name, the password pair rule
// (validationPassword = the logged-in caller's password, section 5), and
// failures reported as 200 + errorCode (the Commvault pattern) or, with
// FailWith400, as 400. Paths match case-insensitively, with or without the
// /webconsole/api prefix. Standard library only; it never imports the
// adapter.
//
// Decisions where the notes say GUESS: a non-numeric or out-of-range userId
// is 400 {"errorCode":400}; an unknown id is 404 GenericResp; an expired or
// missing token is 401 with an empty body; unknown body fields are 400;
// e-mail and name must be unique among users.
package commvaultsim

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters/simlog"
)

// IdName is Commvault's reference type.
type IdName struct {
	ID   int32  `json:"id"`
	Name string `json:"name"`
}

// User is a Commvault user.
type User struct {
	ID              int32
	Name, FullName  string
	Email, Password string // password in clear inside the simulator
	Enabled         bool
	UPN, AuthMethod string
	Plan            *IdName
	Groups          []IdName
	External        bool
}

type token struct {
	user     int32
	lastUsed time.Time
	timeout  time.Duration
}

// Request is one received request.
type Request struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// Sim is the simulator.
type Sim struct {
	muxOnce sync.Once
	mux     *http.ServeMux

	mu    sync.Mutex
	users map[int32]*User
	// names and emails count the users holding each case-folded name
	// and e-mail, so the uniqueness checks of a write do not scan every
	// user (a 10,000-user migration made that scan the simulator's main
	// cost).
	names, emails map[string]int
	groups        map[int32]string
	plans         map[int32]string
	tokens        map[string]*token
	log           []Request
	logins        int
	now           func() time.Time
	// FailWith400 reports validation failures as HTTP 400 instead of 200
	// with a non-zero errorCode.
	failWith400 bool
	idle        time.Duration
}

// New returns a simulator with groups 1 master, 3 operators, 4 viewers and
// plans 7 CSPlan, 8 ServerPlan.
func New() *Sim {
	return &Sim{users: map[int32]*User{}, tokens: map[string]*token{}, names: map[string]int{}, emails: map[string]int{},
		groups: map[int32]string{1: "master", 3: "operators", 4: "viewers"},
		plans:  map[int32]string{7: "CSPlan", 8: "ServerPlan"},
		now:    time.Now, idle: 30 * time.Minute}
}

// SetClock replaces the clock; SetIdle the default idle timeout;
// SetFailWith400 switches how validation failures are reported.
func (s *Sim) SetClock(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// SetIdle sets the default idle timeout.
func (s *Sim) SetIdle(d time.Duration) { s.mu.Lock(); s.idle = d; s.mu.Unlock() }

// SetFailWith400 switches validation failures to HTTP 400.
func (s *Sim) SetFailWith400(on bool) { s.mu.Lock(); s.failWith400 = on; s.mu.Unlock() }

// Logins counts successful logins.
func (s *Sim) Logins() int { s.mu.Lock(); defer s.mu.Unlock(); return s.logins }

// AddUser stores u.
func (s *Sim) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.users[u.ID]; old != nil {
		s.index(old, -1)
	}
	cp := u
	s.users[u.ID] = &cp
	s.index(&cp, 1)
}

// index counts u's name and e-mail in (d 1) or out (d -1); s.mu is held.
func (s *Sim) index(u *User, d int) {
	s.names[strings.ToLower(u.Name)] += d
	s.emails[strings.ToLower(u.Email)] += d
}

// others is how many users other than u hold value in counts (names or
// emails), compared case-insensitively; own is u's value of that kind.
func others(counts map[string]int, value, own string) int {
	k := strings.ToLower(value)
	n := counts[k]
	if k == strings.ToLower(own) {
		n--
	}
	return n
}

// User returns a copy.
func (s *Sim) User(id int32) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	cp := *u
	cp.Groups = slices.Clone(u.Groups)
	return cp, true
}

// Requests returns the latest simlog.Limit requests received, in order.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Demo is the demo data.
type Demo struct {
	UserID             int32
	Username, Password string
}

// Demo values.
const (
	DemoUserID   = 42
	DemoUsername = "gateway-svc"
	DemoPassword = "commvault-sim-demo-password"
)

// SeedDemo adds the demo user and the gateway's service account.
func (s *Sim) SeedDemo() Demo {
	s.AddUser(User{ID: 2, Name: DemoUsername, FullName: "Gateway Service", Email: "gateway-svc@example.com", Password: DemoPassword, Enabled: true, AuthMethod: "LOCAL",
		Groups: []IdName{{1, "master"}}})
	s.AddUser(User{ID: DemoUserID, Name: "jdoe", FullName: "Jane Doe", Email: "jane.doe@example.com", Password: "old-password", Enabled: true, AuthMethod: "LOCAL",
		UPN: "jdoe@corp.example", Plan: &IdName{7, "CSPlan"}, Groups: []IdName{{3, "operators"}}})
	return Demo{UserID: DemoUserID, Username: DemoUsername, Password: DemoPassword}
}

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.routes().ServeHTTP(w, r)
}

// routes is the simulator's router, built once. The simulator's own
// endpoints match exactly; the vendor's paths match in any case, under
// /webconsole/api, /commandcenter/api or the root, so the vendor router
// sees the path lower-cased with that prefix removed. An unknown path is
// the web server's 404 "Page not found".
func (s *Sim) routes() *http.ServeMux {
	s.muxOnce.Do(func() {
		v := http.NewServeMux()
		v.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) { s.login(w, bodyOf(r)) })
		list := s.authed(func(w http.ResponseWriter, r *http.Request, _ *User) { s.list(w, r) })
		v.HandleFunc("GET /v4/user", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead { // a GET pattern takes HEAD too
				generic(w, http.StatusNotFound, 404, "Page not found")
				return
			}
			list(w, r)
		})
		v.HandleFunc("POST /v4/user", s.authed(func(w http.ResponseWriter, r *http.Request, _ *User) { s.create(w, bodyOf(r)) }))
		// Without this, the mux would redirect other methods to /v4/user/.
		v.HandleFunc("/v4/user", func(w http.ResponseWriter, r *http.Request) { generic(w, http.StatusNotFound, 404, "Page not found") })
		// The id is the last segment; its checks come before the method's.
		v.HandleFunc("/v4/user/{rest...}", s.authed(s.user))
		v.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { generic(w, http.StatusNotFound, 404, "Page not found") })

		m := http.NewServeMux()
		m.HandleFunc("/_sim/requests", func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			b, _ := json.Marshal(s.log)
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		})
		m.HandleFunc("/_sim/reset", func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.log = nil
			s.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})
		m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
			s.mu.Lock()
			s.log = simlog.Append(s.log, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)})
			s.mu.Unlock()
			p := strings.ToLower(r.URL.Path)
			p = strings.TrimPrefix(p, "/webconsole/api")
			p = strings.TrimPrefix(p, "/commandcenter/api")
			r2 := r.Clone(context.WithValue(r.Context(), bodyKey{}, body))
			r2.URL.Path, r2.URL.RawPath = p, ""
			v.ServeHTTP(w, r2)
		})
		s.mux = m
	})
	return s.mux
}

// bodyKey carries the request body, read once for the log, to the routes.
type bodyKey struct{}

func bodyOf(r *http.Request) []byte {
	b, _ := r.Context().Value(bodyKey{}).([]byte)
	return b
}

// authed answers 401 (no body) to a request without a valid session
// token before h.
func (s *Sim) authed(h func(http.ResponseWriter, *http.Request, *User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caller, ok := s.auth(r)
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, r, caller)
	}
}

// user serves /V4/User/{userId}: GetUserDetails and ModifyUser.
func (s *Sim) user(w http.ResponseWriter, r *http.Request, caller *User) {
	rest := r.PathValue("rest")
	raw := rest[strings.LastIndex(rest, "/")+1:]
	id, err := strconv.ParseInt(raw, 10, 32)
	if err != nil {
		generic(w, http.StatusBadRequest, 400, "Invalid userId")
		return
	}
	s.mu.Lock()
	u := s.users[int32(id)]
	s.mu.Unlock()
	if u == nil {
		generic(w, http.StatusNotFound, 404, "Requested Details not found")
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.get(w, u)
	case http.MethodPut:
		s.put(w, caller, u, bodyOf(r))
	default:
		generic(w, http.StatusMethodNotAllowed, 405, "Method not allowed")
	}
}

// list is GetUsers (commvault.md 9.1): every user as a UserSummary, with no
// paging, no name or e-mail filter and no sort (the simulator orders by id);
// userGroupId keeps the members of one group.
func (s *Sim) list(w http.ResponseWriter, r *http.Request) {
	var group int64 = -1
	if v := r.URL.Query().Get("userGroupId"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			generic(w, http.StatusBadRequest, 400, "Invalid userGroupId")
			return
		}
		group = n
	}
	s.mu.Lock()
	ids := make([]int32, 0, len(s.users))
	for id := range s.users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	users := []map[string]any{}
	for _, id := range ids {
		u := s.users[id]
		if group >= 0 && !slices.ContainsFunc(u.Groups, func(g IdName) bool { return int64(g.ID) == group }) {
			continue
		}
		item := map[string]any{"id": u.ID, "name": u.Name, "GUID": "guid-" + strconv.Itoa(int(u.ID)), "email": u.Email, "fullName": u.FullName,
			"enabled": u.Enabled, "lockInfo": map[string]any{"isLocked": false, "startTime": 0, "endTime": 0}, "userPrincipalName": u.UPN,
			"company": map[string]any{"id": 0, "name": "Commcell"}, "numberOfLaptops": 0, "commcell": map[string]any{"name": "commserve"}}
		if u.Plan != nil {
			item["plan"] = map[string]any{"id": u.Plan.ID, "name": u.Plan.Name}
		}
		users = append(users, item)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"numberOfUsers": len(users), "users": users})
}

func (s *Sim) login(w http.ResponseWriter, body []byte) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Timeout  int    `json:"timeout"`
	}
	fail := func(code int, msg string) {
		writeJSON(w, http.StatusOK, map[string]any{"errList": []any{map[string]any{"errorCode": code, "errLogMessage": msg}}})
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail(1, "Invalid request")
		return
	}
	pw, err := base64.StdEncoding.DecodeString(in.Password)
	if err != nil {
		fail(1116, "Password must be base64 encoded")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var u *User
	for _, x := range s.users {
		if (x.Name == in.Username || strings.EqualFold(x.Email, in.Username)) && x.Password == string(pw) {
			u = x
		}
	}
	if u == nil {
		fail(5, "Invalid Username or Password")
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := "QSDK " + hex.EncodeToString(b)
	timeout := s.idle
	if in.Timeout > 0 {
		timeout = time.Duration(in.Timeout) * time.Minute
	}
	s.tokens[tok] = &token{user: u.ID, lastUsed: s.now(), timeout: timeout}
	s.logins++
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "userName": u.Name, "aliasName": strconv.Itoa(int(u.ID)), "errList": []any{},
		"forcePasswordChange": false, "isAccountLocked": false, "remainingLockTime": 0})
}

// auth checks the Authtoken header and slides its idle expiry.
func (s *Sim) auth(r *http.Request) (*User, bool) {
	t := r.Header.Get("Authtoken")
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.tokens[t]
	if tok == nil {
		return nil, false
	}
	now := s.now()
	if now.Sub(tok.lastUsed) > tok.timeout {
		delete(s.tokens, t)
		return nil, false
	}
	tok.lastUsed = now
	return s.users[tok.user], true
}

func (s *Sim) get(w http.ResponseWriter, u *User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	groups := []map[string]any{}
	for _, g := range u.Groups {
		groups = append(groups, map[string]any{"id": g.ID, "name": g.Name, "provider": map[string]any{"id": 0, "name": ""}})
	}
	out := map[string]any{"id": u.ID, "name": u.Name, "GUID": "guid-" + strconv.Itoa(int(u.ID)), "fullName": u.FullName, "email": u.Email,
		"enabled": u.Enabled, "lockInfo": map[string]any{"isLocked": false, "startTime": 0, "endTime": 0}, "description": "",
		"serviceType": "COMMSERVE", "company": map[string]any{"id": 0, "name": "Commcell"}, "authenticationMethod": u.AuthMethod,
		"associatedUserGroups": groups, "userPrincipalName": u.UPN}
	if u.Plan != nil {
		out["plan"] = map[string]any{"id": u.Plan.ID, "name": u.Plan.Name}
	}
	writeJSON(w, http.StatusOK, out)
}

type update struct {
	FullName             *string `json:"fullName"`
	NewName              *string `json:"newName"`
	Email                *string `json:"email"`
	UserGroupOperation   *string `json:"userGroupOperation"`
	UserGroups           *[]ref  `json:"userGroups"`
	NewPassword          *string `json:"newPassword"`
	ValidationPassword   *string `json:"validationPassword"`
	Plan                 *ref    `json:"plan"`
	Enabled              *bool   `json:"enabled"`
	UserPrincipalName    *string `json:"userPrincipalName"`
	AuthenticationMethod *string `json:"authenticationMethod"`
}

type ref struct {
	ID   *int32  `json:"id"`
	Name *string `json:"name"`
}

func (s *Sim) put(w http.ResponseWriter, caller, u *User, body []byte) {
	var in update
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		generic(w, http.StatusBadRequest, 400, "Invalid input: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(code int, msg string) {
		if s.failWith400 {
			generic(w, http.StatusBadRequest, code, msg)
			return
		}
		generic(w, http.StatusOK, code, msg)
	}
	op := "ADD"
	if in.UserGroupOperation != nil {
		op = *in.UserGroupOperation
		if op != "ADD" && op != "DELETE" && op != "OVERWRITE" {
			generic(w, http.StatusBadRequest, 400, "Invalid userGroupOperation")
			return
		}
	}
	resolve := func(r ref, table map[int32]string) (IdName, bool) {
		if r.ID != nil {
			n, ok := table[*r.ID]
			return IdName{*r.ID, n}, ok
		}
		if r.Name != nil {
			for id, n := range table {
				if strings.EqualFold(n, *r.Name) {
					return IdName{id, n}, true
				}
			}
		}
		return IdName{}, false
	}
	var groups []IdName
	if in.UserGroups != nil {
		if u.External {
			fail(2, "For external users, user groups cannot be modified")
			return
		}
		for _, g := range *in.UserGroups {
			gn, ok := resolve(g, s.groups)
			if !ok {
				fail(404, "User group not found")
				return
			}
			groups = append(groups, gn)
		}
	}
	var plan IdName
	if in.Plan != nil {
		var ok bool
		if plan, ok = resolve(*in.Plan, s.plans); !ok {
			fail(404, "Plan not found")
			return
		}
	}
	var newPassword string
	if in.NewPassword != nil {
		if in.ValidationPassword == nil {
			fail(1, "validationPassword is required to change the password")
			return
		}
		np, err1 := base64.StdEncoding.DecodeString(*in.NewPassword)
		vp, err2 := base64.StdEncoding.DecodeString(*in.ValidationPassword)
		if err1 != nil || err2 != nil {
			fail(1, "Passwords must be base64 encoded")
			return
		}
		if string(vp) != caller.Password {
			fail(3, "Validation password is incorrect")
			return
		}
		if len(np) < 8 {
			fail(1, "Password does not meet the complexity requirements")
			return
		}
		newPassword = string(np)
	}
	if in.NewName != nil && others(s.names, *in.NewName, u.Name) > 0 {
		fail(409, "A user with this name already exists")
		return
	}
	if in.Email != nil && others(s.emails, *in.Email, u.Email) > 0 {
		fail(409, "A user with this email already exists")
		return
	}
	// All checks passed: apply.
	if in.FullName != nil {
		u.FullName = *in.FullName
	}
	s.index(u, -1)
	defer s.index(u, 1)
	if in.NewName != nil {
		u.Name = *in.NewName
	}
	if in.Email != nil {
		u.Email = *in.Email
	}
	if in.Enabled != nil {
		u.Enabled = *in.Enabled
	}
	if in.UserPrincipalName != nil {
		u.UPN = *in.UserPrincipalName
	}
	if in.AuthenticationMethod != nil {
		u.AuthMethod = *in.AuthenticationMethod
	}
	if in.Plan != nil {
		u.Plan = &plan
	}
	if newPassword != "" {
		u.Password = newPassword
	}
	if in.UserGroups != nil {
		switch op {
		case "OVERWRITE":
			u.Groups = groups
		case "DELETE":
			u.Groups = slices.DeleteFunc(u.Groups, func(g IdName) bool {
				return slices.ContainsFunc(groups, func(x IdName) bool { return x.ID == g.ID })
			})
		default:
			for _, g := range groups {
				if !slices.ContainsFunc(u.Groups, func(x IdName) bool { return x.ID == g.ID }) {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		sort.Slice(u.Groups, func(i, j int) bool { return u.Groups[i].ID < u.Groups[j].ID })
	}
	generic(w, http.StatusOK, 0, "")
}

func generic(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"errorMessage": msg, "errorCode": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// SeedUsers adds n users with ids SeededUserID(i), for load tests and the
// multi-replica proof, where each key needs its own user.
func (s *Sim) SeedUsers(n int) {
	for i := 0; i < n; i++ {
		s.AddUser(User{ID: SeededUserID(i), Name: "seeded" + strconv.Itoa(i), Email: "seeded" + strconv.Itoa(i) + "@example.com",
			Password: "unused-password", Enabled: true, AuthMethod: "LOCAL"})
	}
}

// SeededUserID is the id of the i-th seeded user.
func SeededUserID(i int) int32 { return int32(100000 + i) }
