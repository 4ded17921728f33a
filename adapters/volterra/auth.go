package volterra

import (
	"net/http"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// scheme is the literal Authorization scheme word F5 documents (section 1).
const scheme = "APIToken"

// credential is the token one op runs with and whose it is, which decides
// what a 401/403 means (docs/api.md, Codes).
type credential struct {
	token canonical.Secret
	kind  adapters.CredKind
}

// credentialFor picks the caller's pass-through token when present (it names
// the user whose settings change), else the service token. ok is false when
// neither exists.
func (a *Adapter) credentialFor(op adapters.Op) (c credential, ok bool) {
	if op.PassThrough != "" {
		return credential{token: bareToken(op.PassThrough), kind: adapters.CallerCredential}, true
	}
	if a.token != "" {
		return credential{token: bareToken(a.token), kind: adapters.ServiceCredential}, true
	}
	return credential{}, false
}

// bareToken strips surrounding blanks and an "APIToken " prefix a caller may
// have copied along with the token, so the header never says
// "APIToken APIToken ...". The scheme word is matched case-insensitively,
// as HTTP auth schemes are.
func bareToken(s canonical.Secret) canonical.Secret {
	v := strings.TrimSpace(s.Reveal())
	if strings.EqualFold(v, scheme) {
		return "" // the scheme word alone carries no token
	}
	if len(v) > len(scheme) && strings.EqualFold(v[:len(scheme)], scheme) && (v[len(scheme)] == ' ' || v[len(scheme)] == '\t') {
		v = strings.TrimSpace(v[len(scheme)+1:])
	}
	return canonical.Secret(v)
}

// validToken reports whether t can be sent as a header value: non-empty
// visible ASCII without blanks. Anything else (a CR/LF, a space) would be a
// malformed or injected header, so it is refused before any call.
func validToken(t canonical.Secret) bool {
	v := t.Reveal()
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// header builds a fresh header per call, so no middleware can change
// another call's header through a shared map.
func (c credential) header(withBody bool) http.Header {
	h := http.Header{
		"Authorization": {scheme + " " + c.token.Reveal()},
		"Accept":        {"application/json"},
	}
	if withBody {
		h.Set("Content-Type", "application/json")
	}
	return h
}
