package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/idempotency/storetest"
)

// client returns the real Redis at REDIS_URL when set (CI), else an
// in-process miniredis: never a silent skip.
func client(t testing.TB) redis.UniversalClient {
	c, _ := clientClock(t)
	return c
}

func clientClock(t testing.TB) (redis.UniversalClient, func(time.Duration)) {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		c, err := Open(context.Background(), RedisOptions{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("REDIS_URL=%s unreachable: %v", u, err)
		}
		t.Cleanup(func() { c.Close() })
		return c, nil
	}
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return c, m.FastForward
}

func prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "idgw-test:" + hex.EncodeToString(b) + ":"
}

// cleanPrefix is a fresh prefix whose keys are purged when the test ends, so
// runs against a long-lived Redis leave nothing behind.
func cleanPrefix(t testing.TB, c redis.UniversalClient) string {
	p := prefix()
	t.Cleanup(func() {
		if _, err := Purge(context.Background(), c, p); err != nil {
			t.Errorf("purge %s: %v", p, err)
		}
	})
	return p
}

func TestRedisStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (idempotency.Store, func(time.Duration)) {
		c, adv := clientClock(t)
		return New(c, cleanPrefix(t, c)), adv
	})
}

// TestRedisStoreWatched: the contract holds with the durability watch on
// (the claim script also checks the store's marker).
func TestRedisStoreWatched(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (idempotency.Store, func(time.Duration)) {
		c, adv := clientClock(t)
		b, err := Batched(c, false)
		if err != nil {
			t.Fatal(err)
		}
		return NewWithOptions(b, cleanPrefix(t, c), Options{ResetHold: time.Hour, Admin: c}), adv
	})
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	p := prefix()
	sibling := p[:len(p)-1] + "x:" // shares all but the last character
	for i := 0; i < 2500; i++ {
		if err := c.Set(ctx, fmt.Sprintf("%s{k%d}:rec", p, i), "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set(ctx, sibling+"keep", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Del(ctx, sibling+"keep") })
	n, err := Purge(ctx, c, p)
	if err != nil || n != 2500 {
		t.Fatalf("purged %d: %v", n, err)
	}
	if left, _ := c.Keys(ctx, globEscape(p)+"*").Result(); len(left) != 0 {
		t.Fatalf("%d keys left", len(left))
	}
	if v, err := c.Get(ctx, sibling+"keep").Result(); err != nil || v != "v" {
		t.Fatalf("a key outside the prefix went: %q %v", v, err)
	}
	if _, err := Purge(ctx, c, ""); err == nil {
		t.Fatal("an empty prefix was accepted")
	}
	if got := globEscape(`a*b?[c]\`); got != `a\*b\?\[c\]\\` {
		t.Fatalf("globEscape: %s", got)
	}
}

// The gateway runs the store on the auto-pipeliner by default: the same
// contract must hold when commands from concurrent claims share batches.
func TestRedisStoreBatched(t *testing.T) {
	for _, fd := range []bool{false, true} {
		t.Run(map[bool]string{false: "half-duplex", true: "full-duplex"}[fd], func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) (idempotency.Store, func(time.Duration)) {
				c, adv := clientClock(t)
				b, err := Batched(c, fd)
				if err != nil {
					t.Fatal(err)
				}
				return New(b, cleanPrefix(t, c)), adv
			})
		})
	}
}

// TestRateLimiterAcrossReplicas: two limiters (two replicas, each with its
// own client) drawing concurrently on one budget in one Redis never allow
// more than the budget together, and a refund gives one request back.
func TestRateLimiterAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	p := cleanPrefix(t, c)
	t.Cleanup(func() { c.Del(ctx, "rate:"+p+"client") })
	var second redis.UniversalClient = c
	if u := os.Getenv("REDIS_URL"); u != "" {
		second = client(t)
	}
	replicas := []*RateLimiter{NewRateLimiter(c, p), NewRateLimiter(second, p)}
	const limit = 25
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := replicas[i%2].Allow(ctx, "client", limit, time.Hour)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != limit {
		t.Fatalf("%d requests allowed by two replicas, budget %d", got, limit)
	}
	ok, retry, err := replicas[0].Allow(ctx, "client", limit, time.Hour)
	if err != nil || ok || retry <= 0 || retry > time.Hour/limit+time.Second {
		t.Fatalf("spent budget: allowed %v, retry after %s, %v", ok, retry, err)
	}
	for i := 0; i < 2; i++ {
		if err := replicas[1].Refund(ctx, "client", limit, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		ok, _, err := replicas[0].Allow(ctx, "client", limit, time.Hour)
		if err != nil || ok != (i < 2) {
			t.Fatalf("after two refunds, request %d: allowed %v %v", i, ok, err)
		}
	}
	// A refund of an untouched budget gives nothing beyond the budget.
	if err := replicas[0].Refund(ctx, "fresh", limit, time.Hour); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Del(ctx, "rate:"+p+"fresh") })
	n := 0
	for ; n < limit+5; n++ {
		if ok, _, _ := replicas[0].Allow(ctx, "fresh", limit, time.Hour); !ok {
			break
		}
	}
	if n != limit {
		t.Fatalf("a fresh budget allowed %d, want %d", n, limit)
	}
}

// TestRateLimiterFirstRefund: a refund right after the first request of a
// full budget gives it back (redis_rate's AllowN(-1) would not).
func TestRateLimiterFirstRefund(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	p := cleanPrefix(t, c)
	t.Cleanup(func() { c.Del(ctx, "rate:"+p+"k") })
	l := NewRateLimiter(c, p)
	for i := 0; i < 5; i++ {
		if ok, _, err := l.Allow(ctx, "k", 3, time.Hour); !ok || err != nil {
			t.Fatalf("request %d refused: %v", i, err)
		}
		if err := l.Refund(ctx, "k", 3, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkRedisBeginFinish(b *testing.B) {
	c := client(b)
	g := idempotency.NewGuard(New(c, cleanPrefix(b, c)), idempotency.Options{})
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		tk, err := g.Begin(ctx, "c", "k"+hex.EncodeToString([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), "fp")
		if err != nil {
			b.Fatal(err)
		}
		_ = tk.Finish(ctx, 200, []byte(`{}`), 0, nil)
	}
}

// TestRedisStoreCluster runs the contract on Redis Cluster, plain and
// auto-pipelined: the claim and finish scripts touch a lock and a record,
// which must share a slot. It needs REDIS_CLUSTER_ADDRS (host:port,...);
// .ci/run starts a three-master cluster for it. miniredis has no cluster
// mode, so without the variable the test says so and skips.
func TestRedisStoreCluster(t *testing.T) {
	env := os.Getenv("REDIS_CLUSTER_ADDRS")
	if env == "" {
		t.Skip("REDIS_CLUSTER_ADDRS is not set (CI sets it)")
	}
	open := func(t *testing.T) redis.UniversalClient {
		c, err := Open(context.Background(), RedisOptions{Addrs: strings.Split(env, ",")})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*redis.ClusterClient); !ok {
			t.Fatalf("%T is not a cluster client", c)
		}
		if err := c.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("REDIS_CLUSTER_ADDRS=%s unreachable: %v", env, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	t.Run("plain", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) (idempotency.Store, func(time.Duration)) {
			c := open(t)
			return New(c, cleanPrefix(t, c)), nil
		})
	})
	for _, fd := range []bool{false, true} {
		t.Run(map[bool]string{false: "batched", true: "full-duplex"}[fd], func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) (idempotency.Store, func(time.Duration)) {
				c := open(t)
				b, err := Batched(c, fd)
				if err != nil {
					t.Fatal(err)
				}
				return New(b, cleanPrefix(t, c)), nil
			})
		})
	}
	t.Run("watched", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) (idempotency.Store, func(time.Duration)) {
			c := open(t)
			return NewWithOptions(c, cleanPrefix(t, c), Options{ResetHold: time.Hour}), nil
		})
	})
	t.Run("reset", func(t *testing.T) {
		c := open(t)
		testReset(t, c, nil)
	})
}

// TestOpenFailsFast: with Redis down a keyed request must get its 503 at
// once, so Open trims go-redis's retries and redials unless the URL sets
// them.
func TestOpenFailsFast(t *testing.T) {
	for _, tc := range []struct {
		url                  string
		retries, dialerRetry int
		dial                 time.Duration
	}{
		{"redis://127.0.0.1:6379/0", 1, 1, time.Second},
		{"redis://127.0.0.1:6379/0?max_retries=5&dial_timeout=3s", 5, 1, 3 * time.Second},
	} {
		c, err := Open(context.Background(), RedisOptions{URL: tc.url})
		if err != nil {
			t.Fatal(err)
		}
		o := c.(*redis.Client).Options()
		if o.MaxRetries != tc.retries || o.DialerRetries != tc.dialerRetry || o.DialTimeout != tc.dial || o.MaxRetryBackoff != 64*time.Millisecond {
			t.Errorf("%s: retries %d, redials %d, dial %s, backoff %s", tc.url, o.MaxRetries, o.DialerRetries, o.DialTimeout, o.MaxRetryBackoff)
		}
		c.Close()
	}
}
