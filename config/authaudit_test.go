package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const authBase = `
vendors:
  frontier:
    base_url: http://127.0.0.1:1
`

func TestAuthAuditDefaultsAndCompatibility(t *testing.T) {
	c, err := Load([]byte(authBase), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Auth.Modes, []string{"api_key"}) || c.Auth.Mode != "api_key" {
		t.Errorf("auth default: %+v", c.Auth)
	}
	if !slices.Equal(c.Audit.Sinks, []string{"memory"}) || c.Audit.Values != "hashed" || c.Audit.OnError != "fail" ||
		c.Audit.Retention.D() != 90*24*time.Hour || c.Audit.BufferSize != 10000 {
		t.Errorf("audit defaults: %+v", c.Audit)
	}
	c, err = Load([]byte(authBase+"auth:\n  mode: none\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Auth.HasMode("none") {
		t.Errorf("auth.mode none kept: %+v", c.Auth)
	}
	c, err = Load([]byte(authBase+"auth:\n  modes: [none]\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Mode != "none" {
		t.Errorf("modes [none] must mean mode none: %+v", c.Auth)
	}
	c, err = Load([]byte(authBase+`auth:
  modes: [api_key, oidc]
  oidc: {issuer: https://idp.example, audience: identity-gateway}
clients:
  - {name: hr, oidc_subject: hr-app, targets: [frontier], permissions: [audit]}
  - name: rotating
    key_sha256: `+strings.Repeat("a", 64)+`
    next_key_sha256: `+strings.Repeat("b", 64)+`
    key_expires: 2026-12-31T00:00:00Z
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Auth.OIDC; !slices.Equal(o.Algorithms, []string{"RS256"}) || o.ClockSkew.D() != 30*time.Second || o.ClientClaim != "client_id" {
		t.Errorf("oidc defaults: %+v", o)
	}
}

func TestAuthAuditErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown mode", "auth:\n  modes: [saml]\n", "auth.modes[0]: must be api_key, oidc or mtls"},
		{"none with others", "auth:\n  modes: [none, api_key]\n", "auth.modes[0]: none cannot be combined"},
		{"mode none with modes", "auth:\n  mode: none\n  modes: [oidc]\n  oidc: {issuer: https://i, audience: a}\n", "auth.mode: none cannot be combined with auth.modes"},
		{"oidc without issuer", "auth:\n  modes: [oidc]\n  oidc: {audience: a}\n", "auth.oidc.issuer: is required"},
		{"oidc HS256", "auth:\n  modes: [oidc]\n  oidc: {issuer: https://i, audience: a, algorithms: [HS256]}\n", "auth.oidc.algorithms[0]: \"HS256\" is not accepted"},
		{"oidc skew", "auth:\n  modes: [oidc]\n  oidc: {issuer: https://i, audience: a, clock_skew: 10m}\n", "auth.oidc.clock_skew: must be at most 5m"},
		{"oidc claim", "auth:\n  modes: [oidc]\n  oidc: {issuer: https://i, audience: a, client_claim: email}\n", "auth.oidc.client_claim: must be client_id, azp or sub"},
		{"mtls without ca", "auth:\n  modes: [mtls]\n", "server.tls.client_ca: is required"},
		{"client_auth", "server:\n  tls: {cert_file: c, key_file: k, client_ca: ca, client_auth: maybe}\n", "server.tls.client_auth: must be request or require"},
		{"next key", "clients:\n  - {name: a, key_sha256: " + strings.Repeat("a", 64) + ", next_key_sha256: xyz}\n", "clients[0].next_key_sha256: must be 64 lowercase hex"},
		{"key expires", "clients:\n  - {name: a, key_sha256: " + strings.Repeat("a", 64) + ", key_expires: tomorrow}\n", "clients[0].key_expires: must be an RFC 3339 time"},
		{"no credential", "clients:\n  - {name: a}\n", "clients[0].key_sha256: must be 64 lowercase hex"},
		{"sink", "audit:\n  sinks: [kafka]\n", "audit.sinks[0]: must be memory, postgres or jsonl"},
		{"postgres without url", "audit:\n  sinks: [postgres]\n", "audit.database_url: is required"},
		{"literal database password", "audit:\n  sinks: [postgres]\n  database_url: postgres://u:hunter2@db/x\n", "audit.database_url: a literal secret is refused"},
		{"values", "audit:\n  values: clear\n", "audit.values: must be none, hashed or plain"},
		{"on_error", "audit:\n  on_error: ignore\n", "audit.on_error: must be fail or proceed"},
		{"retention", "audit:\n  retention: 10m\n", "audit.retention: must be at least 1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(authBase+tc.yaml), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
