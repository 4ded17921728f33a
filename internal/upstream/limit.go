package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// Budget takes one call from a named rate budget (rate per second, burst):
// allowed now, or how long until a call would fit. The Redis budget
// (redisstore.RateLimiter.AllowRate) is shared by every replica; GCRA in one
// script makes take-and-advance atomic.
type Budget interface {
	AllowRate(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration, error)
}

// LimitPolicy is one vendor's call limits (vendors.<name>.rate_limit and
// max_concurrency). Zero values disable each part.
type LimitPolicy struct {
	// PerSecond and Burst bound calls to the vendor across replicas (when
	// the Budget is shared).
	PerSecond float64
	Burst     int
	// InteractiveShare is the part of the rate and of the concurrency kept
	// for interactive calls: bulk calls (WithBulk) may use at most
	// 1-InteractiveShare of either.
	InteractiveShare float64
	// MaxConcurrency bounds this replica's calls in flight to the vendor.
	MaxConcurrency int
}

type bulkKey struct{}

// WithBulk marks ctx's calls as bulk work (a batch item, a migration): they
// wait for their turn within the bulk share instead of competing with
// interactive updates.
func WithBulk(ctx context.Context) context.Context { return context.WithValue(ctx, bulkKey{}, true) }

// IsBulk reports whether ctx carries the bulk mark.
func IsBulk(ctx context.Context) bool { b, _ := ctx.Value(bulkKey{}).(bool); return b }

// Limiter enforces a LimitPolicy for one vendor. Every call waits for its
// turn (never refused); the wait ends with the caller's context.
type Limiter struct {
	vendor  string
	p       LimitPolicy
	budget  Budget
	local   *localBudget // when budget is nil, or fails
	logger  *slog.Logger
	all     chan struct{} // concurrency slots, every call
	bulk    chan struct{} // slots bulk calls take first
	bulkPer float64
	bulkBur int
}

// NewLimiter builds vendor's limiter; budget nil keeps the rate in process.
func NewLimiter(vendor string, p LimitPolicy, budget Budget, logger *slog.Logger) *Limiter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{vendor: vendor, p: p, budget: budget, local: newLocalBudget(), logger: logger}
	share := min(max(p.InteractiveShare, 0), 0.99)
	if p.MaxConcurrency > 0 {
		l.all = make(chan struct{}, p.MaxConcurrency)
		l.bulk = make(chan struct{}, max(1, int(math.Floor(float64(p.MaxConcurrency)*(1-share)))))
	}
	if p.PerSecond > 0 {
		if l.p.Burst <= 0 {
			l.p.Burst = max(1, int(math.Ceil(p.PerSecond)))
		}
		l.bulkPer = p.PerSecond * (1 - share)
		l.bulkBur = max(1, int(math.Floor(float64(l.p.Burst)*(1-share))))
	}
	return l
}

// Acquire waits until ctx's call may go to the vendor; release gives its
// concurrency slot back.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	bulk := IsBulk(ctx)
	var held []chan struct{}
	release = func() {
		for _, c := range held {
			<-c
		}
	}
	take := func(c chan struct{}) error {
		select {
		case c <- struct{}{}:
			held = append(held, c)
			return nil
		case <-ctx.Done():
			return l.waitErr("max_concurrency")
		}
	}
	if l.all != nil {
		if bulk {
			if err := take(l.bulk); err != nil {
				return nil, err
			}
		}
		if err := take(l.all); err != nil {
			release()
			return nil, err
		}
	}
	if l.p.PerSecond > 0 {
		if bulk {
			if err := l.wait(ctx, "vendor:"+l.vendor+":bulk", l.bulkPer, l.bulkBur); err != nil {
				release()
				return nil, err
			}
		}
		if err := l.wait(ctx, "vendor:"+l.vendor, l.p.PerSecond, l.p.Burst); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// wait polls the budget until a call fits; each refusal says how long to
// wait, so polls are few.
func (l *Limiter) wait(ctx context.Context, key string, perSecond float64, burst int) error {
	for {
		ok, after, err := l.allow(ctx, key, perSecond, burst)
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
		t := time.NewTimer(max(after, time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return l.waitErr("rate_limit")
		}
	}
}

func (l *Limiter) allow(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration, error) {
	if l.budget != nil {
		ok, after, err := l.budget.AllowRate(ctx, key, perSecond, burst)
		if err == nil {
			return ok, after, nil
		}
		if ctx.Err() != nil {
			return false, 0, l.waitErr("rate_limit")
		}
		// The shared budget is unreachable: this replica's own budget
		// decides meanwhile, as the per-client limits do.
		l.logger.WarnContext(ctx, "vendor rate limit: shared budget unavailable; limiting in process", "vendor", l.vendor, "err", err)
	}
	ok, after := l.local.allow(key, perSecond, burst)
	return ok, after, nil
}

func (l *Limiter) waitErr(what string) error {
	return &canonical.Error{Code: canonical.CodeRateLimited,
		Message: fmt.Sprintf("%s: the deadline passed while waiting for the vendor's %s (vendors.%s.%s)", l.vendor, what, l.vendor, what)}
}

// localBudget keeps rate budgets in this process (golang.org/x/time/rate).
type localBudget struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newLocalBudget() *localBudget { return &localBudget{m: map[string]*rate.Limiter{}} }

func (b *localBudget) allow(key string, perSecond float64, burst int) (bool, time.Duration) {
	b.mu.Lock()
	lim, ok := b.m[key]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		b.m[key] = lim
	}
	b.mu.Unlock()
	now := time.Now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
