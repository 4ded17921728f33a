package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/internal/auth"
	"github.com/identity-gateway/identity-gateway/internal/auth/authtest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newVerifier(t *testing.T, iss *authtest.Issuer, clk *clock) *auth.OIDC {
	t.Helper()
	v, err := auth.NewOIDC(auth.OIDCConfig{Issuer: iss.URL, Audience: "identity-gateway", Algorithms: []string{"RS256"},
		ClockSkew: 30 * time.Second, Now: clk.Now, MinRefresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func claims(iss *authtest.Issuer, now time.Time, edit func(authtest.Claims)) authtest.Claims {
	c := authtest.Claims{"iss": iss.URL, "aud": "identity-gateway", "sub": "svc-hr", "client_id": "hr-sync",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scope": "openid idgw:write:frontier idgw:audit"}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestOIDCAcceptsAValidToken(t *testing.T) {
	iss := authtest.NewIssuer(t)
	clk := &clock{t: time.Now()}
	v := newVerifier(t, iss, clk)
	tok, err := v.Verify(context.Background(), iss.Sign(t, claims(iss, clk.Now(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Client != "hr-sync" || tok.Subject != "svc-hr" || !slices.Contains(tok.Scopes, "idgw:write:frontier") {
		t.Fatalf("token = %+v", tok)
	}
	g := auth.GrantsFrom(tok.Scopes)
	if !slices.Equal(g.Targets, []string{"frontier"}) || !slices.Equal(g.Permissions, []string{"audit"}) || g.Fields != nil {
		t.Fatalf("grants = %+v", g)
	}
}

// TestOIDCRefusesEachBadTokenWithItsOwnReason is the list: every
// bad token is refused, each with a description of its own.
func TestOIDCRefusesEachBadTokenWithItsOwnReason(t *testing.T) {
	iss := authtest.NewIssuer(t)
	clk := &clock{t: time.Now()}
	v := newVerifier(t, iss, clk)
	now := clk.Now()
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, want string
	}{
		{"expired", iss.Sign(t, claims(iss, now, func(c authtest.Claims) { c["exp"] = now.Add(-time.Minute).Unix() })), "the token expired at"},
		{"not yet valid", iss.Sign(t, claims(iss, now, func(c authtest.Claims) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), "the token is not valid yet"},
		{"wrong audience", iss.Sign(t, claims(iss, now, func(c authtest.Claims) { c["aud"] = "another-api" })), "wrong audience"},
		{"wrong issuer", iss.Sign(t, claims(iss, now, func(c authtest.Claims) { c["iss"] = "https://evil.example" })), "wrong issuer"},
		{"alg none", authtest.SignNone(t, claims(iss, now, nil)), "alg none is not accepted"},
		{"HS256 with the public key", iss.SignHS256WithPublicKey(t, claims(iss, now, nil)), "alg HS256 is not accepted"},
		{"unknown kid", authtest.SignRS256(t, stranger, "k-unknown", claims(iss, now, nil)), "unknown kid 'k-unknown'"},
		{"known kid, wrong key", authtest.SignRS256(t, stranger, "k1", claims(iss, now, nil)), "the signature does not verify"},
		{"malformed: two parts", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0", "the token is malformed: a JWT has three"},
		{"malformed: not base64", "eyJhbGciOiJSUzI1NiJ9.!!!.sig", "the token is malformed: the claims"},
		{"malformed: header not JSON", "bm90IGpzb24.eyJzdWIiOiJ4In0.sig", "the token is malformed: the header"},
		{"no exp", iss.Sign(t, claims(iss, now, func(c authtest.Claims) { delete(c, "exp") })), "the token has no exp"},
		{"no client claim", iss.Sign(t, claims(iss, now, func(c authtest.Claims) { delete(c, "client_id") })), "has no client_id claim"},
	}
	seen := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			var te *auth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a TokenError", err)
			}
			if !strings.Contains(te.Description, tc.want) {
				t.Fatalf("description = %q, want it to contain %q", te.Description, tc.want)
			}
			if other, dup := seen[te.Description]; dup {
				t.Fatalf("%q and %q share the description %q", tc.name, other, te.Description)
			}
			seen[te.Description] = tc.name
		})
	}
}

func TestOIDCClockSkewIsTolerated(t *testing.T) {
	iss := authtest.NewIssuer(t)
	clk := &clock{t: time.Now()}
	v := newVerifier(t, iss, clk)
	now := clk.Now()
	for name, edit := range map[string]func(authtest.Claims){
		"expired 20s ago":         func(c authtest.Claims) { c["exp"] = now.Add(-20 * time.Second).Unix() },
		"valid from 20s from now": func(c authtest.Claims) { c["nbf"] = now.Add(20 * time.Second).Unix() },
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), iss.Sign(t, claims(iss, now, edit))); err != nil {
				t.Fatalf("within the 30s skew: %v", err)
			}
		})
	}
}

// TestOIDCKeyRotationRefreshesAtABoundedRate: a new kid triggers one JWKS
// refresh; made-up kids within the refresh interval fetch nothing more.
func TestOIDCKeyRotationRefreshesAtABoundedRate(t *testing.T) {
	iss := authtest.NewIssuer(t)
	clk := &clock{t: time.Now()}
	v := newVerifier(t, iss, clk)
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.Sign(t, claims(iss, clk.Now(), nil))); err != nil {
		t.Fatal(err)
	}
	if got := iss.JWKSHits(); got != 1 {
		t.Fatalf("JWKS fetched %d times after the first token, want 1", got)
	}
	// Within the interval the cache answers, even for a new kid.
	iss.AddKey(t, "k2")
	_, err := v.Verify(ctx, iss.Sign(t, claims(iss, clk.Now(), nil)))
	if err == nil || !strings.Contains(err.Error(), "unknown kid 'k2'") {
		t.Fatalf("new kid inside the refresh interval: err = %v", err)
	}
	if got := iss.JWKSHits(); got != 1 {
		t.Fatalf("JWKS fetched %d times, want still 1 (rate-limited)", got)
	}
	clk.Add(61 * time.Second)
	if _, err := v.Verify(ctx, iss.Sign(t, claims(iss, clk.Now(), nil))); err != nil {
		t.Fatalf("rotated key after the interval: %v", err)
	}
	if got := iss.JWKSHits(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", got)
	}
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		_, err := v.Verify(ctx, authtest.SignRS256(t, stranger, "made-up-"+string(rune('a'+i)), claims(iss, clk.Now(), nil)))
		var te *auth.TokenError
		if !errors.As(err, &te) {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	if got := iss.JWKSHits(); got != 2 {
		t.Fatalf("20 made-up kids fetched the JWKS %d times in total, want 2", got)
	}
}

func TestOIDCClientClaim(t *testing.T) {
	iss := authtest.NewIssuer(t)
	clk := &clock{t: time.Now()}
	for _, tc := range []struct{ claim, want string }{{"sub", "svc-hr"}, {"azp", "hr-azp"}, {"client_id", "hr-sync"}, {"", "hr-sync"}} {
		t.Run(tc.claim, func(t *testing.T) {
			v, err := auth.NewOIDC(auth.OIDCConfig{Issuer: iss.URL, Audience: "identity-gateway", ClientClaim: tc.claim, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := v.Verify(context.Background(), iss.Sign(t, claims(iss, clk.Now(), func(c authtest.Claims) { c["azp"] = "hr-azp" })))
			if err != nil {
				t.Fatal(err)
			}
			if tok.Client != tc.want {
				t.Fatalf("client = %q, want %q", tok.Client, tc.want)
			}
		})
	}
}

func TestOIDCRefusesSymmetricAlgorithmsInConfig(t *testing.T) {
	for _, alg := range []string{"HS256", "none", ""} {
		if _, err := auth.NewOIDC(auth.OIDCConfig{Issuer: "https://idp", Audience: "a", Algorithms: []string{alg}}); err == nil {
			t.Errorf("algorithm %q accepted", alg)
		}
	}
}

func TestNarrow(t *testing.T) {
	for _, tc := range []struct {
		name              string
		configured, grant []string
		want              []string
	}{
		{"token silent", []string{"a", "b"}, nil, []string{"a", "b"}},
		{"token narrows", []string{"a", "b"}, []string{"b", "c"}, []string{"b"}},
		{"config all", nil, []string{"c"}, []string{"c"}},
		{"disjoint", []string{"a"}, []string{"c"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.Narrow(tc.configured, tc.grant); !slices.Equal(got, tc.want) {
				t.Fatalf("Narrow = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOIDCIssuerDownIsNotTheTokensFault: with no key ever fetched, a
// failing issuer is an error (502 at the API), not an invalid token, also
// while the refresh is rate-limited.
func TestOIDCIssuerDownIsNotTheTokensFault(t *testing.T) {
	iss := authtest.NewIssuer(t)
	clk := &clock{t: time.Now()}
	v, err := auth.NewOIDC(auth.OIDCConfig{Issuer: "http://127.0.0.1:1/no-idp", Audience: "identity-gateway", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Sign(t, authtest.Claims{"iss": "http://127.0.0.1:1/no-idp", "aud": "identity-gateway", "client_id": "x", "exp": clk.Now().Add(time.Hour).Unix()})
	for i := range 2 {
		_, err := v.Verify(context.Background(), tok)
		var te *auth.TokenError
		if err == nil || errors.As(err, &te) {
			t.Fatalf("attempt %d: err = %v, want a non-token error", i, err)
		}
	}
	if v.JWKSFetches() != 1 {
		t.Fatalf("fetches = %d, want 1 (rate-limited)", v.JWKSFetches())
	}
}

// BenchmarkOIDCVerify is the per-request cost of a reused JWT (keys and
// token cached; a first use costs one RSA verification on top).
func BenchmarkOIDCVerify(b *testing.B) {
	iss := authtest.NewIssuer(b)
	clk := &clock{t: time.Now()}
	v, err := auth.NewOIDC(auth.OIDCConfig{Issuer: iss.URL, Audience: "identity-gateway", Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	tok := iss.Sign(b, authtest.Claims{"iss": iss.URL, "aud": "identity-gateway", "client_id": "x", "exp": clk.Now().Add(time.Hour).Unix(), "scope": "idgw:write:frontier"})
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOIDCCachesVerifiedTokensUntilExp: a reused token is checked once,
// and the cache never outlives the token.
func TestOIDCCachesVerifiedTokensUntilExp(t *testing.T) {
	iss := authtest.NewIssuer(t)
	clk := &clock{t: time.Now()}
	v := newVerifier(t, iss, clk)
	tok := iss.Sign(t, claims(iss, clk.Now(), nil))
	for range 3 {
		got, err := v.Verify(context.Background(), tok)
		if err != nil || got.Client != "hr-sync" {
			t.Fatalf("Verify = %+v, %v", got, err)
		}
	}
	if n := v.SignatureChecks(); n != 1 {
		t.Fatalf("full checks = %d for one token used 3 times, want 1", n)
	}
	clk.Add(6 * time.Minute) // exp is 5m, skew 30s
	_, err := v.Verify(context.Background(), tok)
	var te *auth.TokenError
	if !errors.As(err, &te) || !strings.Contains(te.Description, "expired") {
		t.Fatalf("after exp: %v", err)
	}
}
