// Package authtest is an in-process OIDC issuer for tests: discovery and
// JWKS over an httptest server on loopback, keys generated at start, and
// token minting including deliberately bad tokens (alg none, HS256 signed
// with the public key, unknown kid). It also mints certificates for mTLS
// tests.
package authtest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Issuer is a test identity provider.
type Issuer struct {
	URL string
	srv *httptest.Server

	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey // kid -> key, all published
	cur  string

	jwksHits atomic.Int64
}

// NewIssuer starts an issuer with one RSA key (kid "k1"); it stops with the test.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	iss := &Issuer{keys: map[string]*rsa.PrivateKey{}}
	iss.AddKey(t, "k1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss.URL, "jwks_uri": iss.URL + "/jwks",
			"authorization_endpoint": iss.URL + "/authorize", "token_endpoint": iss.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		iss.jwksHits.Add(1)
		iss.mu.Lock()
		var set jose.JSONWebKeySet
		for kid, k := range iss.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
		}
		iss.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	iss.srv = httptest.NewServer(mux)
	iss.URL = iss.srv.URL
	t.Cleanup(iss.srv.Close)
	return iss
}

// AddKey generates and publishes a key; new tokens are signed with it.
func (iss *Issuer) AddKey(t testing.TB, kid string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss.mu.Lock()
	iss.keys[kid] = k
	iss.cur = kid
	iss.mu.Unlock()
}

// JWKSHits counts JWKS fetches.
func (iss *Issuer) JWKSHits() int64 { return iss.jwksHits.Load() }

// Claims is a token's claims.
type Claims map[string]any

// Sign mints an RS256 token with the current key.
func (iss *Issuer) Sign(t testing.TB, c Claims) string {
	t.Helper()
	iss.mu.Lock()
	kid, k := iss.cur, iss.keys[iss.cur]
	iss.mu.Unlock()
	return SignRS256(t, k, kid, c)
}

// SignRS256 mints an RS256 token with any key and kid.
func SignRS256(t testing.TB, k *rsa.PrivateKey, kid string, c Claims) string {
	t.Helper()
	in := signingInput(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// SignNone mints an unsigned token (alg none).
func SignNone(t testing.TB, c Claims) string {
	return signingInput(t, map[string]any{"alg": "none", "typ": "JWT"}, c) + "."
}

// SignHS256WithPublicKey mints the algorithm-confusion attack: HS256 with the
// issuer's public key (PEM, as published) as the HMAC secret.
func (iss *Issuer) SignHS256WithPublicKey(t testing.TB, c Claims) string {
	t.Helper()
	iss.mu.Lock()
	kid, k := iss.cur, iss.keys[iss.cur]
	iss.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	in := signingInput(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, c)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func signingInput(t testing.TB, h map[string]any, c Claims) string {
	t.Helper()
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
}
