package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
)

func (c *Config) checkLiteralSecrets(refs map[string]bool) []error {
	var errs []error
	refuse := func(path string) {
		errs = append(errs, fmt.Errorf("%s: a literal secret is refused; reference an environment variable as ${VAR}", path))
	}
	for _, name := range sortedKeys(c.Vendors) {
		v := c.Vendors[name]
		for key, s := range map[string]canonical.Secret{"password": v.Credential.Password, "token": v.Credential.Token} {
			p := "vendors." + name + ".credential." + key
			if s != "" && !refs[p] {
				refuse(p)
			}
		}
	}
	if u, err := url.Parse(c.Links.DatabaseURL); err == nil && u.User != nil {
		if _, has := u.User.Password(); has && !refs["links.database_url"] {
			refuse("links.database_url")
		}
	}
	if c.Redis.Password != "" && !refs["redis.password"] {
		refuse("redis.password")
	}
	if u, err := url.Parse(c.Redis.URL); err == nil && u.User != nil {
		if _, has := u.User.Password(); has && !refs["redis.url"] {
			refuse("redis.url")
		}
	}
	if u, err := url.Parse(c.Audit.DatabaseURL); err == nil && u.User != nil {
		inherited := c.Audit.DatabaseURL == c.Links.DatabaseURL && refs["links.database_url"]
		if _, has := u.User.Password(); has && !refs["audit.database_url"] && !inherited {
			refuse("audit.database_url")
		}
	}
	return errs
}

func (c *Config) applyDefaults() {
	if c.Redis.Pipelining == "" {
		c.Redis.Pipelining = "auto"
	}
	if c.Redis.KeyPrefix == "" {
		c.Redis.KeyPrefix = "idgw:"
	}
	s := &c.Server
	if s.Listen == "" {
		s.Listen = "127.0.0.1:8080"
	}
	if s.BodyLimit == 0 {
		s.BodyLimit = 2 << 20
	}
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&s.ReadTimeout, 10*time.Second)
	def(&s.WriteTimeout, 60*time.Second)
	def(&s.IdleTimeout, 60*time.Second)
	def(&s.ShutdownGrace, 20*time.Second)
	if s.MaxHeaderBytes == 0 {
		s.MaxHeaderBytes = 16 << 10
	}
	if s.BatchMaxItems == 0 {
		s.BatchMaxItems = 1000
	}
	if s.BatchConcurrency == 0 {
		s.BatchConcurrency = 8
	}
	if c.Auth.Mode == "" {
		c.Auth.Mode = "api_key"
	}
	c.applyAuthAuditDefaults()
	for i := range c.Clients {
		rl := &c.Clients[i].RateLimit
		if rl.Requests == 0 {
			rl.Requests = 600
		}
		def(&rl.Window, time.Minute)
	}
	id := &c.Idempotency
	if id.Store == "" {
		id.Store = "memory"
	}
	def(&id.Retention, 24*time.Hour)
	def(&id.LockTTL, 60*time.Second)
	if c.Redis.ResetHold == nil {
		h := id.Retention
		c.Redis.ResetHold = &h
	}
	if id.MemoryMaxBytes == 0 {
		id.MemoryMaxBytes = 256 << 20
	}
	if id.AccountLocks == "" {
		id.AccountLocks = "on"
	}
	def(&id.AccountLockTTL, 60*time.Second)
	def(&id.AccountLockWait, 10*time.Second)
	if id.OnStoreError == "" {
		id.OnStoreError = "fail"
	}
	if c.Links.Store == "" {
		c.Links.Store = "memory"
	}
	if c.Links.Schema == "" {
		c.Links.Schema = "identity_gateway"
	}
	if c.Telemetry.Exporter == "" {
		c.Telemetry.Exporter = "none"
	}
	if c.Telemetry.LogLevel == "" {
		c.Telemetry.LogLevel = "info"
	}
	for name, v := range c.Vendors {
		if v.Type == "" {
			v.Type = name
		}
		if v.Resolve == "" {
			v.Resolve = "off"
		}
		def(&v.AttemptTimeout, DefaultAttemptTimeout)
		def(&v.Deadline, DefaultDeadline)
		if v.Retry.Max == nil {
			n := DefaultRetryMax
			v.Retry.Max = &n
		}
		def(&v.Retry.MinWait, DefaultRetryMinWait)
		def(&v.Retry.MaxWait, DefaultRetryMaxWait)
		def(&v.Retry.MaxRetryAfter, DefaultMaxRetryAfter)
		if v.Breaker.ConsecutiveFailures == 0 {
			v.Breaker.ConsecutiveFailures = DefaultBreakerFailures
		}
		def(&v.Breaker.OpenFor, DefaultBreakerOpenFor)
		if v.Breaker.HalfOpenMax == 0 {
			v.Breaker.HalfOpenMax = DefaultBreakerHalfOpenMax
		}
		if v.Connections.MaxIdle == 0 {
			v.Connections.MaxIdle = DefaultPoolMaxIdle
		}
		def(&v.Connections.IdleTimeout, DefaultPoolIdleTimeout)
		if v.RateLimit.InteractiveShare == nil {
			share := 0.2
			v.RateLimit.InteractiveShare = &share
		}
		c.Vendors[name] = v
	}
}

var hexRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (c *Config) validate() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		bad("server.listen", "must be host:port")
	}
	if c.Server.BodyLimit < 1024 || c.Server.BodyLimit > 64<<20 {
		bad("server.body_limit", "must be between 1024 and 67108864 bytes")
	}
	if c.Server.BatchMaxItems < 1 || c.Server.BatchMaxItems > 100000 {
		bad("server.batch_max_items", "must be between 1 and 100000")
	}
	if c.Server.BatchConcurrency < 1 || c.Server.BatchConcurrency > 256 {
		bad("server.batch_concurrency", "must be between 1 and 256")
	}
	if (c.Server.TLS.CertFile == "") != (c.Server.TLS.KeyFile == "") {
		bad("server.tls", "cert_file and key_file go together")
	}
	switch c.Auth.Mode {
	case "api_key", "none":
	default:
		bad("auth.mode", "must be api_key or none")
	}
	errs = append(errs, c.validateAuthAudit()...)
	if len(c.Vendors) == 0 {
		bad("vendors", "at least one vendor is required")
	}
	names := map[string]bool{}
	for i, cl := range c.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		if cl.Name == "" {
			bad(p+".name", "is required")
		} else if names[cl.Name] {
			bad(p+".name", "%q is used twice", cl.Name)
		}
		names[cl.Name] = true
		if cl.KeySHA256 == "" && cl.hasOtherCredential() {
			// A client that only presents a token or a certificate.
		} else if !hexRe.MatchString(cl.KeySHA256) {
			bad(p+".key_sha256", "must be 64 lowercase hex characters (gateway hash-key prints it)")
		}
		for j, t := range cl.Targets {
			if _, ok := c.Vendors[t]; !ok {
				bad(fmt.Sprintf("%s.targets[%d]", p, j), "unknown vendor %q", t)
			}
		}
		for j, f := range cl.Fields {
			if !knownField(f) && !c.knownExtension(f) {
				bad(fmt.Sprintf("%s.fields[%d]", p, j), "unknown canonical field %q (or extensions.<vendor>.<name>)", f)
			}
		}
		for j, perm := range cl.Permissions {
			if perm != "" && !slices.Contains([]string{"links", "audit", "scim"}, perm) {
				bad(fmt.Sprintf("%s.permissions[%d]", p, j), "unknown permission %q (known: links, audit, scim)", perm)
			}
		}
		if cl.RateLimit.Requests < 0 {
			bad(p+".rate_limit.requests", "must not be negative")
		}
	}
	switch c.Idempotency.Store {
	case "memory":
	case "redis":
		if c.Redis.URL == "" && len(c.Redis.Addrs) == 0 {
			bad("redis.url", "is required when idempotency.store is redis (or set redis.addrs)")
		}
	default:
		bad("idempotency.store", "must be memory or redis")
	}
	if c.Idempotency.MemoryMaxRecords != 0 {
		bad("idempotency.memory_max_records", "was replaced by idempotency.memory_max_bytes, a byte budget (a finished four-target record takes about 2.3 KB; default 268435456)")
	}
	if n := c.Idempotency.MemoryMaxBytes; n != 0 && (n < 1<<20 || n > 1<<40) {
		bad("idempotency.memory_max_bytes", "must be between 1048576 (1 MiB) and 1099511627776 (1 TiB); 0: the default 268435456")
	}
	switch c.Idempotency.OnStoreError {
	case "fail", "proceed":
	default:
		bad("idempotency.on_store_error", "must be fail or proceed")
	}
	if c.Idempotency.AccountLocks != "on" && c.Idempotency.AccountLocks != "off" {
		bad("idempotency.account_locks", "must be on or off")
	}
	if w := c.Idempotency.AccountLockWait.D(); w < 0 || w > 10*time.Minute {
		bad("idempotency.account_lock_wait", "must be between 0 and 10m")
	}
	if strings.ContainsAny(c.Redis.KeyPrefix, "{}*?[] \t\r\n") || len(c.Redis.KeyPrefix) > 64 {
		bad("redis.key_prefix", "must be at most 64 characters, without braces (the store's hash tags), glob characters or spaces")
	}
	switch c.Redis.Pipelining {
	case "auto", "off":
	default:
		bad("redis.pipelining", "must be auto or off")
	}
	if c.Redis.URL != "" {
		if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			bad("redis.url", "must be a redis://, rediss:// or unix:// URL")
		}
	}
	switch c.Links.Store {
	case "memory":
	case "postgres":
		if c.Links.DatabaseURL == "" {
			bad("links.database_url", "is required when links.store is postgres")
		}
	default:
		bad("links.store", "must be memory or postgres")
	}
	if c.Links.DatabaseURL != "" {
		if u, err := url.Parse(c.Links.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("links.database_url", "must be a postgres:// or postgresql:// URL")
		}
	}
	if !linkSchemaRe.MatchString(c.Links.Schema) {
		bad("links.schema", "must be lowercase letters, digits and _ (at most 48, not starting with a digit)")
	}
	if c.Links.CacheSize < -1 || c.Links.CacheSize > 10_000_000 {
		bad("links.cache_size", "must be between -1 (off) and 10000000 (0: the default)")
	}
	validateSCIM(c, bad)
	switch c.Telemetry.Exporter {
	case "none", "stdout", "otlp":
	default:
		bad("telemetry.exporter", "must be none, stdout or otlp")
	}
	switch c.Telemetry.Protocol {
	case "", "http/protobuf", "grpc":
	default:
		bad("telemetry.protocol", "must be http/protobuf or grpc")
	}
	if r := c.Telemetry.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		bad("telemetry.sample_ratio", "must be between 0 and 1")
	}
	switch c.Telemetry.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("telemetry.log_level", "must be debug, info, warn or error")
	}
	for i, t := range c.Routes.DefaultTargets {
		if _, ok := c.Vendors[t]; !ok {
			bad(fmt.Sprintf("routes.default_targets[%d]", i), "unknown vendor %q", t)
		}
	}
	for _, u := range sortedKeys(c.Users) {
		for _, t := range sortedKeys(c.Users[u]) {
			if _, ok := c.Vendors[t]; !ok {
				bad("users."+u+"."+t, "unknown vendor %q", t)
			}
		}
	}
	for _, n := range sortedKeys(c.Notifications) {
		for _, t := range sortedKeys(c.Notifications[n]) {
			if _, ok := c.Vendors[t]; !ok {
				bad("notifications."+n+"."+t, "unknown vendor %q", t)
			}
		}
	}
	for _, name := range sortedKeys(c.Vendors) {
		v := c.Vendors[name]
		p := "vendors." + name
		if !canonical.ValidTargetName(name) {
			bad(p, "target names are lowercase letters, digits, - and _")
		}
		u, err := url.Parse(v.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(p+".base_url", "must be an absolute http(s) URL")
		} else if u.RawQuery != "" || u.Fragment != "" {
			bad(p+".base_url", "must not carry a query or fragment")
		}
		if v.AttemptTimeout > v.Deadline {
			bad(p+".attempt_timeout", "must not exceed deadline (%s)", v.Deadline.D())
		}
		if v.RateLimit.RequestsPerSecond < 0 || v.RateLimit.Burst < 0 {
			bad(p+".rate_limit", "requests_per_second and burst must not be negative")
		}
		if sh := *v.RateLimit.InteractiveShare; sh < 0 || sh >= 1 {
			bad(p+".rate_limit.interactive_share", "must be at least 0 and below 1")
		}
		if v.MaxConcurrency < 0 {
			bad(p+".max_concurrency", "must not be negative")
		}
		if v.Deadline >= c.Idempotency.LockTTL {
			bad(p+".deadline", "must be shorter than idempotency.lock_ttl (%s), or a lock could expire mid-request", c.Idempotency.LockTTL.D())
		}
		if c.Idempotency.AccountLocks == "on" && v.Deadline >= c.Idempotency.AccountLockTTL {
			bad(p+".deadline", "must be shorter than idempotency.account_lock_ttl (%s), or an account lock could expire mid-update", c.Idempotency.AccountLockTTL.D())
		}
		if n := v.Connections.MaxIdle; n < 1 || n > 10000 {
			bad(p+".connections.max_idle", "must be between 1 and 10000")
		}
		if n := v.Connections.MaxPerHost; n < 0 || n > 10000 {
			bad(p+".connections.max_per_host", "must be between 0 (no cap) and 10000")
		}
		if v.Connections.IdleTimeout < Duration(time.Second) {
			bad(p+".connections.idle_timeout", "must be at least 1s")
		}
		if *v.Retry.Max < 0 || *v.Retry.Max > 10 {
			bad(p+".retry.max", "must be between 0 and 10")
		}
		if v.Retry.MinWait > v.Retry.MaxWait {
			bad(p+".retry.min_wait", "must not exceed max_wait")
		}
		switch v.Resolve {
		case "off", "email", "username":
		default:
			bad(p+".resolve", "must be off, email or username")
		}
		if v.PassThroughHeader != "" && !headerNameRe.MatchString(v.PassThroughHeader) {
			bad(p+".pass_through_header", "must be an HTTP header name")
		}
	}
	return errs
}

var linkSchemaRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

var headerNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// RequireHTTPS checks the rule of `gateway serve`: every vendor base URL is
// https unless the vendor is marked insecure.
func (c *Config) RequireHTTPS() error {
	var errs []error
	for _, name := range sortedKeys(c.Vendors) {
		v := c.Vendors[name]
		if u, err := url.Parse(v.BaseURL); err == nil && u.Scheme != "https" && !v.Insecure {
			errs = append(errs, fmt.Errorf("vendors.%s.base_url: must be https (or set vendors.%s.insecure: true for a local simulator)", name, name))
		}
	}
	return joinErrs(errs)
}

// NotificationsFor returns the canonical -> vendor notification names for
// one target, or nil when the file names none for it (adapter default).
func (c *Config) NotificationsFor(target string) map[string]string {
	var out map[string]string
	for canon, per := range c.Notifications {
		if v, ok := per[target]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[canon] = v
		}
	}
	return out
}

// knownExtension reports whether f is extensions.<vendor>.<name> for a
// configured vendor: the spelling a client's fields list uses for an
// extension field.
func (c *Config) knownExtension(f string) bool {
	rest, ok := strings.CutPrefix(f, "extensions.")
	if !ok {
		return false
	}
	vendor, name, ok := strings.Cut(rest, ".")
	_, known := c.Vendors[vendor]
	return ok && known && name != ""
}

func knownField(f string) bool {
	for _, k := range canonical.AllFields() {
		if string(k) == f {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
