package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// Config is the whole gateway.yaml.
type Config struct {
	// Server is the HTTP listener.
	Server Server `yaml:"server"`
	// Auth selects how clients authenticate.
	Auth Auth `yaml:"auth"`
	// Clients are the API clients allowed in (auth.mode api_key).
	Clients []Client `yaml:"clients"`
	// Idempotency configures Idempotency-Key handling.
	Idempotency Idempotency `yaml:"idempotency"`
	// Redis is the shared store (idempotency, rate limits) when used.
	Redis Redis `yaml:"redis"`
	// Telemetry selects exporters and logging.
	Telemetry Telemetry `yaml:"telemetry"`
	// Routes holds request defaults.
	Routes Routes `yaml:"routes"`
	// Users is a static identity-link map: canonical user id -> target ->
	// vendor id. A request's vendor_ids still wins.
	Users map[string]map[string]string `yaml:"users"`
	// Notifications maps a canonical notification name to each vendor's name
	// for it. A vendor named nowhere here uses its adapter's default mapping.
	Notifications map[string]map[string]string `yaml:"notifications"`
	// Vendors are the targets, by target name.
	Vendors map[string]Vendor `yaml:"vendors"`
	// Audit configures the audit trail of identity changes.
	Audit Audit `yaml:"audit"`
	// Links selects the identity-link store.
	Links Links `yaml:"links"`
	// SCIM configures the SCIM 2.0 front door (/scim/v2); absent, it is
	// served with the defaults (every target, default mappings).
	SCIM SCIM `yaml:"scim"`
}

// SCIM is the scim: block (README, SCIM 2.0).
type SCIM struct {
	// Enabled turns /scim/v2 off when false (default on).
	Enabled *bool `yaml:"enabled"`
	// Targets SCIM writes and reads (default: every target).
	Targets []string `yaml:"targets"`
	// Authoritative maps a canonical field to the target a read takes it from.
	Authoritative map[string]string `yaml:"authoritative"`
	// Attributes maps extra SCIM attributes to metadata.<key> or
	// extensions.<vendor>.<name>.
	Attributes map[string]string `yaml:"attributes"`
	// HardDelete lists targets where DELETE deletes the account (Frontier);
	// elsewhere DELETE deactivates.
	HardDelete        []string `yaml:"hard_delete"`
	MaxResults        int      `yaml:"max_results"`
	MaxBulkOperations int      `yaml:"max_bulk_operations"`
	// AdoptVendorAccounts lets a listing link the listing target's
	// accounts nobody holds yet (through its vendor's list call), so an
	// identity provider's import sees them. Off by default: a vendor's
	// service accounts (the gateway's own credential among them) would
	// otherwise become SCIM users an identity provider could deactivate.
	AdoptVendorAccounts bool `yaml:"adopt_vendor_accounts"`
}

// Links configures the identity-link store (canonical id -> target ->
// vendor id).
type Links struct {
	// Store is "memory" (default: one process, seeded from users) or
	// "postgres" (shared by replicas; users seeds links not stored yet).
	Store string `yaml:"store"`
	// DatabaseURL is the PostgreSQL connection string; a password in it
	// must come from the environment (${VAR}).
	DatabaseURL string `yaml:"database_url"`
	// Schema holds the link tables; default identity_gateway.
	Schema string `yaml:"schema"`
	// CacheSize bounds the in-process cache in front of PostgreSQL, in
	// canonical ids; default 100000, -1 turns it off.
	CacheSize int `yaml:"cache_size"`
}

// Server configures the listener and its limits.
type Server struct {
	// Listen is the address, default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// BodyLimit is the largest request body in bytes, default 2 MiB (a
	// 1 MiB avatar in base64 plus the rest).
	BodyLimit int `yaml:"body_limit"`
	// ReadTimeout bounds reading one request (headers and body), so a slow
	// client cannot hold a worker; default 10s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response; default 60s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections; default 60s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ShutdownGrace is how long in-flight requests may finish on SIGTERM;
	// default 20s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// MaxHeaderBytes bounds the request header size; default 16 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// TLS serves HTTPS when both files are set.
	TLS TLS `yaml:"tls"`
	// BatchMaxItems bounds the updates of one POST /v1/users:batch,
	// default 1000; BatchConcurrency is how many of them run at once,
	// default 8.
	BatchMaxItems    int `yaml:"batch_max_items"`
	BatchConcurrency int `yaml:"batch_concurrency"`
}

// TLS names the certificate and key files of the listener.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCA is a PEM file of the CAs client certificates must chain to
	// (mTLS; auth.modes includes mtls).
	ClientCA string `yaml:"client_ca"`
	// ClientAuth is request (default: a certificate is verified when sent)
	// or require (the handshake fails without one).
	ClientAuth string `yaml:"client_auth"`
}

// Auth selects client authentication.
type Auth struct {
	// Mode is "api_key" (default: Authorization: Bearer <key>, checked against
	// clients) or "none" (every request is the client "anonymous" with access
	// to every target; for local development only).
	Mode string `yaml:"mode"`
	// Modes lists the accepted methods: api_key, oidc, mtls (any of them;
	// default [mode]). A request authenticates by its Authorization header
	// when it sends one, else by its client certificate.
	Modes []string `yaml:"modes"`
	// OIDC configures JWT bearer tokens (modes includes oidc).
	OIDC OIDC `yaml:"oidc"`
}

// OIDC configures bearer tokens from an OpenID Connect provider.
type OIDC struct {
	// Issuer URL; the JWKS is discovered from its openid-configuration.
	Issuer string `yaml:"issuer"`
	// Audience must be in every token's aud.
	Audience string `yaml:"audience"`
	// Algorithms accepted (default [RS256]); asymmetric only.
	Algorithms []string `yaml:"algorithms"`
	// ClockSkew tolerated on exp and nbf (default 30s, at most 5m).
	ClockSkew Duration `yaml:"clock_skew"`
	// ClientClaim names the claim matched against clients[].oidc_subject:
	// client_id (default, falling back to azp), azp or sub.
	ClientClaim string `yaml:"client_claim"`
	// JWKSMinRefresh is the least time between JWKS fetches (default 1m).
	JWKSMinRefresh Duration `yaml:"jwks_min_refresh"`
}

// Audit configures the audit trail.
type Audit struct {
	// Sinks: memory (default; lost on restart), postgres, jsonl; several
	// may be listed and each gets every record.
	Sinks []string `yaml:"sinks"`
	// DatabaseURL is the PostgreSQL database (the identity links' one).
	DatabaseURL string `yaml:"database_url"`
	// File is the JSON-lines file; empty or "-" is stdout.
	File string `yaml:"file"`
	// Values is how e-mail and name values are kept: none, hashed
	// (default: sha256 of the lower-cased value) or plain.
	Values string `yaml:"values"`
	// OnError is fail (default: 503 audit_unavailable while a sink is down)
	// or proceed (write anyway, counted in gateway_audit_failures_total).
	OnError string `yaml:"on_error"`
	// Retention deletes PostgreSQL records older than this (default
	// 2160h, 90 days; 0 via the default only).
	Retention Duration `yaml:"retention"`
	// BufferSize bounds records kept in memory for retry (default 10000).
	BufferSize int `yaml:"buffer_size"`
}

// Client is one API client.
type Client struct {
	// Name identifies the client in logs and scopes its idempotency keys.
	Name string `yaml:"name"`
	// KeySHA256 is the hex SHA-256 of the client's API key (never the key;
	// `gateway hash-key` prints it).
	KeySHA256 string `yaml:"key_sha256"`
	// Targets the client may write; empty means none.
	Targets []string `yaml:"targets"`
	// Fields the client may change; empty means all. An extension field is
	// named extensions.<vendor>.<name>.
	Fields []string `yaml:"fields"`
	// RateLimit is the client's request budget; zero means the default.
	RateLimit RateLimit `yaml:"rate_limit"`
	// NextKeySHA256 is a second accepted key during a rotation: give the
	// client its new key, then move this hash to key_sha256.
	NextKeySHA256 string `yaml:"next_key_sha256"`
	// KeyExpires is when key_sha256 should no longer be used (RFC 3339); a
	// client still using it afterwards is logged, once a day.
	KeyExpires string `yaml:"key_expires"`
	// OIDCSubject is the value of auth.oidc.client_claim naming this client.
	OIDCSubject string `yaml:"oidc_subject"`
	// CertSubject (e.g. "CN=hr-sync,O=Example") or CertSANs (URI SANs such
	// as SPIFFE IDs, DNS names, e-mails) match a client certificate.
	CertSubject string   `yaml:"cert_subject"`
	CertSANs    []string `yaml:"cert_sans"`
	// Permissions beyond writing users: audit (GET /v1/audit), links, scim.
	Permissions []string `yaml:"permissions"`
}

// RateLimit is a fixed-window budget.
type RateLimit struct {
	// Requests per Window; 0 uses the default of 600.
	Requests int `yaml:"requests"`
	// Window defaults to 1m.
	Window Duration `yaml:"window"`
}

// Idempotency configures the Idempotency-Key store.
type Idempotency struct {
	// Store is "memory" (one instance) or "redis" (shared by replicas).
	Store string `yaml:"store"`
	// Retention is how long finished results are kept; default 24h.
	Retention Duration `yaml:"retention"`
	// LockTTL bounds an in-progress claim, so a crashed instance's claim
	// expires; default 60s, and it must exceed every vendor deadline.
	LockTTL Duration `yaml:"lock_ttl"`
	// Required makes the header mandatory (400 when missing).
	Required bool `yaml:"required"`
	// OnStoreError is "fail" (503 idempotency_unavailable, default) or
	// "proceed" (run without idempotency).
	OnStoreError string `yaml:"on_store_error"`
	// MemoryMaxBytes bounds the memory store's records in bytes (default
	// 268435456, 256 MiB; a finished four-target record takes about 2.3 KB):
	// past it the oldest finished keys are forgotten before their retention
	// ends, so memory cannot run out.
	MemoryMaxBytes int64 `yaml:"memory_max_bytes"`
	// MemoryMaxRecords is refused: it was a record count whose memory it
	// understated five-fold; memory_max_bytes replaced it.
	MemoryMaxRecords int `yaml:"memory_max_records"`
	// AccountLocks is "on" (default) or "off": read-modify-write updates to
	// one vendor account are serialised per account (in process with the
	// memory store, across replicas with Redis), so concurrent updates
	// never undo each other. "off" is for measuring the lock's cost only.
	AccountLocks string `yaml:"account_locks"`
	// AccountLockTTL bounds how long a crashed replica's account lock
	// outlives it; default 60s, and it must exceed every vendor deadline,
	// so a live holder never loses its lock mid-update.
	AccountLockTTL Duration `yaml:"account_lock_ttl"`
	// AccountLockWait is how long an update waits for another update of
	// the same account before its target fails with account_busy (409,
	// Retry-After); default 10s.
	AccountLockWait Duration `yaml:"account_lock_wait"`
}

// Redis addresses the shared Redis: one URL, or Sentinel (master_name and
// addrs) or Cluster (several addrs).
type Redis struct {
	URL        string           `yaml:"url"`
	Addrs      []string         `yaml:"addrs"`
	MasterName string           `yaml:"master_name"`
	Username   string           `yaml:"username"`
	Password   canonical.Secret `yaml:"password"`
	DB         int              `yaml:"db"`
	// KeyPrefix starts every key the gateway writes (default "idgw:"), so
	// deployments sharing one Redis keep apart.
	KeyPrefix string `yaml:"key_prefix"`
	// AllowVolatile lets `serve` start on a Redis without an append-only
	// file (AOF). Such a Redis loses every idempotency record when it
	// restarts, and a retry of an applied key then writes again; the store
	// marker still detects the loss (see ResetHold). Default false: production
	// Redis needs `appendonly yes` (or a managed Redis with durability, for
	// which this is set once its durability is known).
	AllowVolatile bool `yaml:"allow_volatile"`
	// ResetHold is how long keyed requests are refused (503
	// idempotency_unavailable) after the store detected that Redis lost its
	// records; default idempotency.retention, the time a lost record could
	// still have been replayed. Restarting the replicas with a shorter hold
	// acknowledges a loss early.
	ResetHold *Duration `yaml:"reset_hold"`
	// Pipelining is "auto" (default): the idempotency commands of concurrent
	// requests share round trips (go-redis auto-pipelining), which cuts the
	// Redis store's cost per request under load; `serve` batches half duplex
	// (fewest writes for Redis with many callers) once a few commands are in
	// flight, and sends each straight while fewer are (no hand-over to the
	// pipeliner at low load); `gateway migrate` batches full duplex (no
	// command waits out another's round trip with a few callers).
	// "off" sends each command on its own connection turn.
	Pipelining string `yaml:"pipelining"`
}

// Telemetry configures traces, metrics and logs.
type Telemetry struct {
	// Exporter is "none" (default), "stdout" or "otlp".
	Exporter string `yaml:"exporter"`
	// Protocol for otlp: "http/protobuf" (default) or "grpc".
	Protocol string `yaml:"protocol"`
	// Endpoint overrides OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string `yaml:"endpoint"`
	// Insecure disables TLS to the collector.
	Insecure bool `yaml:"insecure"`
	// ServiceName defaults to identity-gateway; OTEL_SERVICE_NAME wins.
	ServiceName string `yaml:"service_name"`
	// SampleRatio of traces kept, default 1.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `yaml:"log_level"`
}

// Routes holds defaults for PATCH /v1/users/{id}.
type Routes struct {
	// DefaultTargets are written when a request names no targets.
	DefaultTargets []string `yaml:"default_targets"`
}

// Vendor is one target.
type Vendor struct {
	// Type is the adapter (volterra, akana, commvault, frontier); default:
	// the target name, so one vendor type can serve two targets.
	Type string `yaml:"type"`
	// BaseURL of the vendor API; https unless Insecure.
	BaseURL string `yaml:"base_url"`
	// Insecure allows a plain-http base URL (simulators, loopback).
	Insecure bool `yaml:"insecure"`
	// Credential is the service credential; secrets must be ${VAR}.
	Credential Credential `yaml:"credential"`
	// PassThroughHeader names the request header that carries a caller's
	// own vendor credential (vendors that act on the credential's owner).
	PassThroughHeader string `yaml:"pass_through_header"`
	// AttemptTimeout bounds one HTTP attempt; default 5s.
	AttemptTimeout Duration `yaml:"attempt_timeout"`
	// Deadline bounds the whole target (all calls and retries); default 15s.
	Deadline Duration `yaml:"deadline"`
	// Retry policy.
	Retry Retry `yaml:"retry"`
	// Breaker policy.
	Breaker Breaker `yaml:"breaker"`
	// Connections sizes the keep-alive pool to this vendor.
	Connections Connections `yaml:"connections"`
	// Settings is the adapter's own block, decoded by the adapter's Config.
	Settings yaml.Node `yaml:"settings"`
	// Resolve is how an update addressing a user with no link here finds
	// the account: "off" (default), "email" or "username" (the adapter
	// must offer that lookup).
	Resolve string `yaml:"resolve"`
	// RateLimit bounds calls to the vendor, shared by every replica when
	// idempotency.store is redis (else per replica); MaxConcurrency bounds
	// one replica's calls in flight. 0 (default) disables each. Calls wait
	// for their turn within their target's deadline.
	RateLimit      VendorRateLimit `yaml:"rate_limit"`
	MaxConcurrency int             `yaml:"max_concurrency"`
}

// VendorRateLimit is a vendor's call budget.
type VendorRateLimit struct {
	// RequestsPerSecond is the sustained rate; Burst the calls allowed at
	// once (default: the rate rounded up).
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
	// InteractiveShare of the rate and of max_concurrency is kept for
	// interactive PATCHes: bulk work (batches, migrations) may use at most
	// the rest. Default 0.2.
	InteractiveShare *float64 `yaml:"interactive_share"`
}

// Credential is a service credential. Password and Token must come from the
// environment (${VAR}); a literal in the file is refused.
type Credential struct {
	Username string           `yaml:"username"`
	Password canonical.Secret `yaml:"password"`
	Token    canonical.Secret `yaml:"token"`
}

// Connections is one vendor's HTTP connection pool. Connections are kept
// alive and reused; a busy gateway needs as many idle ones as it has calls
// in flight to that vendor, or it dials (and, over TLS, handshakes) again.
type Connections struct {
	// MaxIdle keeps at most this many idle connections; default 256. It
	// applies to a vendor reached through a proxy (HTTP_PROXY and the
	// like), whose calls go through net/http's transport; otherwise a
	// connection stays until it has been idle IdleTimeout, and MaxPerHost
	// caps them all.
	MaxIdle int `yaml:"max_idle"`
	// MaxPerHost caps all connections (idle and busy) to the vendor; 0,
	// the default, means no cap. A cap makes calls beyond it wait for a free
	// connection, within their deadline.
	MaxPerHost int `yaml:"max_per_host"`
	// IdleTimeout closes a connection idle this long; default 90s.
	IdleTimeout Duration `yaml:"idle_timeout"`
}

// Retry is the retry policy of one vendor.
type Retry struct {
	// Max retries after the first attempt; default 3, 0 via disabled.
	Max *int `yaml:"max"`
	// MinWait and MaxWait bound the exponential backoff; defaults 50ms, 2s.
	MinWait Duration `yaml:"min_wait"`
	MaxWait Duration `yaml:"max_wait"`
	// MaxRetryAfter caps an honoured Retry-After; default 5s.
	MaxRetryAfter Duration `yaml:"max_retry_after"`
	// On500 also retries HTTP 500.
	On500 bool `yaml:"on_500"`
}

// Breaker is the circuit-breaker policy of one vendor.
type Breaker struct {
	// ConsecutiveFailures opens the breaker; default 5.
	ConsecutiveFailures uint32 `yaml:"consecutive_failures"`
	// OpenFor is how long it stays open before a trial call; default 30s.
	OpenFor Duration `yaml:"open_for"`
	// HalfOpenMax trial calls; default 1.
	HalfOpenMax uint32 `yaml:"half_open_max"`
	// Interval resets failure counts while closed; 0 never.
	Interval Duration `yaml:"interval"`
}

// Duration is a time.Duration that reads and writes "2s".
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: must be a duration like 2s or 150ms", n.Line)}}
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil || v < 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration like 2s or 150ms", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes a duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
