package commvault

import (
	"errors"
	"net/http"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/session"
)

// Config is vendors.<name>.settings for Commvault.
type Config struct {
	// TokenTimeoutMinutes is sent as Login's timeout; default 30.
	TokenTimeoutMinutes int `yaml:"token_timeout_minutes"`
	// AuthMethods are the accepted authenticationMethod values; default
	// LOCAL, AD, SAML (GET /V4/user/{id}/authenticationMethods).
	AuthMethods []string `yaml:"auth_methods"`
	// MaxPasswordBytes is the longest new password (UTF-8 bytes, before
	// base64) the CommCell's password policy takes; Preflight refuses a
	// longer one before any call. Commvault documents no fixed limit
	// (docs/vendors/commvault.md), so 0, the default, checks only the
	// canonical limit (canonical.MaxPasswordBytes).
	MaxPasswordBytes int `yaml:"max_password_bytes"`
}

var _ adapters.Config = (*Config)(nil)

// Open builds the adapter and its (not yet logged-in) session.
func (c *Config) Open(name string, deps adapters.Deps) (adapters.Adapter, error) {
	if deps.Credential.Username == "" || deps.Credential.Password == "" {
		return nil, errors.New("credential: username and password of the service account are required")
	}
	if c.TokenTimeoutMinutes == 0 {
		c.TokenTimeoutMinutes = 30
	}
	if c.TokenTimeoutMinutes < 0 {
		return nil, errors.New("settings.token_timeout_minutes: must be positive")
	}
	if c.MaxPasswordBytes < 0 {
		return nil, errors.New("settings.max_password_bytes: must not be negative")
	}
	if len(c.AuthMethods) == 0 {
		c.AuthMethods = []string{"LOCAL", "AD", "SAML"}
	}
	a := &Adapter{name: name, cfg: *c, cred: deps.Credential, reads: reads(),
		jsonHeader: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}}
	a.sess = session.New(session.Options{Login: a.login})
	return a, nil
}
