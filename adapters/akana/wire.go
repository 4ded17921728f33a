package akana

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// accountSettings is AccountSettings, the body of GET and PUT
// /api/users/{UserID}/settings (akana.md sections 2.1, 2.2). PUT replaces
// the opted-in set and the e-mail, so every member is always sent.
type accountSettings struct {
	UserID            string   `json:"UserID"`
	Email             string   `json:"Email"`
	OptedNotification []string `json:"OptedNotification"`
}

// loginRequest is the body of POST /api/login (akana.md section 3).
type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// loginSecrets are the members of loginRequest that are secret.
var loginSecrets = []string{"/password"}

// parseSettings reads a GET settings answer. A missing or null
// OptedNotification is the empty set, never nil, so the PUT built from it
// always carries the member.
func parseSettings(body []byte) (accountSettings, error) {
	var s accountSettings
	if err := decodeObject(body, &s); err != nil {
		return accountSettings{}, err
	}
	if s.OptedNotification == nil {
		s.OptedNotification = []string{}
	}
	return s, nil
}

// parseUser reads a GET user answer as raw members, so the PUT that follows
// sends back every member exactly as read (numbers and nested objects
// included), changing only the names.
func parseUser(body []byte) (map[string]json.RawMessage, error) {
	var u map[string]json.RawMessage
	if err := decodeObject(body, &u); err != nil {
		return nil, err
	}
	return u, nil
}

// decodeObject decodes a JSON object (not null, not an array).
func decodeObject(body []byte, into any) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return errors.New("not a JSON object")
	}
	return json.Unmarshal(b, into)
}

// parseConfirmation reads the 200 text/plain answer of a PUT, which is the
// UserID (akana.md section 2.2). A JSON string is accepted too, in case a
// deployment answers with a JSON media type.
func parseConfirmation(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) >= 2 && s[0] == '"' {
		var v string
		if json.Unmarshal([]byte(s), &v) == nil {
			return v
		}
	}
	return s
}
