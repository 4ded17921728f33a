package config

import (
	"fmt"
	"slices"
	"time"
)

// HasMode reports whether auth accepts a method (api_key, oidc, mtls).
func (a *Auth) HasMode(m string) bool { return slices.Contains(a.Modes, m) }

func (c *Client) hasOtherCredential() bool {
	return c.OIDCSubject != "" || c.CertSubject != "" || len(c.CertSANs) > 0
}

func (c *Config) applyAuthAuditDefaults() {
	a := &c.Auth
	if len(a.Modes) == 0 {
		// auth.mode as before: api_key or none.
		a.Modes = []string{a.Mode}
	} else if a.HasMode("none") && a.Mode != "none" {
		// modes: [none] is the list spelling of mode: none, which is what
		// the rest of the gateway reads.
		a.Mode = "none"
	}
	if a.HasMode("oidc") {
		if len(a.OIDC.Algorithms) == 0 {
			a.OIDC.Algorithms = []string{"RS256"}
		}
		if a.OIDC.ClockSkew == 0 {
			a.OIDC.ClockSkew = Duration(30 * time.Second)
		}
		if a.OIDC.ClientClaim == "" {
			a.OIDC.ClientClaim = "client_id"
		}
		if a.OIDC.JWKSMinRefresh == 0 {
			a.OIDC.JWKSMinRefresh = Duration(time.Minute)
		}
	}
	if c.Server.TLS.ClientCA != "" && c.Server.TLS.ClientAuth == "" {
		c.Server.TLS.ClientAuth = "request"
	}
	au := &c.Audit
	if len(au.Sinks) == 0 {
		au.Sinks = []string{"memory"}
	}
	if au.Values == "" {
		au.Values = "hashed"
	}
	if au.OnError == "" {
		au.OnError = "fail"
	}
	if au.Retention == 0 {
		au.Retention = Duration(90 * 24 * time.Hour)
	}
	if au.BufferSize == 0 {
		au.BufferSize = 10000
	}
	if au.DatabaseURL == "" {
		// The trail lives beside the identity links unless told otherwise.
		au.DatabaseURL = c.Links.DatabaseURL
	}
}

var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (c *Config) validateAuthAudit() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	a := c.Auth
	if a.Mode == "none" && !a.HasMode("none") {
		bad("auth.mode", "none cannot be combined with auth.modes %v", a.Modes)
	}
	for i, m := range a.Modes {
		switch m {
		case "api_key", "oidc", "mtls":
		case "none":
			if len(a.Modes) > 1 {
				bad(fmt.Sprintf("auth.modes[%d]", i), "none cannot be combined with other modes")
			}
		default:
			bad(fmt.Sprintf("auth.modes[%d]", i), "must be api_key, oidc or mtls")
		}
	}
	if a.HasMode("oidc") {
		if a.OIDC.Issuer == "" {
			bad("auth.oidc.issuer", "is required when auth.modes includes oidc")
		}
		if a.OIDC.Audience == "" {
			bad("auth.oidc.audience", "is required when auth.modes includes oidc")
		}
		for i, alg := range a.OIDC.Algorithms {
			if !slices.Contains(asymmetricAlgs, alg) {
				bad(fmt.Sprintf("auth.oidc.algorithms[%d]", i), "%q is not accepted (asymmetric JWS algorithms only: %v)", alg, asymmetricAlgs)
			}
		}
		if a.OIDC.ClockSkew.D() > 5*time.Minute {
			bad("auth.oidc.clock_skew", "must be at most 5m")
		}
		switch a.OIDC.ClientClaim {
		case "client_id", "azp", "sub":
		default:
			bad("auth.oidc.client_claim", "must be client_id, azp or sub")
		}
	}
	t := c.Server.TLS
	if a.HasMode("mtls") && (t.ClientCA == "" || t.CertFile == "") {
		bad("server.tls.client_ca", "is required (with cert_file and key_file) when auth.modes includes mtls")
	}
	if t.ClientCA != "" && t.CertFile == "" {
		bad("server.tls.client_ca", "needs cert_file and key_file")
	}
	switch t.ClientAuth {
	case "", "request", "require":
	default:
		bad("server.tls.client_auth", "must be request or require")
	}
	for i, cl := range c.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		if cl.NextKeySHA256 != "" && !hexRe.MatchString(cl.NextKeySHA256) {
			bad(p+".next_key_sha256", "must be 64 lowercase hex characters (gateway hash-key prints it)")
		}
		if cl.KeyExpires != "" {
			if _, err := time.Parse(time.RFC3339, cl.KeyExpires); err != nil {
				bad(p+".key_expires", "must be an RFC 3339 time like 2026-12-31T00:00:00Z")
			}
		}
		for j, perm := range cl.Permissions {
			if perm == "" {
				bad(fmt.Sprintf("%s.permissions[%d]", p, j), "must not be empty")
			}
		}
	}
	au := c.Audit
	for i, s := range au.Sinks {
		switch s {
		case "memory", "jsonl":
		case "postgres":
			if au.DatabaseURL == "" {
				bad("audit.database_url", "is required when audit.sinks includes postgres")
			}
		default:
			bad(fmt.Sprintf("audit.sinks[%d]", i), "must be memory, postgres or jsonl")
		}
	}
	switch au.Values {
	case "none", "hashed", "plain":
	default:
		bad("audit.values", "must be none, hashed or plain")
	}
	switch au.OnError {
	case "fail", "proceed":
	default:
		bad("audit.on_error", "must be fail or proceed")
	}
	if au.Retention.D() < time.Hour {
		bad("audit.retention", "must be at least 1h")
	}
	if au.BufferSize < 1 || au.BufferSize > 1_000_000 {
		bad("audit.buffer_size", "must be between 1 and 1000000")
	}
	return errs
}
