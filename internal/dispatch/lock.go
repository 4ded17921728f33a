package dispatch

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/accountlock"
)

// Locker serialises read-modify-write updates per vendor account:
// accountlock.Memory in one process, accountlock.Redis across replicas.
// Lock waits until ctx ends, then fails with an error matching
// accountlock.ErrBusy.
//
// Ordering: each target of a fan-out runs on its own goroutine and locks at
// most one account, its own, for the length of that target's run, and never
// waits for anything else while holding it but its own vendor calls (bounded
// by the target deadline, which is shorter than the lock's TTL). No update
// ever holds one lock while waiting for another, so fan-out updates cannot
// deadlock, whatever order their targets start in; the fixed order is
// trivially "one lock per goroutine". The wait is bounded too, by
// Options.LockWait.
type Locker interface {
	Lock(ctx context.Context, key string) (accountlock.Held, error)
}

// lockAccount takes the account lock p's update needs, if any: nil and nil
// when the target's adapter declares no read-modify-write for this op. The
// wait is bounded by Options.LockWait (and the request's own context) and
// happens before the target's deadline starts, so a waiter that gets the
// lock still has its whole deadline for the vendor; the lock's TTL exceeds
// that deadline, so a live holder never loses it.
func (d *Dispatcher) lockAccount(ctx context.Context, p plan) (accountlock.Held, *canonical.Error) {
	if d.o.Locks == nil {
		return nil, nil
	}
	rmw, ok := p.target.Adapter.(adapters.ReadModifyWriter)
	if !ok {
		return nil, nil
	}
	account, need := rmw.LockAccount(p.op)
	if !need {
		return nil, nil
	}
	wait := d.o.LockWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := time.Now()
	held, err := d.o.Locks.Lock(wctx, p.target.Name+"/"+account)
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int64("gateway.account_lock_wait_ms", time.Since(start).Milliseconds()))
	switch {
	case err == nil:
		return held, nil
	case errors.Is(err, accountlock.ErrBusy):
		return nil, &canonical.Error{Code: canonical.CodeAccountBusy, RetryAfter: time.Second,
			Message: "another update of this " + p.target.Name + " account was still in progress after waiting " + wait.String() + "; nothing was written to this target"}
	default:
		d.o.Logger.ErrorContext(ctx, "account lock unavailable", "target", p.target.Name, "err", err)
		return nil, &canonical.Error{Code: canonical.CodeIdempotencyUnavailable, RetryAfter: time.Second,
			Message: "the account lock store is unavailable; nothing was written to this target"}
	}
}

// lockedDoer confirms before every Write call that the account lock is
// still held, and sends nothing when it is not: a lock lost to expiry (a
// stall past its TTL) may already be another writer's, whose change this
// write would undo.
type lockedDoer struct {
	next adapters.Doer
	held accountlock.Held
}

func (l lockedDoer) Do(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
	if c.Kind == adapters.Write {
		if err := l.held.Check(ctx); err != nil {
			if errors.Is(err, accountlock.ErrLost) {
				return nil, &canonical.Error{Code: canonical.CodeAccountBusy, RetryAfter: time.Second,
					Message: "the account lock expired before the " + c.Name + " call, which was not sent: another update may be writing this account"}
			}
			return nil, &canonical.Error{Code: canonical.CodeIdempotencyUnavailable, RetryAfter: time.Second,
				Message: "the account lock could not be confirmed before the " + c.Name + " call, which was not sent"}
		}
	}
	return l.next.Do(ctx, c)
}
