package frontier

import (
	"errors"

	"github.com/identity-gateway/identity-gateway/adapters"
)

// Config is vendors.<name>.settings for Frontier.
type Config struct {
	// MaxAvatarChars bounds the avatar data URI; default 250000, Frontier's
	// own limit.
	MaxAvatarChars int `yaml:"max_avatar_chars"`
}

var _ adapters.Config = (*Config)(nil)

// Open validates the settings; Frontier needs the service user's client id
// and secret as credential username and password.
func (c *Config) Open(name string, deps adapters.Deps) (adapters.Adapter, error) {
	if deps.Credential.Username == "" || deps.Credential.Password == "" {
		return nil, errors.New("credential: username (client id) and password (client secret) are required")
	}
	if c.MaxAvatarChars == 0 {
		c.MaxAvatarChars = 250000
	}
	if c.MaxAvatarChars < 0 || c.MaxAvatarChars > 250000 {
		return nil, errors.New("settings.max_avatar_chars: must be between 1 and 250000")
	}
	return &Adapter{name: name, cfg: *c, cred: deps.Credential}, nil
}
