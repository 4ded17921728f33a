package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) LookupFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var full = map[string]string{"VOLTERRA_URL": "http://127.0.0.1:1", "AKANA_URL": "http://127.0.0.1:2", "COMMVAULT_URL": "http://127.0.0.1:3",
	"FRONTIER_URL":   "http://127.0.0.1:4",
	"VOLTERRA_TOKEN": "t", "AKANA_USERNAME": "u", "AKANA_PASSWORD": "p", "COMMVAULT_USERNAME": "u", "COMMVAULT_PASSWORD": "p",
	"FRONTIER_USERNAME": "u", "FRONTIER_PASSWORD": "p", "VOLTERRA_DEMO_ID": "v", "AKANA_DEMO_ID": "a", "COMMVAULT_DEMO_ID": "1", "FRONTIER_DEMO_ID": "f",
}

func TestLoadCheckedInConfig(t *testing.T) {
	b, err := os.ReadFile("../gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(b, env(full))
	if err != nil {
		t.Fatalf("gateway.yaml: %v", err)
	}
	if got := c.Vendors["frontier"].Credential.Password.Reveal(); got != "p" {
		t.Errorf("password = %q", got)
	}
	if c.Vendors["frontier"].Type != "frontier" || c.Server.BodyLimit != 2<<20 {
		t.Errorf("defaults not applied: %+v", c.Vendors["frontier"])
	}
	if p := c.Vendors["frontier"].Connections; p.MaxIdle != 256 || p.MaxPerHost != 0 || p.IdleTimeout.D() != 90*time.Second {
		t.Errorf("pool defaults: %+v", p)
	}
	if c.Redis.KeyPrefix != "idgw:" || c.Redis.Pipelining != "auto" {
		t.Errorf("redis defaults: %+v", c.Redis)
	}
	if id := c.Idempotency; id.AccountLocks != "on" || id.AccountLockTTL.D() != time.Minute || id.AccountLockWait.D() != 10*time.Second {
		t.Errorf("account lock settings: %q %s %s", id.AccountLocks, id.AccountLockTTL.D(), id.AccountLockWait.D())
	}
	// A bare off (a YAML 1.1 boolean) is the string "off".
	off, err := Load([]byte(strings.Replace(string(b), `account_locks: "on"`, "account_locks: off", 1)), env(full))
	if err != nil || off.Idempotency.AccountLocks != "off" {
		t.Errorf("account_locks: off: %v %+v", err, off)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	base := `
vendors:
  akana:
    base_url: http://127.0.0.1:1
    credential:
      username: u
      password: ${PW}
`
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       []string
	}{
		{"bad base url", strings.Replace(base, "http://127.0.0.1:1", "ftp:/x", 1), map[string]string{"PW": "x"}, []string{"vendors.akana.base_url: must be an absolute http(s) URL"}},
		{"literal secret", strings.Replace(base, "${PW}", "hunter2", 1), nil, []string{"vendors.akana.credential.password: a literal secret is refused"}},
		{"unset variable", base, nil, []string{"vendors.akana.credential.password: environment variable PW is not set"}},
		{"unknown key", base + "    colour: blue\n", map[string]string{"PW": "x"}, []string{"vendors.akana.colour: unknown key"}},
		{"bad duration", base + "    deadline: soon\n", map[string]string{"PW": "x"}, []string{"vendors.akana.deadline:"}},
		{"deadline vs lock", base + "    deadline: 90s\n", map[string]string{"PW": "x"}, []string{"vendors.akana.deadline: must be shorter than idempotency.lock_ttl"}},
		{"unknown default target", base + "routes: {default_targets: [nope]}\n", map[string]string{"PW": "x"}, []string{"routes.default_targets[0]: unknown vendor"}},
		{"bad client hash", base + "clients: [{name: a, key_sha256: abc}]\n", map[string]string{"PW": "x"}, []string{"clients[0].key_sha256: must be 64"}},
		{"redis literal password", base + "redis: {url: 'redis://:secret@h:6379'}\n", map[string]string{"PW": "x"}, []string{"redis.url: a literal secret is refused"}},
		{"no vendors", "server: {listen: 127.0.0.1:1}\n", nil, []string{"vendors: at least one vendor is required"}},
		{"pool sizes", base + "    connections: {max_idle: -1, max_per_host: 20000, idle_timeout: 10ms}\n", map[string]string{"PW": "x"}, []string{
			"vendors.akana.connections.max_idle: must be between 1 and 10000", "vendors.akana.connections.max_per_host: must be between 0 (no cap) and 10000",
			"vendors.akana.connections.idle_timeout: must be at least 1s"}},
		{"redis key prefix", base + "redis: {key_prefix: 'a{b}'}\n", map[string]string{"PW": "x"}, []string{"redis.key_prefix: must be at most 64 characters"}},
		{"memory bound", base + "idempotency: {memory_max_bytes: 1000}\n", map[string]string{"PW": "x"}, []string{"idempotency.memory_max_bytes: must be between 1048576"}},
		{"record-count bound refused", base + "idempotency: {memory_max_records: 1000}\n", map[string]string{"PW": "x"}, []string{"idempotency.memory_max_records: was replaced by idempotency.memory_max_bytes"}},
		{"redis pipelining", base + "redis: {pipelining: sometimes}\n", map[string]string{"PW": "x"}, []string{"redis.pipelining: must be auto or off"}},
		{"client extension field of an unknown vendor", base + "clients: [{name: a, key_sha256: " + strings.Repeat("a", 64) + ", fields: [extensions.nope.x, extensions.akana, extensions.akana.]}]\n",
			map[string]string{"PW": "x"}, []string{"clients[0].fields[0]: unknown", "clients[0].fields[1]: unknown", "clients[0].fields[2]: unknown"}},
		{"deadline vs account lock", base + "    deadline: 30s\nidempotency: {lock_ttl: 5m, account_lock_ttl: 20s}\n", map[string]string{"PW": "x"},
			[]string{"vendors.akana.deadline: must be shorter than idempotency.account_lock_ttl (20s)"}},
		{"account locks", base + "idempotency: {account_locks: maybe, account_lock_wait: 11m}\n", map[string]string{"PW": "x"},
			[]string{"idempotency.account_locks: must be on or off", "idempotency.account_lock_wait: must be between 0 and 10m"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.yaml), env(tc.env))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestExpansionCannotInjectStructure(t *testing.T) {
	y := `
server: {listen: "${LISTEN}"}
vendors:
  frontier: {base_url: "${URL}"}
`
	c, err := Load([]byte(y), env(map[string]string{"LISTEN": "127.0.0.1:9", "URL": "http://h:1\nvendors: {x: 1}"}))
	if err == nil {
		if _, ok := c.Vendors["x"]; ok {
			t.Fatal("an environment value injected YAML structure")
		}
	}
	c, err = Load([]byte(y), env(map[string]string{"LISTEN": "127.0.0.1:9", "URL": "http://h:1"}))
	if err != nil || c.Server.Listen != "127.0.0.1:9" {
		t.Fatalf("c=%+v err=%v", c, err)
	}
}

func TestRequireHTTPS(t *testing.T) {
	y := "vendors:\n  frontier: {base_url: http://h:1}\n  akana: {base_url: http://h:2, insecure: true}\n"
	c, err := Load([]byte(y), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = c.RequireHTTPS()
	if err == nil || !strings.Contains(err.Error(), "vendors.frontier.base_url: must be https") || strings.Contains(err.Error(), "akana") {
		t.Fatalf("err = %v", err)
	}
}

// TestClientFieldsTakeExtensions (issue 17, item 18): a client's fields list
// may name extensions.<vendor>.<name> for a configured vendor.
func TestClientFieldsTakeExtensions(t *testing.T) {
	y := `
vendors:
  akana:
    base_url: http://127.0.0.1:1
    credential:
      username: u
      password: ${PW}
clients: [{name: a, key_sha256: ` + strings.Repeat("a", 64) + `, fields: [display_name, extensions.akana.colour]}]
`
	if _, err := Load([]byte(y), env(map[string]string{"PW": "x"})); err != nil {
		t.Fatal(err)
	}
}

func TestLinksConfig(t *testing.T) {
	base := `
vendors:
  commvault:
    base_url: http://127.0.0.1:1
    resolve: RESOLVE
clients:
  - name: ops
    key_sha256: 0000000000000000000000000000000000000000000000000000000000000000
    permissions: [PERM]
`
	cases := []struct {
		name, links, resolve, perm string
		env                        map[string]string
		want                       string
	}{
		{"defaults", "", "email", "links", nil, ""},
		{"postgres needs a url", "links: {store: postgres}", "off", "links", nil, "links.database_url: is required when links.store is postgres"},
		{"unknown store", "links: {store: redis}", "off", "links", nil, "links.store: must be memory or postgres"},
		{"literal password refused", "links: {store: postgres, database_url: 'postgres://u:hunter2@db/x'}", "off", "links", nil, "links.database_url: a literal secret is refused"},
		{"password from the environment", "links: {store: postgres, database_url: '${DB}'}", "off", "links", map[string]string{"DB": "postgres://u:pw@db/x"}, ""},
		{"not a postgres url", "links: {store: postgres, database_url: 'mysql://db/x'}", "off", "links", nil, "links.database_url: must be a postgres://"},
		{"bad schema", "links: {schema: 'a-b'}", "off", "links", nil, "links.schema:"},
		{"bad resolve", "", "phone", "links", nil, "vendors.commvault.resolve: must be off, email or username"},
		{"bad permission", "", "off", "admin", nil, `clients[0].permissions[0]: unknown permission "admin"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.NewReplacer("RESOLVE", tc.resolve, "PERM", tc.perm).Replace(base) + tc.links + "\n"
			c, err := Load([]byte(y), env(tc.env))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.links == "" && (c.Links.Store != "memory" || c.Links.Schema != "identity_gateway" || c.Vendors["commvault"].Resolve != "email") {
					t.Fatalf("defaults %+v", c.Links)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("the error shows the password")
			}
		})
	}
}

// TestAuditDatabaseDefaultsToLinks: the audit trail's PostgreSQL is the
// identity links' database unless audit.database_url says otherwise, and a
// password taken from the environment there is not refused as a literal.
func TestAuditDatabaseDefaultsToLinks(t *testing.T) {
	y := `
vendors:
  akana:
    base_url: http://127.0.0.1:1
    credential:
      username: u
      password: ${PW}
links: {store: postgres, database_url: '${DB}'}
audit: {sinks: [postgres]}
`
	c, err := Load([]byte(y), env(map[string]string{"PW": "x", "DB": "postgres://u:pw@db/x"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.DatabaseURL != "postgres://u:pw@db/x" {
		t.Fatalf("audit.database_url %q", c.Audit.DatabaseURL)
	}
}
