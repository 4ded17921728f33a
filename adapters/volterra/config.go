package volterra

import (
	"errors"
	"maps"

	"github.com/identity-gateway/identity-gateway/adapters"
)

// Config is vendors.<name>.settings for Volterra.
type Config struct {
	// MaxImageBytes bounds a decoded avatar; default 1 MiB (F5 publishes no
	// limit; the console form enforces one).
	MaxImageBytes int `yaml:"max_image_bytes"`
}

var _ adapters.Config = (*Config)(nil)

// DefaultNotifications is the documented default canonical -> code map.
func DefaultNotifications() map[string]string {
	return map[string]string{"ticket.change": "notif-1", "app.alert": "notif-2"}
}

// Open builds the adapter. A missing service token is allowed: the vendor
// then runs on pass-through credentials only.
func (c *Config) Open(name string, deps adapters.Deps) (adapters.Adapter, error) {
	if c.MaxImageBytes == 0 {
		c.MaxImageBytes = 1 << 20
	}
	if c.MaxImageBytes < 0 {
		return nil, errors.New("settings.max_image_bytes: must be positive")
	}
	notes := deps.Notifications
	if notes == nil {
		notes = DefaultNotifications()
	}
	return &Adapter{name: name, cfg: *c, token: deps.Credential.Token, notes: maps.Clone(notes)}, nil
}
