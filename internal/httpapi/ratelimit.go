package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// RateLimiter is a per-client request budget shared by every replica
// (redisstore.RateLimiter: GCRA in Redis).
type RateLimiter interface {
	// Allow takes one request from key's budget of limit per window; when
	// it is spent, retryAfter says when the next request fits.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (allowed bool, retryAfter time.Duration, err error)
	// Refund gives one request back.
	Refund(ctx context.Context, key string, limit int, window time.Duration) error
}

// RateLimitObserver, when the Options' Observer implements it, counts the
// requests limited by this replica alone because the shared limiter failed.
type RateLimitObserver interface {
	RateLimitFallback(ctx context.Context)
}

// DefaultRateLimitTimeout bounds one call to the shared limiter: a slow or
// unreachable Redis must not slow every request down to its own timeouts.
const DefaultRateLimitTimeout = 50 * time.Millisecond

// sharedRetry is how long the limiter stays with the per-replica budgets
// after the shared limiter failed, before it tries the shared one again: a
// Redis outage then costs one deadline now and then, not one per request.
const sharedRetry = time.Second

// limiter enforces clients' budgets on the shared limiter when there is one,
// else, and whenever the shared one fails, on per-replica budgets of the
// same size.
type limiter struct {
	shared    RateLimiter
	local     *localGCRA
	timeout   time.Duration
	downUntil atomic.Int64 // unix nanoseconds; the shared limiter is skipped until then
	fallback  func(context.Context)
}

// take asks for one request; shared says which budget it was taken from
// (for the refund).
func (l *limiter) take(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retry time.Duration, shared bool) {
	if l.shared != nil {
		if time.Now().UnixNano() >= l.downUntil.Load() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
			ok, retry, err := l.shared.Allow(cctx, key, limit, window)
			cancel()
			if err == nil {
				return ok, retry, true
			}
			l.downUntil.Store(time.Now().Add(sharedRetry).UnixNano())
		}
		if l.fallback != nil {
			l.fallback(ctx)
		}
	}
	ok, retry = l.local.allow(key, limit, window, time.Now())
	return ok, retry, false
}

func (l *limiter) refund(ctx context.Context, key string, limit int, window time.Duration, shared bool) {
	if shared {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
		defer cancel()
		// A failed refund leaves the request counted: erring towards the
		// limit, never past it.
		_ = l.shared.Refund(cctx, key, limit, window)
		return
	}
	l.local.refund(key, limit, window, time.Now())
}

// localGCRA is the same algorithm as the shared limiter, in memory: each
// budget is a theoretical arrival time that every request pushes one
// interval (window/limit) further, refused when it would run more than a
// window ahead of now.
type localGCRA struct {
	mu  sync.Mutex
	tat map[string]time.Time
}

func newLocalGCRA() *localGCRA { return &localGCRA{tat: map[string]time.Time{}} }

func (g *localGCRA) allow(key string, limit int, window time.Duration, now time.Time) (bool, time.Duration) {
	interval := window / time.Duration(limit)
	g.mu.Lock()
	defer g.mu.Unlock()
	tat := g.tat[key]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if ahead := next.Sub(now); ahead > window {
		return false, ahead - window
	}
	g.tat[key] = next
	return true, 0
}

func (g *localGCRA) refund(key string, limit int, window time.Duration, now time.Time) {
	interval := window / time.Duration(limit)
	g.mu.Lock()
	defer g.mu.Unlock()
	if tat, ok := g.tat[key]; ok {
		if tat = tat.Add(-interval); tat.After(now) {
			g.tat[key] = tat
		} else {
			delete(g.tat, key)
		}
	}
}

// refunded are the statuses of requests refused as malformed before any
// vendor call: they do not spend the client's budget.
func refunded(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusUnsupportedMediaType || status == http.StatusUnprocessableEntity
}

// statusOf is the status the error handler will answer err with.
func statusOf(c *fiber.Ctx, err error) int {
	if err == nil {
		return c.Response().StatusCode()
	}
	var e *canonical.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
		return e.Code.HTTPStatus()
	case errors.As(err, &fe):
		return fromFiber(fe).Code.HTTPStatus()
	}
	return http.StatusInternalServerError
}

// rateLimit enforces each client's budget, keyed by client name, so it
// holds across replicas when the limiter is shared. A request the gateway
// refuses as malformed (400, 415, 422) is refunded. nil when no client has
// a limit.
func (s *server) rateLimit() fiber.Handler {
	limited := false
	for _, cl := range s.o.Clients {
		limited = limited || cl.RateLimit > 0
	}
	if !limited {
		return nil
	}
	l := &limiter{shared: s.o.RateLimiter, local: newLocalGCRA(), timeout: s.o.RateLimitTimeout}
	if l.timeout <= 0 {
		l.timeout = DefaultRateLimitTimeout
	}
	if o, ok := s.o.Observer.(RateLimitObserver); ok {
		l.fallback = o.RateLimitFallback
	}
	return func(c *fiber.Ctx) error {
		cl, _ := c.Locals(clientKey).(*Client)
		if cl == nil || cl.RateLimit <= 0 {
			return c.Next()
		}
		window := cl.RateWindow
		if window <= 0 {
			window = time.Minute
		}
		ctx := c.UserContext()
		key := "ratelimit:" + cl.Name
		ok, retry, shared := l.take(ctx, key, cl.RateLimit, window)
		if !ok {
			return &canonical.Error{Code: canonical.CodeRateLimited, Message: "this client's rate limit is exhausted",
				RetryAfter: max(retry, time.Second)}
		}
		err := c.Next()
		if refunded(statusOf(c, err)) {
			l.refund(ctx, key, cl.RateLimit, window, shared)
		}
		return err
	}
}
