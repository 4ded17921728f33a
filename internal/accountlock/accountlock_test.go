package accountlock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

type locker interface {
	Lock(ctx context.Context, key string) (Held, error)
}

// setup gives two lock sets sharing one store (two replicas; the same
// process twice for Memory) and a way to move the store's clock on.
type setup struct {
	name    string
	a, b    locker
	advance func(time.Duration)
}

const ttl = 10 * time.Second

func setups(t *testing.T) []setup {
	t.Helper()
	var out []setup
	{
		m := NewMemory(ttl)
		var mu sync.Mutex
		now := time.Now()
		m.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		out = append(out, setup{name: "memory", a: m, b: m, advance: func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }})
	}
	{
		mr := miniredis.RunT(t)
		ca := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		cb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { ca.Close(); cb.Close() })
		out = append(out, setup{name: "redis", a: NewRedis(ca, "t:", ttl), b: NewRedis(cb, "t:", ttl), advance: mr.FastForward})
	}
	return out
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestExclusiveUntilReleased(t *testing.T) {
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			h, err := s.a.Lock(ctx, "frontier/u1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.b.Lock(cancelled(), "frontier/u1"); !errors.Is(err, ErrBusy) {
				t.Fatalf("second holder: %v, want ErrBusy", err)
			}
			other, err := s.b.Lock(ctx, "frontier/u2")
			if err != nil {
				t.Fatalf("another account is independent: %v", err)
			}
			other.Release(ctx)
			if err := h.Check(ctx); err != nil {
				t.Fatalf("check while held: %v", err)
			}
			// A waiter gets the lock once it is released.
			got := make(chan error, 1)
			go func() {
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				h2, err := s.b.Lock(wctx, "frontier/u1")
				if err == nil {
					h2.Release(ctx)
				}
				got <- err
			}()
			h.Release(ctx)
			h.Release(ctx) // twice is fine
			if err := <-got; err != nil {
				t.Fatalf("waiter: %v", err)
			}
			if err := h.Check(ctx); !errors.Is(err, ErrLost) {
				t.Fatalf("check after release: %v, want ErrLost", err)
			}
		})
	}
}

// A holder killed while holding the lock (it never releases): the lock
// expires after its TTL and the next writer proceeds; the old holder, if it
// comes back, finds it lost and its release does not free the new
// holder's lock.
func TestExpiredHolderLosesTheLock(t *testing.T) {
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			dead, err := s.a.Lock(ctx, "volterra/x")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.b.Lock(cancelled(), "volterra/x"); !errors.Is(err, ErrBusy) {
				t.Fatalf("before expiry: %v, want ErrBusy", err)
			}
			s.advance(ttl + time.Millisecond)
			next, err := s.b.Lock(ctx, "volterra/x")
			if err != nil {
				t.Fatalf("after expiry: %v", err)
			}
			if err := dead.Check(ctx); !errors.Is(err, ErrLost) {
				t.Fatalf("expired holder's check: %v, want ErrLost", err)
			}
			dead.Release(ctx)
			if err := next.Check(ctx); err != nil {
				t.Fatalf("the old holder's release freed the new lock: %v", err)
			}
			if _, err := s.a.Lock(cancelled(), "volterra/x"); !errors.Is(err, ErrBusy) {
				t.Fatalf("the new lock is not held: %v", err)
			}
			next.Release(ctx)
		})
	}
}

// A holder whose deadline lies past the lock's expiry may not write: the
// lock could run out mid-write.
func TestCheckRefusesADeadlinePastExpiry(t *testing.T) {
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			h, err := s.a.Lock(context.Background(), "akana/y")
			if err != nil {
				t.Fatal(err)
			}
			defer h.Release(context.Background())
			short, cancel := context.WithTimeout(context.Background(), ttl/2)
			defer cancel()
			if err := h.Check(short); err != nil {
				t.Fatalf("deadline within the TTL: %v", err)
			}
			long, cancel2 := context.WithTimeout(context.Background(), 2*ttl)
			defer cancel2()
			if err := h.Check(long); !errors.Is(err, ErrLost) {
				t.Fatalf("deadline past the TTL: %v, want ErrLost", err)
			}
		})
	}
}

// Many writers on two lock sets do a read, yield, write of one shared
// counter under the lock: no increment is lost.
func TestNoLostIncrements(t *testing.T) {
	all := setups(t)
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		ca, cb := redis.NewClient(opt), redis.NewClient(opt)
		t.Cleanup(func() { ca.Close(); cb.Close() })
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		prefix := "accountlock-test-" + hex.EncodeToString(b) + ":"
		all = append(all, setup{name: "real redis", a: NewRedis(ca, prefix, ttl), b: NewRedis(cb, prefix, ttl)})
	}
	for _, s := range all {
		t.Run(s.name, func(t *testing.T) {
			const n = 200
			var (
				wg      sync.WaitGroup
				counter atomic.Int64 // atomic for the race detector, which cannot see Redis; still read then written
				errs    = make(chan error, n)
			)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := s.a
					if i%2 == 1 {
						l = s.b
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					h, err := l.Lock(ctx, "hot")
					if err != nil {
						errs <- err
						return
					}
					v := counter.Load()
					runtime.Gosched()
					if err := h.Check(context.Background()); err != nil {
						errs <- err
					}
					counter.Store(v + 1)
					h.Release(ctx)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got := counter.Load(); got != n {
				t.Errorf("counter %d, want %d", got, n)
			}
		})
	}
}

// A waiter whose context ends leaves the queue: the lock goes to the next
// waiter, not to nobody.
func TestCancelledWaiterLeavesTheQueue(t *testing.T) {
	m := NewMemory(ttl)
	ctx := context.Background()
	h, _ := m.Lock(ctx, "k")
	wctx, cancel := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() { _, err := m.Lock(wctx, "k"); gone <- err }()
	for m.queued("k") != 1 {
		runtime.Gosched()
	}
	cancel()
	if err := <-gone; !errors.Is(err, ErrBusy) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	h.Release(ctx)
	h2, err := m.Lock(cancelled(), "k")
	if err != nil {
		t.Fatalf("the lock was left to a waiter that had gone: %v", err)
	}
	h2.Release(ctx)
	if len(m.locks) != 0 {
		t.Errorf("%d lock entries left after every release", len(m.locks))
	}
}
