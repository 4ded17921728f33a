package deploy

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/builtin"
	"github.com/identity-gateway/identity-gateway/config"
)

// prodEnv supplies a plausible value for every variable gateway.prod.yaml
// reads: https URLs, a rediss URL, a key hash and the simulators' demo
// credentials (adapters check a credential's shape when they open).
func prodEnv(skip string) config.LookupFunc {
	demo := simDemoEnv()
	return func(k string) (string, bool) {
		switch {
		case k == skip:
			return "", false
		case k == "REDIS_URL":
			return "rediss://:pw@redis.example.internal:6380/0", true
		case k == "GATEWAY_OPS_KEY_SHA256":
			return strings.Repeat("ab", 32), true
		case strings.HasSuffix(k, "_URL"):
			return "https://" + strings.ToLower(strings.TrimSuffix(k, "_URL")) + ".example", true
		}
		if v, ok := demo[k]; ok {
			return v, true
		}
		return "", false // a ${VAR:-default} keeps its default
	}
}

// TestProductionConfig checks deploy/gateway.prod.yaml the way
// `gateway check-config --serve` would, plus the production rules the file
// promises: https only, no insecure vendor, API keys, no demo users, Redis,
// every secret a variable the file cannot run without.
func TestProductionConfig(t *testing.T) {
	src := read(t, "gateway.prod.yaml")
	cfg, err := config.Load([]byte(src), prodEnv(""))
	if err != nil {
		t.Fatalf("gateway.prod.yaml does not load: %v", err)
	}
	runChecks(t, []check{
		{"https only", cfg.RequireHTTPS() == nil, "every vendor base_url must be https"},
		{"api keys", cfg.Auth.Mode == "api_key" && len(cfg.Clients) > 0, "auth.mode api_key with clients"},
		{"no demo users", len(cfg.Users) == 0, "users: must be empty (no demo links)"},
		{"redis store, key required", cfg.Idempotency.Store == "redis" && cfg.Idempotency.Required && cfg.Idempotency.OnStoreError == "fail",
			"idempotency.store redis, required true, on_store_error fail"},
		{"telemetry exported", cfg.Telemetry.Exporter == "otlp", "telemetry.exporter otlp"},
	})
	for name, v := range cfg.Vendors {
		if v.Insecure {
			t.Errorf("vendors.%s.insecure must not be set in production", name)
		}
		if lock := cfg.Idempotency.LockTTL.D(); lock <= v.Deadline.D() {
			t.Errorf("idempotency.lock_ttl %v must exceed vendors.%s.deadline %v", lock, name, v.Deadline.D())
		}
	}

	// Every value that names a site or a secret is a variable without a
	// default: the file refuses to load when one is missing.
	used := refs(t, src)
	for _, k := range []string{"GATEWAY_OPS_KEY_SHA256", "REDIS_URL", "VOLTERRA_URL", "AKANA_URL", "AKANA_USERNAME", "AKANA_PASSWORD",
		"AKANA_TENANT", "COMMVAULT_URL", "COMMVAULT_USERNAME", "COMMVAULT_PASSWORD", "FRONTIER_URL", "FRONTIER_USERNAME", "FRONTIER_PASSWORD"} {
		t.Run("requires "+k, func(t *testing.T) {
			hasDefault, ok := used[k]
			if !ok || hasDefault {
				t.Fatalf("${%s} must appear without a default (present %v, default %v)", k, ok, hasDefault)
			}
			if _, err := config.Load([]byte(src), prodEnv(k)); err == nil {
				t.Errorf("loads without %s", k)
			}
		})
	}

	// https is enforced, not only written down.
	t.Run("http vendor refused", func(t *testing.T) {
		lookup := prodEnv("")
		c, err := config.Load([]byte(src), func(k string) (string, bool) {
			if k == "AKANA_URL" {
				return "http://akana.example", true
			}
			return lookup(k)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RequireHTTPS(); err == nil || !strings.Contains(err.Error(), "vendors.akana.base_url") {
			t.Errorf("RequireHTTPS = %v, want vendors.akana.base_url refused", err)
		}
	})

	// What check-config does next: each adapter's settings decode strictly
	// and the adapter opens with them.
	factories := builtin.Configs()
	for name, v := range cfg.Vendors {
		t.Run("adapter "+name, func(t *testing.T) {
			factory, ok := factories[v.Type]
			if !ok {
				t.Fatalf("vendors.%s.type %q is not built in (%v)", name, v.Type, builtin.Types())
			}
			ac := factory()
			if v.Settings.Kind != 0 {
				b, err := yaml.Marshal(&v.Settings)
				if err != nil {
					t.Fatal(err)
				}
				dec := yaml.NewDecoder(bytes.NewReader(b))
				dec.KnownFields(true)
				if err := dec.Decode(ac); err != nil && !errors.Is(err, io.EOF) {
					t.Fatalf("vendors.%s.settings: %v", name, err)
				}
			}
			if _, err := ac.Open(name, adapters.Deps{Notifications: cfg.NotificationsFor(name),
				Credential: adapters.Credential{Username: v.Credential.Username, Password: v.Credential.Password, Token: v.Credential.Token}}); err != nil {
				t.Errorf("vendors.%s: Open: %v", name, err)
			}
		})
	}

	// docs/operations.md lists every variable the file reads.
	ops := read(t, "../docs/operations.md")
	for _, k := range slices.Sorted(maps.Keys(used)) {
		if !strings.Contains(ops, "`"+k+"`") {
			t.Errorf("docs/operations.md does not list `%s`, which gateway.prod.yaml reads", k)
		}
	}
}
