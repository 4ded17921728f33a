package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.yaml.in/yaml/v3"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/builtin"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
	"github.com/identity-gateway/identity-gateway/internal/httpapi"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/idempotency/redisstore"
	"github.com/identity-gateway/identity-gateway/internal/telemetry"
	"github.com/identity-gateway/identity-gateway/internal/upstream"
)

// gateway is everything built from one config.
type gateway struct {
	app        *fiber.App
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
	SpanProcessors []sdktrace.SpanProcessor
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
		guard   *idempotency.Guard
		ready   func(context.Context) error
		limiter fiber.Storage
	)
	if !o.NoStore {
		store, lim, closeStore, err := openStore(ctx, cfg)
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
	}

	targets, err := openTargets(cfg, g.logger, tel)
	if err != nil {
		return nil, errors.Join(err, g.Shutdown(ctx))
	}
	d, err := dispatch.New(targets, dispatch.Options{
		Users: cfg.Users, DefaultTargets: cfg.Routes.DefaultTargets, Guard: guard, RequireKey: cfg.Idempotency.Required,
		Tracer: tel.TracerProvider.Tracer("github.com/identity-gateway/identity-gateway/internal/dispatch"),
		Logger: g.logger, Observer: metrics,
	})
	if err != nil {
		return nil, errors.Join(err, g.Shutdown(ctx))
	}
	g.dispatcher = d

	clients, err := apiClients(cfg)
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
	g.app = httpapi.New(httpapi.Options{
		Dispatcher: d, AuthNone: o.AuthNone || cfg.Auth.Mode == "none", Clients: clients,
		BodyLimit: cfg.Server.BodyLimit, ReadTimeout: cfg.Server.ReadTimeout.D(), WriteTimeout: cfg.Server.WriteTimeout.D(),
		IdleTimeout: cfg.Server.IdleTimeout.D(), MaxHeaderBytes: cfg.Server.MaxHeaderBytes,
		Ready: ready, Metrics: tel.Metrics, TracerProvider: tel.TracerProvider, Propagator: tel.Propagator,
		Logger: g.logger, Observer: metrics, LimiterStorage: limiter,
		AuthModes: cfg.Auth.Modes, OIDC: verifier, Audit: trail, AuditValues: audit.ValuePolicy(cfg.Audit.Values),
	})
	return g, nil
}

// openStore opens the idempotency store (and, for Redis, the shared rate
// limiter storage).
func openStore(ctx context.Context, cfg *config.Config) (idempotency.Store, fiber.Storage, func(context.Context) error, error) {
	if cfg.Idempotency.Store != "redis" {
		return idempotency.NewMemoryStoreWith(idempotency.MemoryOptions{MaxRecords: cfg.Idempotency.MemoryMaxRecords}), nil,
			func(context.Context) error { return nil }, nil
	}
	client, err := redisstore.Open(ctx, redisstore.RedisOptions{URL: cfg.Redis.URL, Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName,
		Username: cfg.Redis.Username, Password: cfg.Redis.Password.Reveal(), DB: cfg.Redis.DB})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("redis: %w", err)
	}
	storeClient := client
	if cfg.Redis.Pipelining == "auto" {
		if storeClient, err = redisstore.Batched(client); err != nil {
			return nil, nil, nil, err
		}
	}
	return redisstore.New(storeClient, cfg.Redis.KeyPrefix), redisstore.NewLimiterStorage(client, cfg.Redis.KeyPrefix+"rl:"),
		func(context.Context) error { return client.Close() }, nil
}

// openTargets decodes each vendor's settings into its adapter Config, opens
// the adapter (no I/O) and puts the resilience stack under it.
func openTargets(cfg *config.Config, logger *slog.Logger, tel *telemetry.Telemetry) ([]dispatch.Target, error) {
	factories := builtin.Configs()
	var (
		targets []dispatch.Target
		errs    []error
	)
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
		if err := decodeSettings(&v.Settings, ac); err != nil {
			errs = append(errs, fmt.Errorf("%s.settings: %w", p, err))
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
		}
		if c, ok := a.(adapters.Classifier); ok {
			uo.Classify = c.Classify
		}
		client, err := upstream.New(uo)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		targets = append(targets, dispatch.Target{Name: name, Adapter: a, Doer: client, Deadline: v.Deadline.D(),
			PassThroughHeader: v.PassThroughHeader, State: client.State})
	}
	return targets, errors.Join(errs...)
}

// decodeSettings decodes a settings block strictly (unknown keys refused).
func decodeSettings(n *yaml.Node, into adapters.Config) error {
	if n.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		return err
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
