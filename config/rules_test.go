package config

import (
	"strings"
	"testing"
)

// TestEachRuleRefuses is one case per validation rule that
// TestLoadErrorsNameTheKey and the auth, audit and SCIM tests leave out:
// each bad value is refused with an error naming its key.
// TestEveryRuleHasACase checks that, together, they cover every rule.
func TestEachRuleRefuses(t *testing.T) {
	const base = `
vendors:
  akana:
    base_url: http://127.0.0.1:1
    insecure: true
    credential:
      username: u
      password: ${PW}
`
	vendor := func(extra string) string { return base + extra }
	cases := []struct{ name, yaml, want string }{
		{"server.listen", base + "server: {listen: nowhere}\n", "server.listen: must be host:port"},
		{"server.body_limit", base + "server: {body_limit: 10}\n", "server.body_limit: must be between 1024"},
		{"server.tls", base + "server: {tls: {cert_file: c.pem}}\n", "server.tls: cert_file and key_file go together"},
		{"auth.mode", base + "auth: {mode: magic}\n", "auth.mode: must be api_key or none"},
		{"server.batch_max_items", base + "server: {batch_max_items: 100001}\n", "server.batch_max_items: must be between 1 and 100000"},
		{"server.batch_concurrency", base + "server: {batch_concurrency: 257}\n", "server.batch_concurrency: must be between 1 and 256"},
		{"auth.oidc.issuer", base + "auth: {modes: [oidc], oidc: {audience: a}}\n", "auth.oidc.issuer: is required when auth.modes includes oidc"},
		{"auth.oidc.audience", base + "auth: {modes: [oidc], oidc: {issuer: 'https://i'}}\n", "auth.oidc.audience: is required when auth.modes includes oidc"},
		{"auth.oidc.algorithms", base + "auth: {modes: [oidc], oidc: {issuer: 'https://i', audience: a, algorithms: [HS256]}}\n",
			`auth.oidc.algorithms[0]: "HS256" is not accepted (asymmetric JWS algorithms only`},
		{"server.tls.client_ca for mtls", base + "auth: {modes: [mtls]}\n", "server.tls.client_ca: is required (with cert_file and key_file) when auth.modes includes mtls"},
		{"server.tls.client_ca alone", base + "server: {tls: {client_ca: ca.pem}}\n", "server.tls.client_ca: needs cert_file and key_file"},
		{"clients.permissions empty", base + "clients: [{name: a, key_sha256: " + strings.Repeat("a", 64) + ", permissions: ['']}]\n", "clients[0].permissions[0]: must not be empty"},
		{"clients.fields", base + "clients: [{name: a, key_sha256: " + strings.Repeat("a", 64) + ", fields: [shoe_size]}]\n", `clients[0].fields[0]: unknown canonical field "shoe_size"`},
		{"audit.database_url required", base + "audit: {sinks: [postgres]}\n", "audit.database_url: is required when audit.sinks includes postgres"},
		{"audit.buffer_size", base + "audit: {buffer_size: -1}\n", "audit.buffer_size: must be between 1 and 1000000"},
		{"scim.max_results", base + "scim: {max_results: 10001}\n", "scim.max_results: must be between 0 (default 100) and 10000"},
		{"scim.max_bulk_operations", base + "scim: {max_bulk_operations: 10001}\n", "scim.max_bulk_operations: must be between 0 (default 100) and 10000"},
		{"redis.password literal", base + "redis: {password: hunter2}\n", "redis.password: a literal secret is refused"},
		{"rate_limit", vendor("    rate_limit: {requests_per_second: -1}\n"), "vendors.akana.rate_limit: requests_per_second and burst must not be negative"},
		{"rate_limit.interactive_share", vendor("    rate_limit: {interactive_share: 1}\n"), "vendors.akana.rate_limit.interactive_share: must be at least 0 and below 1"},
		{"max_concurrency", vendor("    max_concurrency: -1\n"), "vendors.akana.max_concurrency: must not be negative"},
		{"clients.name required", base + "clients: [{key_sha256: " + strings.Repeat("a", 64) + "}]\n", "clients[0].name: is required"},
		{"clients.name twice", base + "clients: [{name: a, key_sha256: " + strings.Repeat("a", 64) + "}, {name: a, key_sha256: " + strings.Repeat("b", 64) + "}]\n", `clients[1].name: "a" is used twice`},
		{"clients.targets", base + "clients: [{name: a, key_sha256: " + strings.Repeat("a", 64) + ", targets: [nope]}]\n", `clients[0].targets[0]: unknown vendor "nope"`},
		{"clients.permissions", base + "clients: [{name: a, key_sha256: " + strings.Repeat("a", 64) + ", permissions: [root]}]\n", `clients[0].permissions[0]: unknown permission "root"`},
		{"clients.rate_limit", base + "clients: [{name: a, key_sha256: " + strings.Repeat("a", 64) + ", rate_limit: {requests: -1}}]\n", "clients[0].rate_limit.requests: must not be negative"},
		{"redis.url required", base + "idempotency: {store: redis}\nredis: {url: ''}\n", "redis.url: is required when idempotency.store is redis"},
		{"idempotency.store", base + "idempotency: {store: disk}\n", "idempotency.store: must be memory or redis"},
		{"idempotency.on_store_error", base + "idempotency: {on_store_error: shrug}\n", "idempotency.on_store_error: must be fail or proceed"},
		{"redis.url scheme", base + "redis: {url: 'http://h:6379'}\n", "redis.url: must be a redis://, rediss:// or unix:// URL"},
		{"links.database_url required", base + "links: {store: postgres}\n", "links.database_url: is required when links.store is postgres"},
		{"links.store", base + "links: {store: disk}\n", "links.store: must be memory or postgres"},
		{"links.database_url scheme", base + "links: {database_url: 'mysql://h/db'}\n", "links.database_url: must be a postgres:// or postgresql:// URL"},
		{"links.schema", base + "links: {schema: 9Bad}\n", "links.schema: must be lowercase letters"},
		{"links.cache_size", base + "links: {cache_size: -2}\n", "links.cache_size: must be between -1 (off) and 10000000"},
		{"telemetry.exporter", base + "telemetry: {exporter: carrier-pigeon}\n", "telemetry.exporter: must be none, stdout or otlp"},
		{"telemetry.protocol", base + "telemetry: {protocol: smtp}\n", "telemetry.protocol: must be http/protobuf or grpc"},
		{"telemetry.sample_ratio", base + "telemetry: {sample_ratio: 2}\n", "telemetry.sample_ratio: must be between 0 and 1"},
		{"telemetry.log_level", base + "telemetry: {log_level: loud}\n", "telemetry.log_level: must be debug, info, warn or error"},
		{"users", base + "users: {jdoe: {nope: x}}\n", `users.jdoe.nope: unknown vendor "nope"`},
		{"notifications", base + "notifications: {app.alert: {nope: x}}\n", `notifications.app.alert.nope: unknown vendor "nope"`},
		{"vendor name", strings.Replace(base, "  akana:", "  Akana!:", 1) + "    type: akana\n", "target names are lowercase letters, digits, - and _"},
		{"base_url query", strings.Replace(base, "http://127.0.0.1:1", "http://127.0.0.1:1/?a=b", 1), "vendors.akana.base_url: must not carry a query or fragment"},
		{"attempt_timeout", vendor("    attempt_timeout: 20s\n    deadline: 10s\n"), "vendors.akana.attempt_timeout: must not exceed deadline"},
		{"retry.max", vendor("    retry: {max: 11}\n"), "vendors.akana.retry.max: must be between 0 and 10"},
		{"retry.min_wait", vendor("    retry: {min_wait: 2s, max_wait: 1s}\n"), "vendors.akana.retry.min_wait: must not exceed max_wait"},
		{"resolve", vendor("    resolve: phone\n"), "vendors.akana.resolve: must be off, email or username"},
		{"pass_through_header", vendor("    pass_through_header: 'not a header'\n"), "vendors.akana.pass_through_header: must be an HTTP header name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.yaml), env(map[string]string{"PW": "x"}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The base itself loads: each case fails for its own rule.
	if _, err := Load([]byte(base), env(map[string]string{"PW": "x"})); err != nil {
		t.Fatalf("base: %v", err)
	}
}
