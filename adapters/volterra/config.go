package volterra

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/identity-gateway/identity-gateway/adapters"
)

// Config is the Volterra `settings:` block of vendors.<name> in gateway.yaml.
// Every field is optional. The credential (vendors.<name>.credential.token)
// and the pass-through header (vendors.<name>.pass_through_header) are
// vendor-level keys read by the gateway, not settings.
type Config struct {
	// MaxImageBytes bounds a decoded avatar. F5 publishes no limit (the
	// console only says "comply with the requirement displayed on the form",
	// docs/vendors/volterra.md section 6), so the default is the canonical 1 MiB;
	// a larger avatar is refused in Preflight, before any call.
	MaxImageBytes int `yaml:"max_image_bytes"`
	// ImageContentTypes are the avatar types sent to PUT user/settings/image.
	// F5 publishes no list (section 6); the default is every canonical type
	// (image/png, image/jpeg, image/gif, image/webp). A tenant whose console
	// refuses some of them narrows the list here; an avatar of another type is
	// then an unsupported value, reported before any call.
	ImageContentTypes []string `yaml:"image_content_types"`
}

var _ adapters.Config = (*Config)(nil)

// canonicalImageTypes are the avatar types the canonical contract admits.
var canonicalImageTypes = []string{"image/gif", "image/jpeg", "image/png", "image/webp"}

// DefaultNotifications is the canonical -> Volterra notification code map
// used when gateway.yaml maps nothing for this vendor. F5 publishes no code
// list, only the examples notif-1 and notif-2 (docs/vendors/volterra.md sections
// 2.1 and 6), so only two canonical names have a default; deployments map
// the codes their tenant's GET user/notifications lists. It returns a fresh
// map on every call.
func DefaultNotifications() map[string]string {
	return map[string]string{"ticket.change": "notif-1", "app.alert": "notif-2"}
}

// Open validates the settings and builds the adapter; it makes no calls. A
// missing service token is allowed: the target then runs on pass-through
// credentials only, and Preflight rejects a request that carries none.
func (c *Config) Open(name string, deps adapters.Deps) (adapters.Adapter, error) {
	cfg := *c
	switch {
	case cfg.MaxImageBytes == 0:
		cfg.MaxImageBytes = 1 << 20
	case cfg.MaxImageBytes < 0:
		return nil, errors.New("settings.max_image_bytes: must be positive")
	}
	if len(cfg.ImageContentTypes) == 0 {
		cfg.ImageContentTypes = slices.Clone(canonicalImageTypes)
	}
	for i, t := range cfg.ImageContentTypes {
		if !slices.Contains(canonicalImageTypes, t) {
			return nil, fmt.Errorf("settings.image_content_types[%d]: %q is not one of %v", i, t, canonicalImageTypes)
		}
	}
	if tok := deps.Credential.Token; tok != "" && !validToken(bareToken(tok)) {
		return nil, errors.New("credential.token: not a well-formed API token (visible ASCII without blanks)")
	}
	notes := deps.Notifications
	if notes == nil {
		notes = DefaultNotifications()
	}
	names := slices.Collect(maps.Keys(notes))
	sort.Strings(names)
	for _, n := range names {
		if notes[n] == "" {
			return nil, fmt.Errorf("notifications.%s.%s: the Volterra notification code must not be empty", n, name)
		}
	}
	return &Adapter{name: name, cfg: cfg, token: deps.Credential.Token, notes: maps.Clone(notes), reads: reads()}, nil
}
