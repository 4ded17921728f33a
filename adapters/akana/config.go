package akana

import (
	"errors"
	"maps"
	"regexp"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/session"
)

// Config is vendors.<name>.settings for Akana.
type Config struct {
	// Tenant is the fedmemberid: the UserID suffix and the cookie and
	// header name suffix. Required.
	Tenant string `yaml:"tenant"`
	// RenewBefore renews the session this long before it expires; default 2m.
	RenewBefore time.Duration `yaml:"renew_before"`
	// SessionLifetime is assumed when the cookie carries no expirationTime;
	// default 25m (the shorter of the documented 25 and 30 minutes).
	SessionLifetime time.Duration `yaml:"session_lifetime"`
}

var _ adapters.Config = (*Config)(nil)

var tenantRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// DefaultNotifications maps canonical names to the ten documented codes:
// the canonical name is the code without its com.soa.notification.type.
// prefix.
func DefaultNotifications() map[string]string {
	out := map[string]string{}
	for _, n := range []string{"api.auto.connect", "app.alert", "app.lifecycle", "app.post", "appteam",
		"contract.state.change", "news.update", "post.comment", "privateapi", "ticket.change"} {
		out[n] = "com.soa.notification.type." + n
	}
	return out
}

// Open builds the adapter and its (not yet logged-in) session.
func (c *Config) Open(name string, deps adapters.Deps) (adapters.Adapter, error) {
	if !tenantRe.MatchString(c.Tenant) {
		return nil, errors.New("settings.tenant: the fedmemberid (UserID suffix) is required: letters, digits, - and _")
	}
	if deps.Credential.Username == "" || deps.Credential.Password == "" {
		return nil, errors.New("credential: username (the service account's e-mail) and password are required")
	}
	if c.RenewBefore == 0 {
		c.RenewBefore = 2 * time.Minute
	}
	if c.SessionLifetime == 0 {
		c.SessionLifetime = 25 * time.Minute
	}
	notes := deps.Notifications
	if notes == nil {
		notes = DefaultNotifications()
	}
	a := &Adapter{name: name, cfg: *c, cred: deps.Credential, notes: maps.Clone(notes), now: time.Now}
	a.sess = session.New(session.Options{Login: a.login, Renew: a.renew, RenewBefore: c.RenewBefore})
	return a, nil
}
