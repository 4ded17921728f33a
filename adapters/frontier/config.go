package frontier

import (
	"errors"
	"fmt"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
)

// maxAvatarRunes is Frontier's own limit on UserRequestBody.avatar
// (frontier.md section 2.1).
const maxAvatarRunes = 250000

// Config is vendors.<name>.settings for Frontier. The credential is not
// here: it comes from the vendor's credential block (environment variables)
// as Deps.Credential, username = the service user's client id, password =
// its client secret (frontier.md section 3.1).
type Config struct {
	// MaxAvatarChars bounds the avatar data URI, checked before any call.
	// Default and maximum 250000, Frontier's own limit; lower it when a
	// proxy in front of Frontier limits request bodies.
	MaxAvatarChars int `yaml:"max_avatar_chars"`
	// SkipMetaschemaCheck turns off the Preflight check of metadata
	// against Frontier's default user metaschema (label: object,
	// description: string; frontier.md section 5). Set it when the
	// deployment replaced the user metaschema: Frontier still validates
	// the PUT itself and its 400 comes back as invalid_request.
	SkipMetaschemaCheck bool `yaml:"skip_metaschema_check"`
}

var _ adapters.Config = (*Config)(nil)

// Open validates the settings and the credential and builds the adapter.
// It does no I/O and leaves c unchanged.
func (c *Config) Open(name string, deps adapters.Deps) (adapters.Adapter, error) {
	cfg := *c
	if deps.Credential.Username == "" || deps.Credential.Password == "" {
		return nil, errors.New("credential: username (client id) and password (client secret) are required")
	}
	// Frontier splits the decoded Basic value on ':' and needs exactly two
	// parts, so a colon in either half can never authenticate.
	if strings.Contains(deps.Credential.Username, ":") || strings.Contains(deps.Credential.Password.Reveal(), ":") {
		return nil, errors.New("credential: Frontier client ids and secrets cannot contain ':' (Basic auth needs exactly one)")
	}
	if cfg.MaxAvatarChars == 0 {
		cfg.MaxAvatarChars = maxAvatarRunes
	}
	if cfg.MaxAvatarChars < 0 || cfg.MaxAvatarChars > maxAvatarRunes {
		return nil, fmt.Errorf("settings.max_avatar_chars: must be between 1 and %d", maxAvatarRunes)
	}
	return &Adapter{name: name, cfg: cfg, cred: deps.Credential, reads: reads()}, nil
}
