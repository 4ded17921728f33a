package dispatch

import (
	"context"
	"fmt"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// CanList reports whether target's adapter can enumerate its users
// (adapters.Lister).
func (d *Dispatcher) CanList(target string) bool {
	t, ok := d.targets[target]
	if !ok {
		return false
	}
	_, ok = t.Adapter.(adapters.Lister)
	return ok
}

// List enumerates target's users with the adapter's list call (gateway
// migrate --all), handing each to each as its page arrives. Every call
// goes through the target's Doer (breaker, retries, vendor limits) under
// the target's deadline per call, not for the whole listing: a listing of
// many pages takes as long as it takes.
func (d *Dispatcher) List(ctx context.Context, target string, each func(adapters.Listed) error) error {
	t, ok := d.targets[target]
	if !ok {
		return fmt.Errorf("dispatch: unknown target %q", target)
	}
	l, ok := t.Adapter.(adapters.Lister)
	if !ok {
		return &canonical.Error{Code: canonical.CodeUnsupportedField, Message: target + "'s API cannot list users"}
	}
	return l.List(ctx, perCallDeadline{next: t.Doer, d: t.Deadline}, each)
}

// perCallDeadline bounds each call by d.
type perCallDeadline struct {
	next adapters.Doer
	d    time.Duration
}

func (p perCallDeadline) Do(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
	if p.d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.d)
		defer cancel()
	}
	return p.next.Do(ctx, c)
}
