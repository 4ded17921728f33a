package commvaultsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// create is CreateUser, POST /V4/user (commvault.md 9.2): {"users":[...]},
// email required; 200 {"users":[{"id","GUID","name"}]}. The duplicate
// answer is undocumented; the simulator gives the documented error pattern
// (200 with errorCode, section 6) for a name or e-mail it already has.
func (s *Sim) create(w http.ResponseWriter, body []byte) {
	var in struct {
		Users []struct {
			Email                     string `json:"email"`
			Name                      string `json:"name"`
			FullName                  string `json:"fullName"`
			Password                  string `json:"password"`
			UseSystemGeneratePassword bool   `json:"useSystemGeneratePassword"`
		} `json:"users"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.Users) == 0 {
		generic(w, http.StatusBadRequest, 400, "Invalid input: users is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, c := range in.Users {
		if strings.TrimSpace(c.Email) == "" {
			generic(w, http.StatusBadRequest, 400, "Invalid input: email is required")
			return
		}
		name := c.Name
		if name == "" {
			name = c.Email
		}
		if s.names[strings.ToLower(name)] > 0 || s.emails[strings.ToLower(c.Email)] > 0 {
			generic(w, http.StatusOK, 409, "User already exists")
			return
		}
		pw := "system-generated"
		if c.Password != "" {
			b, err := base64.StdEncoding.DecodeString(c.Password)
			if err != nil {
				generic(w, http.StatusBadRequest, 400, "Invalid input: password must be base64")
				return
			}
			pw = string(b)
		}
		var id int32 = 1000
		for s.users[id] != nil {
			id++
		}
		s.users[id] = &User{ID: id, Name: name, FullName: c.FullName, Email: c.Email, Password: pw, Enabled: true, AuthMethod: "LOCAL"}
		s.index(s.users[id], 1)
		out = append(out, map[string]any{"id": id, "GUID": "guid-" + strconv.Itoa(int(id)), "name": name})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}
