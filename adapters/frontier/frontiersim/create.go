package frontiersim

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
)

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

// create is CreateUser, POST /v1beta1/users (frontier.md 9.2): PGV
// validation, then superuser only; email required; an empty name becomes
// a slug of the e-mail; name and e-mail stored lowercase; a name or e-mail
// that exists in any case (disabled users too) is 409 code 6 "already
// exist"; success is 200 {"user":...} with state enabled.
func (s *Sim) create(w http.ResponseWriter, r *http.Request, body []byte) {
	in, err := decodeBody(body)
	if err != nil {
		writeErr(w, http.StatusBadRequest, 3, err.Error())
		return
	}
	if msg := validate(in); msg != "" {
		writeErr(w, http.StatusBadRequest, 3, "invalid CreateUserRequest.Body: embedded message failed validation | caused by: "+msg)
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
	name := strings.ToLower(in.Name)
	if name == "" {
		name = strings.Trim(slugRe.ReplaceAllString(strings.ToLower(in.Email), "_"), "_")
	}
	email := strings.ToLower(in.Email)
	s.mu.Lock()
	for _, u := range s.users {
		if u.Name == name || u.Email == email {
			s.mu.Unlock()
			writeErr(w, http.StatusConflict, 6, "already exist")
			return
		}
	}
	s.mu.Unlock()
	u := User{ID: newUUID(), Name: name, Email: email, Title: in.Title, Metadata: in.Metadata}
	s.AddUser(u)
	out, _ := s.User(u.ID)
	writeJSON(w, http.StatusOK, map[string]any{"user": out})
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// remove is DeleteUser, DELETE /v1beta1/users/{uuid} (frontier.md 9.3):
// superuser only; the row goes; 200 {}; an unknown UUID is 500 code 13
// "user doesn't exist" (every error is wrapped as Internal).
func (s *Sim) remove(w http.ResponseWriter, r *http.Request, id string) {
	if !s.authorise(w, r) {
		return
	}
	uid, ok := parseUUID(id)
	s.mu.Lock()
	_, found := s.users[uid]
	if ok && found {
		delete(s.users, uid)
	}
	s.mu.Unlock()
	if !ok || !found {
		writeErr(w, http.StatusInternalServerError, 13, "user doesn't exist")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}
