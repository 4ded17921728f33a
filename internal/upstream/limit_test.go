package upstream

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/idempotency/redisstore"
)

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestLimiterConcurrencyKeepsInteractiveShare(t *testing.T) {
	l := NewLimiter("acme", LimitPolicy{MaxConcurrency: 4, InteractiveShare: 0.5}, nil, nil)
	bulk := WithBulk(context.Background())
	var releases []func()
	for range 2 {
		rel, err := l.Acquire(bulk)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, rel)
	}
	// Bulk has used its half: a third bulk call waits (here: until its
	// context ends), it is not refused outright.
	if _, err := l.Acquire(WithBulk(cancelled())); code(err) != canonical.CodeRateLimited {
		t.Fatalf("third bulk call: %v", err)
	}
	// Interactive calls still get the reserved slots.
	for range 2 {
		rel, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatalf("interactive call starved: %v", err)
		}
		releases = append(releases, rel)
	}
	if _, err := l.Acquire(cancelled()); err == nil {
		t.Fatal("a fifth call fit in max_concurrency 4")
	}
	for _, r := range releases {
		r()
	}
	rel, err := l.Acquire(bulk)
	if err != nil {
		t.Fatalf("released slots not reusable: %v", err)
	}
	rel()
}

// TestLimiterRateSharedAcrossReplicas: two replicas' limiters on one Redis
// share one budget (GCRA in one script), and bulk calls stop at their
// share while interactive calls still fit. Redis time is frozen, so
// nothing refills during the test.
func TestLimiterRateSharedAcrossReplicas(t *testing.T) {
	m := miniredis.RunT(t)
	m.SetTime(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	budget := redisstore.NewRateLimiter(rc, "test-bulk:")
	// With time frozen, redis_rate's float arithmetic may lose the last call
	// of a burst: counts are checked to within that one call.
	p := LimitPolicy{PerSecond: 16, Burst: 16, InteractiveShare: 0.5}
	replicas := []*Limiter{NewLimiter("acme", p, budget, nil), NewLimiter("acme", p, budget, nil)}
	// A call that does not fit waits until its (short) deadline.
	short := func(ctx context.Context) context.Context {
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	bulkOK := 0
	for i := range 12 {
		rel, err := replicas[i%2].Acquire(short(WithBulk(context.Background())))
		if err == nil {
			bulkOK++
			rel()
		}
	}
	if bulkOK < 7 || bulkOK > 8 {
		t.Fatalf("bulk took %d calls of a burst of 16 with half reserved, want 8", bulkOK)
	}
	liveOK := 0
	for i := range 10 {
		rel, err := replicas[i%2].Acquire(short(context.Background()))
		if err == nil {
			liveOK++
			rel()
		}
	}
	if liveOK < 16-bulkOK-1 || bulkOK+liveOK > 16 {
		t.Fatalf("interactive calls got %d after bulk took %d of 16", liveOK, bulkOK)
	}
	// The budget is spent for both replicas: the next call waits, and a
	// wait ends with its context as rate_limited.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := replicas[0].Acquire(ctx); code(err) != canonical.CodeRateLimited {
		t.Fatalf("spent budget: %v", err)
	}
}

// TestLimiterBulkWaitsForItsTurn: in process, a bulk call over the budget
// waits and then goes (it is not refused).
func TestLimiterBulkWaitsForItsTurn(t *testing.T) {
	l := NewLimiter("acme", LimitPolicy{PerSecond: 50, Burst: 1}, nil, nil)
	ctx, cancel := context.WithTimeout(WithBulk(context.Background()), 5*time.Second)
	defer cancel()
	start := time.Now()
	for range 3 {
		rel, err := l.Acquire(ctx)
		if err != nil {
			t.Fatalf("a bulk call was refused: %v", err)
		}
		rel()
	}
	// Three calls at 50/s with a burst of 1 take at least two intervals.
	if d := time.Since(start); d < 35*time.Millisecond {
		t.Fatalf("three calls in %v: not limited", d)
	}
}

func TestClientWaitsForLimitBeforeCalling(t *testing.T) {
	var lim *Limiter
	r := newRig(t, func(o *Options) {
		lim = NewLimiter("acme", LimitPolicy{MaxConcurrency: 1}, nil, nil)
		o.Limit = lim
	})
	rel, err := lim.Acquire(context.Background()) // the only slot
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var callErr error
	go func() {
		defer wg.Done()
		_, callErr = r.client.Do(ctx, put(`{}`))
	}()
	cancel()
	wg.Wait()
	rel()
	if code(callErr) != canonical.CodeRateLimited {
		t.Fatalf("call with no slot: %v", callErr)
	}
	if n := len(r.v.bodies); n != 0 {
		t.Fatalf("the vendor got %d calls while the limit was held", n)
	}
	if resp, err := r.client.Do(context.Background(), put(`{}`)); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("after release: %v %v", resp, err)
	}
}
