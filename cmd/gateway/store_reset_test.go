package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/identity-gateway/identity-gateway/config"
)

// redisConfig is the dev config on an in-process miniredis (volatile: no
// persistence at all).
func redisConfig(t *testing.T, allowVolatile bool) (*miniredis.Miniredis, *config.Config) {
	t.Helper()
	_, cfg := devSims(t)
	m := miniredis.RunT(t)
	cfg.Idempotency.Store = "redis"
	cfg.Redis.URL = "redis://" + m.Addr()
	cfg.Redis.AllowVolatile = allowVolatile
	hold := config.Duration(time.Hour)
	cfg.Redis.ResetHold = &hold
	return m, cfg
}

// TestServeRefusesVolatileRedis: a Redis without an append-only file would
// lose every record on a restart; serve refuses it unless
// redis.allow_volatile says the loss is accepted.
func TestServeRefusesVolatileRedis(t *testing.T) {
	_, cfg := redisConfig(t, false)
	g, err := build(context.Background(), cfg, buildOptions{AuthNone: true, LogOutput: io.Discard})
	if err == nil {
		_ = g.Shutdown(context.Background())
		t.Fatal("serve started on a volatile Redis")
	}
	if !strings.Contains(err.Error(), "allow_volatile") || !strings.Contains(err.Error(), "appendonly") {
		t.Fatalf("the refusal does not say what to do: %v", err)
	}
	cfg.Redis.AllowVolatile = true
	g, err = build(context.Background(), cfg, buildOptions{AuthNone: true, LogOutput: io.Discard})
	if err != nil {
		t.Fatalf("allow_volatile: %v", err)
	}
	_ = g.Shutdown(context.Background())
}

// TestRedisResetRefusesKeyedRequests: Redis loses its data (FLUSHALL: the
// store marker vanishes). A repeat of a key that had applied is refused with
// 503 idempotency_unavailable instead of writing again, as is any keyed
// request during the hold; unkeyed requests still run; /readyz reports the
// reset (200, "degraded") and the metrics move.
func TestRedisResetRefusesKeyedRequests(t *testing.T) {
	m, cfg := redisConfig(t, true)
	base, _ := startGateway(t, cfg, buildOptions{AuthNone: true, LogOutput: io.Discard})
	const body = `{"targets":["commvault"],"user":{"display_name":"Reset Test"}}`
	key := func(k string) []string { return []string{"Idempotency-Key", k} }
	if st, _, b := call(t, "PATCH", base+"/v1/users/demo", body, key("applied-1")...); st != 200 {
		t.Fatalf("first run: %d %s", st, b)
	}
	if st, h, _ := call(t, "PATCH", base+"/v1/users/demo", body, key("applied-1")...); st != 200 || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay before the loss: %d %v", st, h)
	}
	st, _, b := call(t, "GET", base+"/readyz", "")
	if st != 200 || !strings.Contains(string(b), `"status":"ready"`) || !strings.Contains(string(b), `"resets":0`) {
		t.Fatalf("readyz before the loss: %d %s", st, b)
	}

	m.FlushAll()

	for _, k := range []string{"applied-1", "new-key"} {
		st, h, b := call(t, "PATCH", base+"/v1/users/demo", body, key(k)...)
		if st != 503 || !strings.Contains(string(b), `"code":"idempotency_unavailable"`) || h.Get("Retry-After") == "" {
			t.Fatalf("key %s after the loss: %d %s (want 503 idempotency_unavailable, never a second write)", k, st, b)
		}
	}
	if st, _, b := call(t, "PATCH", base+"/v1/users/demo", body); st != 200 {
		t.Fatalf("an unkeyed request during the hold: %d %s", st, b)
	}
	st, _, b = call(t, "GET", base+"/readyz", "")
	var ready struct {
		Status string `json:"status"`
		Store  struct {
			Persistence string    `json:"persistence"`
			Durable     bool      `json:"durable"`
			Resets      int       `json:"resets"`
			HoldUntil   time.Time `json:"hold_until"`
		} `json:"store"`
	}
	if err := json.Unmarshal(b, &ready); err != nil || st != 200 || ready.Status != "degraded" || ready.Store.Resets != 1 ||
		ready.Store.Durable || time.Until(ready.Store.HoldUntil) < 59*time.Minute {
		t.Fatalf("readyz after the loss: %d %s", st, b)
	}
	_, _, metrics := call(t, "GET", base+"/metrics", "")
	for _, want := range []string{"gateway_idempotency_store_resets_total 1", "gateway_idempotency_store_hold 1", "gateway_idempotency_store_durable 0"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestRedisDownRateLimitIsFast: with Redis down, a rate-limited client's
// unkeyed requests are limited per replica at once (they waited about 2.5 s
// each on the Redis-backed limiter before), and each is counted.
func TestRedisDownRateLimitIsFast(t *testing.T) {
	m, cfg := redisConfig(t, true)
	const apiKey = "rate-limit-test-key"
	sum := sha256.Sum256([]byte(apiKey))
	cfg.Auth.Mode = "api_key"
	cfg.Clients = []config.Client{{Name: "ops", KeySHA256: hex.EncodeToString(sum[:]), Targets: []string{"commvault"},
		RateLimit: config.RateLimit{Requests: 100, Window: config.Duration(time.Minute)}}}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: io.Discard})
	const body = `{"targets":["commvault"],"user":{"display_name":"Rate"}}`
	auth := []string{"Authorization", "Bearer " + apiKey}
	if st, _, b := call(t, "PATCH", base+"/v1/users/demo", body, auth...); st != 200 {
		t.Fatalf("with Redis up: %d %s", st, b)
	}
	m.Close()
	for i := 0; i < 5; i++ {
		start := time.Now()
		st, _, b := call(t, "PATCH", base+"/v1/users/demo", body, auth...)
		if took := time.Since(start); st != 200 || took > 500*time.Millisecond {
			t.Fatalf("request %d with Redis down: %d in %s %s", i, st, took, b)
		}
	}
	_, _, metrics := call(t, "GET", base+"/metrics", "")
	if !strings.Contains(string(metrics), "gateway_rate_limit_fallbacks_total 5") {
		t.Errorf("/metrics does not count the 5 fallbacks:\n%s", grepLines(string(metrics), "rate_limit"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
