package akana

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// maxMessage bounds how much of a vendor message goes into an error.
const maxMessage = 300

// mapError maps a non-2xx answer with docs/api.md (Codes). Akana documents
// only 401 (cookie missing or expired, CSRF header missing or wrong, caller
// neither self nor Site Admin) and 500 (akana.md section 2.2); everything
// else goes through the generic table. The session has already logged in
// again once before a 401 gets here, so a 401 is the service account's
// problem: upstream_auth_failed.
func mapError(r *adapters.Response) *canonical.Error {
	e := adapters.StatusError(r, adapters.ServiceCredential, vendorMessage(r.Body))
	if r.Status == http.StatusUnauthorized {
		msg := "Akana refused the service account after a fresh login (it must be a Site Admin to update other users)"
		if e.Message != "" && !strings.HasPrefix(e.Message, "vendor answered") {
			msg += ": " + e.Message
		}
		e.Message = msg
	}
	return e
}

// vendorMessage extracts a short message from an Akana error body. The
// error body format is not documented (akana.md section 8): plain text is
// taken as is, a JSON object's message-like member is used when present.
func vendorMessage(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" || !utf8.ValidString(s) {
		return ""
	}
	if s[0] == '{' {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			return ""
		}
		for _, k := range []string{"message", "Message", "error", "errorMessage", "faultstring"} {
			if v, ok := m[k].(string); ok && v != "" {
				return truncate(v)
			}
		}
		return ""
	}
	if s[0] == '<' {
		return "" // an HTML error page says nothing useful
	}
	return truncate(s)
}

// truncate shortens s to maxMessage bytes on a rune boundary and removes
// control characters, so a vendor body cannot forge log lines.
func truncate(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return adapters.Truncate(s, maxMessage)
}
