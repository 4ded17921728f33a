package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/auth"
)

// Authentication methods, as recorded in the audit trail.
const (
	MethodNone   = "none"
	MethodAPIKey = "api_key"
	MethodOIDC   = "oidc"
	MethodMTLS   = "mtls"
)

const (
	authMethodKey = "gateway.auth_method"
	challengeKey  = "gateway.challenge"
)

// authState is the mutable part of authentication: when each client was
// last told its key is past its expiry.
type authState struct {
	mu       sync.Mutex
	notified map[string]time.Time
}

func (s *server) hasMode(m string) bool {
	if len(s.o.AuthModes) == 0 {
		return m == MethodAPIKey
	}
	return slices.Contains(s.o.AuthModes, m)
}

// authenticateAny picks the method: the Authorization header when sent
// (a JWT with oidc on, else an API key), else the client certificate.
func (s *server) authenticateAny(c *fiber.Ctx) error {
	authz := c.Get(fiber.HeaderAuthorization)
	if authz == "" && s.hasMode(MethodMTLS) {
		return s.authenticateCert(c)
	}
	// The scheme is case-insensitive (RFC 9110 section 11.1): bearer and
	// BEARER are Bearer.
	scheme, token, _ := strings.Cut(authz, " ")
	token = strings.TrimLeft(token, " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "credentials are required: " + s.accepted()}
	}
	if s.o.OIDC != nil && auth.LooksLikeJWT(token) {
		return s.authenticateToken(c, token)
	}
	if !s.hasMode(MethodAPIKey) {
		return s.invalidToken(c, "API keys are not accepted here; use "+s.accepted())
	}
	return s.authenticateKey(c, token)
}

func (s *server) accepted() string {
	if len(s.o.AuthModes) == 0 || slices.Equal(s.o.AuthModes, []string{MethodAPIKey}) {
		return "an API key: Authorization: Bearer <key>"
	}
	var ways []string
	if s.hasMode(MethodAPIKey) {
		ways = append(ways, "Authorization: Bearer <api key>")
	}
	if s.hasMode(MethodOIDC) {
		ways = append(ways, "Authorization: Bearer <JWT>")
	}
	if s.hasMode(MethodMTLS) {
		ways = append(ways, "a client certificate")
	}
	return strings.Join(ways, ", or ")
}

// invalidToken answers 401 with RFC 6750's error="invalid_token" and the
// reason.
func (s *server) invalidToken(c *fiber.Ctx, desc string) error {
	c.Locals(challengeKey, `Bearer realm="identity-gateway", error="invalid_token", error_description="`+headerSafe(desc)+`"`)
	return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "the bearer token is not valid: " + desc}
}

// headerSafe keeps what RFC 6750 allows in error_description (printable
// ASCII without " and \), bounded.
func headerSafe(s string) string {
	b := make([]byte, 0, min(len(s), 200))
	for i := 0; i < len(s) && len(b) < 200; i++ {
		ch := s[i]
		switch {
		case ch == '"':
			b = append(b, '\'')
		case ch < 0x20 || ch > 0x7e || ch == '\\':
			b = append(b, '?')
		default:
			b = append(b, ch)
		}
	}
	return string(b)
}

// noKey is an unset key hash.
var noKey [32]byte

func (s *server) authenticateKey(c *fiber.Ctx, key string) error {
	sum := sha256.Sum256([]byte(key))
	var found *Client
	usedOld := false
	for i := range s.o.Clients {
		cl := &s.o.Clients[i]
		// Compare against every client and both keys, so timing does not
		// reveal which position (if any) matched.
		cur := subtle.ConstantTimeCompare(sum[:], cl.KeyHash[:]) == 1 && cl.KeyHash != noKey
		next := subtle.ConstantTimeCompare(sum[:], cl.NextKeyHash[:]) == 1 && cl.NextKeyHash != noKey
		if cur || next {
			found = cl
			usedOld = cur
		}
	}
	if found == nil {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "the API key is not valid"}
	}
	if usedOld && !found.KeyExpires.IsZero() {
		s.noteExpiredKey(c, found)
	}
	c.Locals(clientKey, found)
	c.Locals(authMethodKey, MethodAPIKey)
	return c.Next()
}

// noteExpiredKey logs, at most once a day per client, that a client still
// uses a key past its key_expires.
func (s *server) noteExpiredKey(c *fiber.Ctx, cl *Client) {
	now := s.now()
	if now.Before(cl.KeyExpires) {
		return
	}
	st := s.auth
	st.mu.Lock()
	last, seen := st.notified[cl.Name]
	due := !seen || now.Sub(last) >= 24*time.Hour
	if due {
		st.notified[cl.Name] = now
	}
	st.mu.Unlock()
	if due {
		s.o.Logger.WarnContext(c.UserContext(), "client still uses an API key past its key_expires; rotate it (next_key_sha256)",
			"client", cl.Name, "key_expires", cl.KeyExpires.UTC().Format(time.RFC3339), "has_next_key", cl.NextKeyHash != noKey)
	}
}

func (s *server) now() time.Time {
	if s.o.Now != nil {
		return s.o.Now()
	}
	return time.Now()
}

func (s *server) authenticateToken(c *fiber.Ctx, raw string) error {
	tok, err := s.o.OIDC.Verify(c.UserContext(), raw)
	var te *auth.TokenError
	switch {
	case errors.As(err, &te):
		return s.invalidToken(c, te.Description)
	case err != nil:
		// The identity provider could not be reached: the token may be fine.
		s.o.Logger.ErrorContext(c.UserContext(), "oidc keys unavailable", "err", err)
		return &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "the identity provider's keys could not be fetched; try again",
			RetryAfter: 5 * time.Second}
	}
	var base *Client
	for i := range s.o.Clients {
		if cl := &s.o.Clients[i]; cl.OIDCSubject != "" && cl.OIDCSubject == tok.Client {
			base = cl
			break
		}
	}
	if base == nil {
		return s.invalidToken(c, "no client is configured for this token (clients[].oidc_subject)")
	}
	cl := base.forToken(auth.GrantsFrom(tok.Scopes))
	c.Locals(clientKey, cl)
	c.Locals(authMethodKey, MethodOIDC)
	return c.Next()
}

// forToken is the client as one token may act: the token's idgw: scopes
// and roles grant targets, fields and permissions within what the client's
// configuration allows (a dimension the token is silent on keeps the
// configured allowance).
func (cl *Client) forToken(g auth.Grants) *Client {
	out := *cl
	if g.Targets != nil {
		out.Targets = auth.Narrow(cl.TokenTargets, g.Targets)
	}
	out.Fields = auth.Narrow(cl.Fields, g.Fields)
	if g.Permissions != nil {
		out.Permissions = auth.Narrow(cl.TokenPermissions, g.Permissions)
	}
	return &out
}

func (s *server) authenticateCert(c *fiber.Ctx) error {
	st := c.Context().TLSConnectionState()
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "credentials are required: " + s.accepted()}
	}
	leaf := st.VerifiedChains[0][0]
	for i := range s.o.Clients {
		cl := &s.o.Clients[i]
		if (cl.CertSubject != "" || len(cl.CertSANs) > 0) && auth.CertMatches(leaf, cl.CertSubject, cl.CertSANs) {
			c.Locals(clientKey, cl)
			c.Locals(authMethodKey, MethodMTLS)
			return c.Next()
		}
	}
	return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "the client certificate names no configured client (clients[].cert_subject or cert_sans)"}
}

// hasPermission reports whether the client holds a permission (audit,
// links, scim, ...).
func hasPermission(cl *Client, p string) bool {
	return cl != nil && (cl.AllPermissions || slices.Contains(cl.Permissions, p))
}
