package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	identitygateway "github.com/identity-gateway/identity-gateway"
	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/builtin"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/accountlock"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
	"github.com/identity-gateway/identity-gateway/internal/httpapi"
	"github.com/identity-gateway/identity-gateway/internal/httpapi/scim"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/idempotency/redisstore"
	"github.com/identity-gateway/identity-gateway/internal/links"
	"github.com/identity-gateway/identity-gateway/internal/telemetry"
	"github.com/identity-gateway/identity-gateway/internal/upstream"
)

// gateway is everything built from one config.
type gateway struct {
	api        *httpapi.Server
	dispatcher *dispatch.Dispatcher
	logger     *slog.Logger
	tel        *telemetry.Telemetry
	audit      *audit.Trail
	close      []func(context.Context) error
}

// Shutdown releases what build opened, flushing telemetry last.
func (g *gateway) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(g.close) - 1; i >= 0; i-- {
		errs = append(errs, g.close[i](ctx))
	}
	return errors.Join(errs...)
}

type buildOptions struct {
	// LogOutput receives the JSON logs.
	LogOutput io.Writer
	// AuthNone overrides the config's auth mode (gateway dev).
	AuthNone bool
	// NoStore skips the idempotency store (translate).
	NoStore bool
	// SpanProcessors are added to the tracer provider (tests record spans).
	SpanProcessors []telemetry.SpanProcessor
	// FewCallers: the store has a few concurrent callers (gateway migrate),
	// so an auto-pipelined Redis runs full duplex (redisstore.Batched).
	FewCallers bool
}

// build is the one place that turns a config into a running gateway,
// reading top to bottom like the data path: telemetry, store, adapters with
// their resilience stacks, dispatcher, HTTP API.
func build(ctx context.Context, cfg *config.Config, o buildOptions) (*gateway, error) {
	g := &gateway{}
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.Telemetry.LogLevel]
	g.logger = telemetry.NewLogger(o.LogOutput, level)

	tc := telemetry.Config{Exporter: cfg.Telemetry.Exporter, Protocol: cfg.Telemetry.Protocol, Endpoint: cfg.Telemetry.Endpoint,
		Insecure: cfg.Telemetry.Insecure, ServiceName: cfg.Telemetry.ServiceName, SampleRatio: 1, SpanProcessors: o.SpanProcessors}
	if cfg.Telemetry.SampleRatio != nil {
		tc.SampleRatio = *cfg.Telemetry.SampleRatio
	}
	tel, err := telemetry.Setup(ctx, tc)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	g.tel = tel
	g.close = append(g.close, tel.Shutdown)
	metrics, err := telemetry.NewMetrics(tel.MeterProvider)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("telemetry: %w", err), g.Shutdown(ctx))
	}

	var (
		guard       *idempotency.Guard
		ready       func(context.Context) error
		limiter     httpapi.RateLimiter
		storeStatus func(context.Context) (any, bool)
		locks       dispatch.Locker
	)
	if !o.NoStore {
		store, lim, lk, closeStore, err := openStore(ctx, cfg, o.FewCallers)
		if err != nil {
			return nil, errors.Join(err, g.Shutdown(ctx))
		}
		g.close = append(g.close, closeStore)
		if ms, ok := store.(*idempotency.MemoryStore); ok {
			if err := telemetry.ObserveEvictions(tel.MeterProvider, ms.Evicted); err != nil {
				return nil, errors.Join(fmt.Errorf("telemetry: %w", err), g.Shutdown(ctx))
			}
		}
		limiter = lim
		if cfg.Idempotency.AccountLocks == "on" {
			locks = lk
		}
		guard = idempotency.NewGuard(store, idempotency.Options{LockTTL: cfg.Idempotency.LockTTL.D(),
			Retention: cfg.Idempotency.Retention.D(), FailOpen: cfg.Idempotency.OnStoreError == "proceed"})
		ready = func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := store.Ping(ctx); err != nil {
				return fmt.Errorf("idempotency store (%s) unreachable", cfg.Idempotency.Store)
			}
			return nil
		}
		if rs, ok := store.(*redisstore.Store); ok {
			if err := g.watchRedis(ctx, cfg, rs, &ready, &storeStatus); err != nil {
				return nil, errors.Join(err, g.Shutdown(ctx))
			}
		}
	}

	budget, _ := limiter.(upstream.Budget) // the Redis store's limiter; nil in process
	targets, err := openTargets(cfg, g.logger, tel, budget)
	if err != nil {
		return nil, errors.Join(err, g.Shutdown(ctx))
	}
	linkStore, err := openLinks(ctx, cfg, o.NoStore, g.logger)
	if err != nil {
		return nil, errors.Join(err, g.Shutdown(ctx))
	}
	g.close = append(g.close, func(context.Context) error { linkStore.Close(); return nil })
	if cfg.Links.Store == "postgres" && !o.NoStore {
		storeReady := ready
		ready = func(ctx context.Context) error {
			if storeReady != nil {
				if err := storeReady(ctx); err != nil {
					return err
				}
			}
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := linkStore.Ping(ctx); err != nil {
				return errors.New("link store (postgres) unreachable")
			}
			return nil
		}
	}
	linkMetrics, err := telemetry.NewLinkMetrics(tel.MeterProvider)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("telemetry: %w", err), g.Shutdown(ctx))
	}
	d, err := dispatch.New(targets, dispatch.Options{
		Links: linkStore, LinkObserver: linkMetrics,
		Users: cfg.Users, DefaultTargets: cfg.Routes.DefaultTargets, Guard: guard, RequireKey: cfg.Idempotency.Required,
		Tracer: tel.TracerProvider.Tracer("github.com/identity-gateway/identity-gateway/internal/dispatch"),
		Logger: g.logger, Observer: metrics, Locks: locks, LockWait: cfg.Idempotency.AccountLockWait.D(),
	})
	if err != nil {
		return nil, errors.Join(err, g.Shutdown(ctx))
	}
	g.dispatcher = d

	clients, err := apiClients(cfg)
	if err != nil {
		return nil, errors.Join(err, g.Shutdown(ctx))
	}
	spec, err := openAPIJSON(identitygateway.OpenAPI)
	if err != nil {
		return nil, errors.Join(err, g.Shutdown(ctx))
	}
	docs, err := docsPage(identitygateway.DocsPage, spec)
	if err != nil {
		return nil, errors.Join(err, g.Shutdown(ctx))
	}
	verifier, err := openOIDC(cfg)
	if err != nil {
		return nil, errors.Join(err, g.Shutdown(ctx))
	}
	var trail httpapi.AuditTrail
	if !o.NoStore {
		t, closeAudit, err := openAudit(ctx, cfg, g.logger, tel, o.LogOutput)
		if err != nil {
			return nil, errors.Join(err, g.Shutdown(ctx))
		}
		g.close = append(g.close, closeAudit)
		g.audit, trail = t, t
	}
	var scimRoutes httpapi.SCIMRoutes
	if cfg.SCIM.Enabled == nil || *cfg.SCIM.Enabled {
		var rec audit.Recorder
		if trail != nil {
			rec = trail
		}
		var lister scim.Lister
		if cfg.SCIM.AdoptVendorAccounts {
			lister = scimLister{d}
		}
		sh, err := scim.New(scim.Options{Dispatcher: d, Logger: g.logger, BodyLimit: cfg.Server.BodyLimit,
			Audit: rec, AuditValues: audit.ValuePolicy(cfg.Audit.Values),
			Config: scim.Config{Targets: cfg.SCIM.Targets, Authoritative: cfg.SCIM.Authoritative, Attributes: cfg.SCIM.Attributes,
				MaxResults: cfg.SCIM.MaxResults, MaxBulkOperations: cfg.SCIM.MaxBulkOperations, HardDelete: cfg.SCIM.HardDelete},
			Concurrency: cfg.Server.BatchConcurrency,
			Caller:      httpapi.SCIMCaller, Lister: lister})
		if err != nil {
			return nil, errors.Join(err, g.Shutdown(ctx))
		}
		scimRoutes = sh
	}
	g.api = httpapi.NewServer(httpapi.Options{
		Dispatcher: d, AuthNone: o.AuthNone || cfg.Auth.Mode == "none", Clients: clients,
		BodyLimit: cfg.Server.BodyLimit, ReadTimeout: cfg.Server.ReadTimeout.D(), WriteTimeout: cfg.Server.WriteTimeout.D(),
		IdleTimeout: cfg.Server.IdleTimeout.D(), MaxHeaderBytes: cfg.Server.MaxHeaderBytes,
		Ready: ready, StoreStatus: storeStatus, Metrics: tel.Metrics, TracerProvider: tel.TracerProvider, Propagator: tel.Propagator,
		Logger: g.logger, Observer: metrics, RateLimiter: limiter, Vendors: vendorStatus(targets),
		OpenAPI: spec, Docs: docs, LinkObserver: linkMetrics,
		AuthModes: cfg.Auth.Modes, OIDC: verifier, Audit: trail, AuditValues: audit.ValuePolicy(cfg.Audit.Values),
		BatchMaxItems: cfg.Server.BatchMaxItems, BatchConcurrency: cfg.Server.BatchConcurrency,
		SCIM: scimRoutes,
	})
	return g, nil
}

// vendorStatus lists each target's breaker state and last call for
// /readyz?verbose=1, from the upstream clients' memory.
func vendorStatus(targets []dispatch.Target) func() any {
	return func() any {
		out := make([]upstream.Status, 0, len(targets))
		for _, t := range targets {
			if c, ok := t.Doer.(*upstream.Client); ok {
				st := c.Status()
				st.Vendor = t.Name
				out = append(out, st)
			}
		}
		return out
	}
}

// openAPIJSON converts the embedded api/openapi.yaml to the JSON that
// GET /openapi.json serves, once at start.
func openAPIJSON(src []byte) ([]byte, error) {
	b, err := config.JSONFromYAML(src)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	return b, nil
}

// docsPage inlines the OpenAPI JSON into the /docs page at its {{SPEC}}
// marker, escaped so no string in it can end the script element.
func docsPage(page, spec []byte) ([]byte, error) {
	const marker = "{{SPEC}}"
	if bytes.Count(page, []byte(marker)) != 1 {
		return nil, fmt.Errorf("api/docs.html: want exactly one %s marker", marker)
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, spec)
	return bytes.Replace(page, []byte(marker), esc.Bytes(), 1), nil
}

// openStore opens the idempotency store (and, for Redis, the shared rate
// limiter), and the account locks on the same store: in process
// with the memory store, on the same Redis client (auto-pipelined like the
// store when pipelining is auto) and key prefix otherwise.
func openStore(ctx context.Context, cfg *config.Config, fewCallers bool) (idempotency.Store, httpapi.RateLimiter, dispatch.Locker, func(context.Context) error, error) {
	lockTTL := cfg.Idempotency.AccountLockTTL.D()
	if cfg.Idempotency.Store != "redis" {
		return idempotency.NewMemoryStore(idempotency.WithMaxBytes(cfg.Idempotency.MemoryMaxBytes)), nil,
			accountlock.NewMemory(lockTTL), func(context.Context) error { return nil }, nil
	}
	dials := new(redisstore.DialWatch)
	client, err := redisstore.Open(ctx, redisstore.RedisOptions{URL: cfg.Redis.URL, Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName,
		Username: cfg.Redis.Username, Password: cfg.Redis.Password.Reveal(), DB: cfg.Redis.DB, Dials: dials})
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("redis: %w", err)
	}
	storeClient := client
	if cfg.Redis.Pipelining == "auto" {
		if storeClient, err = redisstore.Batched(client, fewCallers); err != nil {
			return nil, nil, nil, nil, err
		}
		if !fewCallers {
			// A server's load comes and goes: while few commands are in
			// flight each goes straight to Redis, and the rest are batched.
			storeClient = redisstore.Hybrid(client, storeClient)
		}
	}
	store := redisstore.NewWithOptions(storeClient, cfg.Redis.KeyPrefix, redisstore.Options{
		ResetHold: cfg.Redis.ResetHold.D(), RequireDurable: !cfg.Redis.AllowVolatile, Admin: client, Dials: dials})
	return store, redisstore.NewRateLimiter(client, cfg.Redis.KeyPrefix+"rl:"),
		accountlock.NewRedis(storeClient, cfg.Redis.KeyPrefix, lockTTL), func(context.Context) error { return client.Close() }, nil
}

// redisCheckEvery is how often a replica re-checks its Redis's durability
// and marker in the background (also on every /readyz, and on a Cluster
// after every new connection).
const redisCheckEvery = 10 * time.Second

// watchRedis checks what the Redis store can promise before serving:
// without an append-only file `serve` refuses to start unless
// redis.allow_volatile is set. Redis down at start is not fatal (keyed
// requests get their 503 and the check runs again on first use). It then
// re-checks in the background, exports the store's state as metrics and
// reports it in /readyz.
func (g *gateway) watchRedis(ctx context.Context, cfg *config.Config, rs *redisstore.Store, ready *func(context.Context) error, status *func(context.Context) (any, bool)) error {
	st, err := rs.Check(ctx)
	switch {
	case err != nil:
		g.logger.Warn("redis unreachable at start; its durability is checked once it answers", "err", err)
	case !st.Durable && !cfg.Redis.AllowVolatile:
		return fmt.Errorf("redis: persistence is %q, not an append-only file, so a Redis restart would lose every idempotency record "+
			"and retries of applied keys would write again; run Redis with appendonly yes, or set redis.allow_volatile: true to accept that", st.Persistence)
	case !st.Durable:
		g.logger.Warn("redis is volatile (redis.allow_volatile): a restart loses every idempotency record; the store marker detects it", "persistence", st.Persistence)
	}
	holding := func(st redisstore.Status) bool { return !st.HoldUntil.IsZero() }
	if err := telemetry.ObserveStore(g.tel.MeterProvider, func() telemetry.StoreState {
		st := rs.Status()
		return telemetry.StoreState{Durable: st.Durable, Resets: st.Resets, Holding: holding(st)}
	}); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	*ready = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := rs.Check(ctx)
		if err != nil {
			return errors.New("idempotency store (redis) unreachable")
		}
		if !st.Durable && !cfg.Redis.AllowVolatile {
			return fmt.Errorf("idempotency store (redis) is not durable (persistence %s): keyed requests are refused; enable appendonly or set redis.allow_volatile", st.Persistence)
		}
		return nil
	}
	*status = func(context.Context) (any, bool) {
		st := rs.Status()
		return st, holding(st)
	}
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(redisCheckEvery)
		defer t.Stop()
		seen := rs.Status().Resets
		for {
			select {
			case <-mctx.Done():
				return
			case <-t.C:
			}
			cctx, cancel := context.WithTimeout(mctx, 2*time.Second)
			st, err := rs.Check(cctx)
			cancel()
			if err == nil && st.Resets > seen {
				g.logger.Error("redis lost the idempotency records (restart without persistence, or a flush): keyed requests are refused until the hold ends",
					"resets", st.Resets, "hold_until", st.HoldUntil)
			}
			seen = max(seen, st.Resets)
		}
	}()
	g.close = append(g.close, func(context.Context) error { stop(); <-done; return nil })
	return nil
}

// openLinks opens the identity-link store and seeds it from the config's
// users map: memory (gateway dev, translate) or PostgreSQL.
func openLinks(ctx context.Context, cfg *config.Config, memoryOnly bool, logger *slog.Logger) (links.Store, error) {
	var s links.Store
	if cfg.Links.Store == "postgres" && !memoryOnly {
		pg, err := links.OpenPG(ctx, links.PGOptions{URL: cfg.Links.DatabaseURL, Schema: cfg.Links.Schema, CacheSize: cfg.Links.CacheSize,
			Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("links: %w", err)
		}
		s = pg
	} else {
		s = links.NewMemoryStore(nil)
	}
	if err := links.Seed(ctx, s, cfg.Users); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openTargets decodes each vendor's settings into its adapter Config, opens
// the adapter (no I/O) and puts the resilience stack under it.
//
// budget, when set, is the shared (Redis) budget of the vendor rate limits;
// nil keeps them in process.
func openTargets(cfg *config.Config, logger *slog.Logger, tel *telemetry.Telemetry, budget upstream.Budget) ([]dispatch.Target, error) {
	factories := builtin.Configs()
	var (
		targets []dispatch.Target
		errs    []error
	)
	// One breaker-state gauge and one call counter observing every vendor
	// (an observable instrument registered per vendor kept only the first
	// vendor's series).
	shared, err := upstream.NewShared(tel.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	names := make([]string, 0, len(cfg.Vendors))
	for n := range cfg.Vendors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		v := cfg.Vendors[name]
		p := "vendors." + name
		factory, ok := factories[v.Type]
		if !ok {
			errs = append(errs, fmt.Errorf("%s.type: unknown vendor type %q (known: %s)", p, v.Type, strings.Join(builtin.Types(), ", ")))
			continue
		}
		ac := factory()
		if err := config.DecodeStrict(&v.Settings, ac, p+".settings"); err != nil {
			errs = append(errs, err)
			continue
		}
		a, err := ac.Open(name, adapters.Deps{
			Logger:        logger.With("vendor", name),
			Notifications: cfg.NotificationsFor(name),
			Credential:    adapters.Credential{Username: v.Credential.Username, Password: v.Credential.Password, Token: v.Credential.Token},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		base, _ := url.Parse(v.BaseURL) // validated by config
		uo := upstream.Options{
			Vendor: name, BaseURL: base, AttemptTimeout: v.AttemptTimeout.D(),
			Retry: upstream.RetryPolicy{Max: *v.Retry.Max, MinWait: v.Retry.MinWait.D(), MaxWait: v.Retry.MaxWait.D(),
				MaxRetryAfter: v.Retry.MaxRetryAfter.D(), On500: v.Retry.On500},
			Breaker: upstream.BreakerPolicy{ConsecutiveFailures: v.Breaker.ConsecutiveFailures, OpenFor: v.Breaker.OpenFor.D(),
				HalfOpenMax: v.Breaker.HalfOpenMax, Interval: v.Breaker.Interval.D()},
			Pool:   upstream.Pool{MaxIdle: v.Connections.MaxIdle, MaxPerHost: v.Connections.MaxPerHost, IdleTimeout: v.Connections.IdleTimeout.D()},
			Logger: logger.With("vendor", name), TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
			Shared: shared,
		}
		if c, ok := a.(adapters.Classifier); ok {
			uo.Classify = c.Classify
		}
		if v.RateLimit.RequestsPerSecond > 0 || v.MaxConcurrency > 0 {
			uo.Limit = upstream.NewLimiter(name, upstream.LimitPolicy{PerSecond: v.RateLimit.RequestsPerSecond, Burst: v.RateLimit.Burst,
				InteractiveShare: *v.RateLimit.InteractiveShare, MaxConcurrency: v.MaxConcurrency}, budget, logger.With("vendor", name))
		}
		client, err := upstream.New(uo)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		if err := checkResolve(name, v.Resolve, a); err != nil {
			errs = append(errs, fmt.Errorf("%s.resolve: %w", p, err))
			continue
		}
		targets = append(targets, dispatch.Target{Name: name, Adapter: a, Doer: client, Deadline: v.Deadline.D(),
			PassThroughHeader: v.PassThroughHeader, State: client.State, Resolve: v.Resolve})
	}
	return targets, errors.Join(errs...)
}

// checkResolve refuses a resolve setting the vendor's adapter cannot serve,
// with the adapter's own reason.
func checkResolve(name, by string, a adapters.Adapter) error {
	if by == "" || by == dispatch.ResolveOff {
		return nil
	}
	var sup adapters.ResolveSupport
	if d, ok := a.(adapters.ResolveDescriber); ok {
		sup = d.ResolveSupport()
	}
	if _, ok := a.(adapters.Resolver); !ok || !slices.Contains(sup.By, by) {
		reason := sup.Reason
		if reason == "" {
			reason = "the adapter offers no lookup"
		}
		return fmt.Errorf("%s cannot resolve accounts by %s: %s", name, by, reason)
	}
	return nil
}

func apiClients(cfg *config.Config) ([]httpapi.Client, error) {
	out := make([]httpapi.Client, 0, len(cfg.Clients))
	for i, c := range cfg.Clients {
		raw, err := hex.DecodeString(c.KeySHA256)
		if err != nil || (len(raw) != sha256.Size && c.KeySHA256 != "") {
			return nil, fmt.Errorf("clients[%d].key_sha256: must be a hex SHA-256", i)
		}
		hc := httpapi.Client{Name: c.Name, Targets: slices.Clone(c.Targets), RateLimit: c.RateLimit.Requests, RateWindow: c.RateLimit.Window.D()}
		if c.Targets == nil {
			hc.Targets = []string{}
		}
		if len(c.Fields) > 0 {
			hc.Fields = slices.Clone(c.Fields)
		}
		copy(hc.KeyHash[:], raw)
		if err := extendClient(&hc, c, i); err != nil {
			return nil, err
		}
		out = append(out, hc)
	}
	return out, nil
}

// scimLister lets SCIM listing adopt the accounts a target lists that no
// canonical id owns yet, through the target's adapters.Lister; a target
// whose vendor cannot list users adopts nothing.
type scimLister struct{ d *dispatch.Dispatcher }

func (l scimLister) ListUsers(ctx context.Context, target string, each func(scim.ListedUser) error) error {
	if !l.d.CanList(target) {
		return nil
	}
	return l.d.List(ctx, target, func(u adapters.Listed) error {
		return each(scim.ListedUser{VendorID: u.VendorID, Username: u.Username, Email: u.Email})
	})
}
