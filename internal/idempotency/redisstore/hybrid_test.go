package redisstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/idempotency/storetest"
)

// routeClient answers the hybrid's three commands, noting each under its
// name; with hold set, each call first says so on entered and then waits
// for hold to close.
type routeClient struct {
	redis.UniversalClient // nil: any other method is a test bug
	name                  string
	mu                    *sync.Mutex
	got                   *[]string
	entered               chan struct{}
	hold                  chan struct{}
}

func (r *routeClient) note(cmd string) {
	if r.hold != nil {
		r.entered <- struct{}{}
		<-r.hold
	}
	r.mu.Lock()
	*r.got = append(*r.got, r.name+" "+cmd)
	r.mu.Unlock()
}

func (r *routeClient) EvalSha(_ context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	r.note("evalsha")
	return redis.NewCmdResult(int64(1), nil)
}

func (r *routeClient) Eval(_ context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	r.note("eval")
	return redis.NewCmdResult(int64(1), nil)
}

func (r *routeClient) Set(_ context.Context, _ string, _ any, _ time.Duration) *redis.StatusCmd {
	r.note("set")
	return redis.NewStatusResult("OK", nil)
}

func TestHybridRoutesByCommandsInFlight(t *testing.T) {
	ctx := context.Background()
	var (
		mu  sync.Mutex
		got []string
	)
	direct := &routeClient{name: "direct", mu: &mu, got: &got}
	batched := &routeClient{name: "batched", mu: &mu, got: &got}
	h := newHybrid(direct, batched, 2)

	// One at a time: every command goes straight.
	h.EvalSha(ctx, "sha", []string{"k"})
	h.Eval(ctx, "return 1", []string{"k"})
	h.Set(ctx, "k", "v", time.Minute)
	want := []string{"direct evalsha", "direct eval", "direct set"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("sequential: %v, want %v", got, want)
	}

	// Two held in flight on direct: the third joins the batch; once they
	// are done, the next goes straight again.
	got = nil
	direct.entered, direct.hold = make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.Set(ctx, "k", "v", time.Minute)
		}()
		<-direct.entered
	}
	h.EvalSha(ctx, "sha", []string{"k"})
	close(direct.hold)
	wg.Wait()
	direct.entered, direct.hold = nil, nil
	h.Eval(ctx, "return 1", []string{"k"})
	mu.Lock()
	defer mu.Unlock()
	want = []string{"batched evalsha", "direct set", "direct set", "direct eval"}
	if len(got) != len(want) || got[0] != want[0] || got[3] != want[3] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("concurrent: %v, want %v", got, want)
	}
	if n := h.inFlight.Load(); n != 0 {
		t.Fatalf("%d commands still counted in flight", n)
	}

}

// The store's contract holds on the client `serve` uses: commands straight
// at low load, batched above it (storetest's concurrent claims cross the
// limit: up to 200 claims at once; TestRedisStoreBatched covers the
// batched path alone).
func TestRedisStoreHybrid(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (idempotency.Store, func(time.Duration)) {
		c, adv := clientClock(t)
		b, err := Batched(c, false)
		if err != nil {
			t.Fatal(err)
		}
		return New(Hybrid(c, b), cleanPrefix(t, c)), adv
	})
}
