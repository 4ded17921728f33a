package akana

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/session"
)

// Defaults for Config.
const (
	// DefaultRenewBefore is how long before expiry the session is renewed.
	DefaultRenewBefore = 2 * time.Minute
	// DefaultSessionLifetime is the lifetime assumed for a cookie without
	// expirationTime: the shorter of the documented 25 and 30 minutes
	// (akana.md section 3, step 4).
	DefaultSessionLifetime = 25 * time.Minute
)

// notificationPrefix starts every Akana notification type code.
const notificationPrefix = "com.soa.notification.type."

// Config is vendors.<name>.settings for Akana. The service account is not
// here: it is the vendor's credential block (environment variables), as
// Deps.Credential: username = the Site Admin's login e-mail, password = its
// password (akana.md sections 3, 4).
type Config struct {
	// Tenant is the fedmemberid: the suffix of every UserID
	// (<uuid>.<tenant>) and of the cookie and CSRF header names, e.g.
	// acmepaymentscorp. Required; case-sensitive, as cookie names are.
	Tenant string `yaml:"tenant"`
	// RenewBefore renews the session (POST /api/login/renewToken) this long
	// before the cookie's expirationTime. Default 2m; must be shorter than
	// SessionLifetime.
	RenewBefore time.Duration `yaml:"renew_before"`
	// SessionLifetime is assumed when the auth cookie carries no readable
	// expirationTime. Default 25m.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
}

var _ adapters.Config = (*Config)(nil)

var tenantRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// DefaultNotifications is the default mapping of canonical notification
// names to Akana codes: the ten documented types (GET
// /api/notifications/types, akana.md section 2.3), each under its code
// without the com.soa.notification.type. prefix ("ticket.change" ->
// "com.soa.notification.type.ticket.change"). It returns a fresh map.
func DefaultNotifications() map[string]string {
	out := make(map[string]string, 10)
	for _, n := range []string{"api.auto.connect", "app.alert", "app.lifecycle", "app.post", "appteam",
		"contract.state.change", "news.update", "post.comment", "privateapi", "ticket.change"} {
		out[n] = notificationPrefix + n
	}
	return out
}

// Open validates the settings and the credential and builds the adapter
// with its (not yet logged-in) session. It does no I/O and leaves c
// unchanged.
func (c *Config) Open(name string, deps adapters.Deps) (adapters.Adapter, error) {
	cfg := *c
	if !tenantRe.MatchString(cfg.Tenant) {
		return nil, errors.New("settings.tenant: the fedmemberid (UserID suffix) is required: 1 to 64 letters, digits, - and _")
	}
	if deps.Credential.Username == "" || deps.Credential.Password == "" {
		return nil, errors.New("credential: username (the Site Admin service account's e-mail) and password are required")
	}
	if cfg.RenewBefore == 0 {
		cfg.RenewBefore = DefaultRenewBefore
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.RenewBefore < 0 || cfg.SessionLifetime < 0 {
		return nil, errors.New("settings: renew_before and session_lifetime must be positive")
	}
	if cfg.RenewBefore >= cfg.SessionLifetime {
		return nil, fmt.Errorf("settings.renew_before: must be shorter than session_lifetime (%s)", cfg.SessionLifetime)
	}
	notes := deps.Notifications
	if notes == nil {
		notes = DefaultNotifications()
	}
	var bad []string
	for k, v := range notes {
		if k == "" || v == "" || strings.ContainsAny(v, " \t\r\n") {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("notifications: empty or malformed Akana codes for %q", bad)
	}
	a := &Adapter{name: name, cfg: cfg, cred: deps.Credential, notes: maps.Clone(notes), now: time.Now, reads: reads()}
	a.sess = session.New(session.Options{
		Login:       a.login,
		Renew:       a.renew,
		RenewBefore: cfg.RenewBefore,
		// Through a.now, so tests can move the adapter's clock.
		Now: func() time.Time { return a.now() },
	})
	return a, nil
}
