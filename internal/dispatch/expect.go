package dispatch

import (
	"sync/atomic"
	"time"
)

// expectation is how long a target's run is expected to take: a moving
// average of its recent runs, weighting each new run 1/8. An update with
// several targets runs the one expected to take longest on the request's
// own goroutine (Dispatcher.fanOut).
type expectation struct{ ns atomic.Int64 }

// expected is 0 until the first run, and for a nil expectation.
func (e *expectation) expected() time.Duration {
	if e == nil {
		return 0
	}
	return time.Duration(e.ns.Load())
}

// observe folds in one run. Two runs finishing together may lose one of
// the two updates, which an estimate can afford; a lock would cost every
// fan-out more than that.
func (e *expectation) observe(d time.Duration) {
	if e == nil {
		return
	}
	old := e.ns.Load()
	if old == 0 {
		e.ns.Store(max(int64(d), 1))
		return
	}
	e.ns.Store(old + (int64(d)-old)/8)
}
