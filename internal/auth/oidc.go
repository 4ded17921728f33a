package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// OIDCConfig configures bearer-token (JWT) authentication.
type OIDCConfig struct {
	// Issuer is the identity provider's issuer URL; its
	// /.well-known/openid-configuration names the JWKS.
	Issuer string
	// Audience must be in the token's aud.
	Audience string
	// Algorithms are the accepted signing algorithms (default RS256). none
	// and the HMAC algorithms are never accepted.
	Algorithms []string
	// ClockSkew is tolerated on exp and nbf (default 30s, at most 5m).
	ClockSkew time.Duration
	// ClientClaim names the claim that identifies the client: client_id,
	// azp or sub (default client_id, falling back to azp).
	ClientClaim string
	// MinRefresh is the least time between two JWKS fetches (default 1m).
	MinRefresh time.Duration
	// HTTPClient fetches discovery and JWKS (default: 10s timeout).
	HTTPClient *http.Client
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// TokenError is a refused token. Description goes into WWW-Authenticate's
// error_description: precise, and never the token itself.
type TokenError struct {
	Description string
}

func (e *TokenError) Error() string { return "invalid_token: " + e.Description }

// Token is a verified bearer token.
type Token struct {
	// Client is the value of the configured client claim.
	Client string
	// Subject is sub.
	Subject string
	// Scopes are the scope (space-separated), scp and roles claims together.
	Scopes []string
}

// OIDC verifies JWT bearer tokens of one issuer.
type OIDC struct {
	cfg      OIDCConfig
	keys     *keySet
	verifier *oidc.IDTokenVerifier

	// cache holds tokens that verified, by SHA-256 of the token, until their
	// exp: a client-credentials token is reused for many requests, and the
	// signature check (an RSA verification) is most of a token's cost.
	mu         sync.Mutex
	cache      map[[32]byte]cachedToken
	signChecks int
}

type cachedToken struct {
	tok Token
	exp time.Time
}

// maxCachedTokens bounds the cache; when full it starts over.
const maxCachedTokens = 10000

// NewOIDC builds the verifier. No I/O: discovery and the JWKS are fetched
// on the first token, so the gateway starts while the identity provider is
// down (tokens are refused until it answers).
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("oidc: issuer and audience are required")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{"RS256"}
	}
	for _, a := range cfg.Algorithms {
		if !SupportedAlgorithm(a) {
			return nil, fmt.Errorf("oidc: algorithm %q is not supported (asymmetric algorithms only)", a)
		}
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 30 * time.Second
	}
	if cfg.MinRefresh == 0 {
		cfg.MinRefresh = time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ks := &keySet{issuer: cfg.Issuer, client: cfg.HTTPClient, minRefresh: cfg.MinRefresh, now: cfg.Now}
	v := oidc.NewVerifier(cfg.Issuer, ks, &oidc.Config{
		ClientID:             cfg.Audience,
		SupportedSigningAlgs: cfg.Algorithms,
		// exp and nbf are checked here with the configured skew (go-oidc's
		// expiry check has none and its nbf leeway is a fixed 5m).
		SkipExpiryCheck: true,
	})
	return &OIDC{cfg: cfg, keys: ks, verifier: v, cache: map[[32]byte]cachedToken{}}, nil
}

// SupportedAlgorithm reports whether alg may be configured: asymmetric JWS
// algorithms only, so a public key can never be used as an HMAC secret.
func SupportedAlgorithm(alg string) bool {
	for _, a := range allSigningAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// JWKSFetches is how often the JWKS was fetched.
func (o *OIDC) JWKSFetches() int { return o.keys.Fetches() }

// LooksLikeJWT tells a JWT (three base64url segments) from an API key
// (gateway API keys have no dots).
func LooksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss      string          `json:"iss"`
	Sub      string          `json:"sub"`
	Aud      json.RawMessage `json:"aud"`
	Exp      *json.Number    `json:"exp"`
	Nbf      *json.Number    `json:"nbf"`
	ClientID string          `json:"client_id"`
	Azp      string          `json:"azp"`
	Scope    string          `json:"scope"`
	Scp      json.RawMessage `json:"scp"`
	Roles    []string        `json:"roles"`
}

func invalid(format string, args ...any) *TokenError {
	return &TokenError{Description: fmt.Sprintf(format, args...)}
}

// Verify checks a bearer token. A refusal is a *TokenError naming the
// reason; any other error means the identity provider could not be
// reached (keys unknown).
func (o *OIDC) Verify(ctx context.Context, raw string) (*Token, error) {
	sum := sha256.Sum256([]byte(raw))
	o.mu.Lock()
	c, hit := o.cache[sum]
	o.mu.Unlock()
	if hit {
		if !o.cfg.Now().After(c.exp.Add(o.cfg.ClockSkew)) {
			t := c.tok
			t.Scopes = slices.Clone(c.tok.Scopes)
			return &t, nil
		}
		o.mu.Lock()
		delete(o.cache, sum)
		o.mu.Unlock()
	}
	t, exp, err := o.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	if len(o.cache) >= maxCachedTokens {
		clear(o.cache)
	}
	o.cache[sum] = cachedToken{tok: *t, exp: exp}
	o.mu.Unlock()
	return t, nil
}

// SignatureChecks counts full verifications (cache misses), for tests.
func (o *OIDC) SignatureChecks() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.signChecks
}

func (o *OIDC) verify(ctx context.Context, raw string) (*Token, time.Time, error) {
	o.mu.Lock()
	o.signChecks++
	o.mu.Unlock()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, time.Time{}, invalid("the token is malformed: a JWT has three dot-separated parts")
	}
	var h jwtHeader
	if err := decodeSegment(parts[0], &h); err != nil {
		return nil, time.Time{}, invalid("the token is malformed: the header is not base64url JSON")
	}
	var cl jwtClaims
	if err := decodeSegment(parts[1], &cl); err != nil {
		return nil, time.Time{}, invalid("the token is malformed: the claims are not base64url JSON")
	}
	switch {
	case strings.EqualFold(h.Alg, "none") || h.Alg == "":
		return nil, time.Time{}, invalid("alg none is not accepted: the token must be signed")
	case !slices.Contains(o.cfg.Algorithms, h.Alg):
		return nil, time.Time{}, invalid("alg %s is not accepted (accepted: %s)", h.Alg, strings.Join(o.cfg.Algorithms, ", "))
	}
	st := &verifyState{}
	idt, err := o.verifier.Verify(context.WithValue(ctx, verifyStateKey{}, st), raw)
	if err != nil {
		switch {
		case errors.Is(st.err, errUnknownKid):
			return nil, time.Time{}, invalid("unknown kid '%s': the issuer's JWKS has no such key, even after a refresh", printable(h.Kid))
		case errors.Is(st.err, errBadSignature):
			return nil, time.Time{}, invalid("the signature does not verify")
		case st.err != nil:
			// The keys could not be fetched: not the token's fault.
			return nil, time.Time{}, fmt.Errorf("oidc: %w", st.err)
		case cl.Iss != o.cfg.Issuer:
			return nil, time.Time{}, invalid("wrong issuer: the token is not from %s", o.cfg.Issuer)
		case !audContains(cl.Aud, o.cfg.Audience):
			return nil, time.Time{}, invalid("wrong audience: the token is not for %s", o.cfg.Audience)
		}
		return nil, time.Time{}, invalid("the token is malformed: %s", strings.TrimPrefix(err.Error(), "oidc: "))
	}
	now := o.cfg.Now()
	exp, ok := numericDate(cl.Exp)
	if !ok {
		return nil, time.Time{}, invalid("the token has no exp")
	}
	if now.After(exp.Add(o.cfg.ClockSkew)) {
		return nil, time.Time{}, invalid("the token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := numericDate(cl.Nbf); ok && now.Add(o.cfg.ClockSkew).Before(nbf) {
		return nil, time.Time{}, invalid("the token is not valid yet (nbf %s)", nbf.UTC().Format(time.RFC3339))
	}
	t := &Token{Subject: idt.Subject, Scopes: scopes(cl)}
	switch o.cfg.ClientClaim {
	case "sub":
		t.Client = cl.Sub
	case "azp":
		t.Client = cl.Azp
	default:
		t.Client = cl.ClientID
		if t.Client == "" {
			t.Client = cl.Azp
		}
	}
	if t.Client == "" {
		claim := o.cfg.ClientClaim
		if claim == "" {
			claim = "client_id"
		}
		return nil, time.Time{}, invalid("the token has no %s claim naming the client", claim)
	}
	return t, exp, nil
}

func decodeSegment(s string, into any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	return dec.Decode(into)
}

func numericDate(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

func audContains(raw json.RawMessage, aud string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == aud
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, aud)
}

// scopes joins scope (RFC 8693 space-separated), scp (a string or a list,
// as some providers send) and roles.
func scopes(cl jwtClaims) []string {
	out := strings.Fields(cl.Scope)
	var s string
	var l []string
	if json.Unmarshal(cl.Scp, &s) == nil {
		out = append(out, strings.Fields(s)...)
	} else if json.Unmarshal(cl.Scp, &l) == nil {
		out = append(out, l...)
	}
	return append(out, cl.Roles...)
}

// printable bounds a caller-supplied value (a kid) for an error message:
// printable ASCII without quotes or backslashes, at most 64 bytes.
func printable(s string) string {
	b := make([]byte, 0, min(len(s), 64))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\'' && c != '\\' {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}
