package httpapi

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/identity-gateway/identity-gateway/internal/idempotency/redisstore"
)

const rlKey = "rl-key"

func limitedClient(n int) []Client {
	return []Client{{Name: "c", KeyHash: sha256.Sum256([]byte(rlKey)), RateLimit: n, RateWindow: time.Hour}}
}

func validPatch() *http.Request {
	return patch(`{"user":{"display_name":"x"}}`, "Authorization", "Bearer "+rlKey)
}

// TestRateLimitAcrossReplicas: two gateway replicas on one Redis, hit
// concurrently, allow the client's budget together, not more (the
// get-then-set limiter they replaced let about twice through).
func TestRateLimitAcrossReplicas(t *testing.T) {
	m := miniredis.RunT(t)
	var dos []func(*http.Request) *http.Response
	obs := &fallbackCounter{}
	for i := 0; i < 2; i++ {
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { c.Close() })
		// A generous deadline: this test is about the budget's atomicity;
		// under -race miniredis can take longer than the default 50ms.
		_, do := newApp(t, Options{Clients: limitedClient(10), RateLimiter: redisstore.NewRateLimiter(c, "rl-test:"),
			RateLimitTimeout: 10 * time.Second, Observer: obs})
		dos = append(dos, do)
	}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if dos[i%2](validPatch()).StatusCode != http.StatusTooManyRequests {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != 10 || obs.n.Load() != 0 {
		t.Fatalf("%d requests allowed by two replicas, budget 10 (%d limited per replica)", got, obs.n.Load())
	}
}

// TestRateLimitRefundsRejected: requests refused as malformed (400, 415,
// 422) do not spend the client's budget; the valid ones still do.
func TestRateLimitRefundsRejected(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	for name, shared := range map[string]RateLimiter{"shared": redisstore.NewRateLimiter(c, "rl-test:"), "per replica": nil} {
		t.Run(name, func(t *testing.T) {
			_, do := newApp(t, Options{Clients: limitedClient(2), RateLimiter: shared})
			auth := []string{"Authorization", "Bearer " + rlKey}
			bad := []*http.Request{
				patch(`{"user":`, auth...),                                                              // 400
				patch(`{"user":{"display_name":null}}`, auth...),                                        // 400
				patch(`{"user":{"email":"a@b.example"}}`, auth...),                                      // 422: the target ignores e-mail
				patchAt("/v1/users/jdoe", `{"user":{}}`, append(auth, "Content-Type", "text/plain")...), // 415
			}
			want := []int{400, 400, 422, 415}
			for i, r := range bad {
				if got := do(r).StatusCode; got != want[i] {
					t.Fatalf("malformed request %d: %d, want %d", i, got, want[i])
				}
			}
			for i := 0; i < 2; i++ {
				if got := do(validPatch()).StatusCode; got != http.StatusOK {
					t.Fatalf("valid request %d after malformed ones: %d (the malformed ones spent the budget)", i, got)
				}
			}
			if got := do(validPatch()).StatusCode; got != http.StatusTooManyRequests {
				t.Fatalf("third valid request: %d, want 429", got)
			}
		})
	}
}

// blackHole is a shared limiter whose Redis never answers.
type blackHole struct{ calls atomic.Int32 }

func (b *blackHole) Allow(ctx context.Context, _ string, _ int, _ time.Duration) (bool, time.Duration, error) {
	b.calls.Add(1)
	<-ctx.Done()
	return false, 0, ctx.Err()
}

func (b *blackHole) Refund(ctx context.Context, _ string, _ int, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

type fallbackCounter struct{ n atomic.Int32 }

func (f *fallbackCounter) Request(context.Context, string, string, int, time.Duration) {}
func (f *fallbackCounter) RateLimitFallback(context.Context)                           { f.n.Add(1) }

// TestRateLimitRedisDown: with the shared limiter unreachable (a Redis that
// never answers, or one that refuses connections), requests are limited per
// replica at once: one waits out the 50ms deadline, the next ones skip the
// shared limiter for a while; every fallback is counted.
func TestRateLimitRedisDown(t *testing.T) {
	m := miniredis.RunT(t)
	addr := m.Addr()
	m.Close() // connections are now refused
	refused := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { refused.Close() })
	for name, shared := range map[string]RateLimiter{"black hole": &blackHole{}, "refused": redisstore.NewRateLimiter(refused, "rl-test:")} {
		t.Run(name, func(t *testing.T) {
			obs := &fallbackCounter{}
			_, do := newApp(t, Options{Clients: limitedClient(3), RateLimiter: shared, Observer: obs})
			start := time.Now()
			var codes []int
			for i := 0; i < 4; i++ {
				codes = append(codes, do(validPatch()).StatusCode)
			}
			took := time.Since(start)
			if codes[0] != 200 || codes[1] != 200 || codes[2] != 200 || codes[3] != http.StatusTooManyRequests {
				t.Fatalf("statuses %v, want the per-replica budget of 3 to hold", codes)
			}
			if obs.n.Load() != 4 {
				t.Fatalf("%d fallbacks counted, want 4", obs.n.Load())
			}
			if took > time.Second {
				t.Fatalf("4 requests took %s with the shared limiter down", took)
			}
			if b, ok := shared.(*blackHole); ok && b.calls.Load() != 1 {
				t.Fatalf("the unreachable limiter was asked %d times, want once (then skipped for a while)", b.calls.Load())
			}
		})
	}
}
