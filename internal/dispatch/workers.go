package dispatch

import (
	"sync/atomic"
	"time"
)

// workers runs a fan-out's targets on goroutines that outlive a request.
// A target's call chain (adapter, breaker, retries, otelhttp, net/http) is
// deep, and a new goroutine starts on a small stack that is grown by
// copying, several times, on every request: about 5% of the gateway's CPU
// under a fan-out load. A kept worker starts its next target on the stack
// the last one grew.
//
// At most maxIdle workers wait for work, and each leaves after idleFor
// with none, so a burst does not leave its goroutines behind.
type workers struct {
	work    chan func() // unbuffered: a send succeeds only when a worker waits
	idle    atomic.Int64
	maxIdle int64
	idleFor time.Duration
	started atomic.Int64 // goroutines started, for tests
	onExit  func()       // tests: called as a worker leaves
	onIdle  func()       // tests: called as a worker starts waiting for work
}

func newWorkers(maxIdle int, idleFor time.Duration) *workers {
	return &workers{work: make(chan func()), maxIdle: int64(maxIdle), idleFor: idleFor}
}

// Go runs f on a waiting worker, or on a new one when none waits: it never
// queues f behind other work.
func (w *workers) Go(f func()) {
	select {
	case w.work <- f:
	default:
		w.started.Add(1)
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	if w.onExit != nil {
		defer w.onExit()
	}
	var timer *time.Timer
	for {
		f()
		if w.idle.Add(1) > w.maxIdle {
			w.idle.Add(-1)
			return
		}
		if w.onIdle != nil {
			w.onIdle()
		}
		if timer == nil {
			timer = time.NewTimer(w.idleFor)
		} else {
			timer.Reset(w.idleFor)
		}
		select {
		case f = <-w.work:
			w.idle.Add(-1)
		case <-timer.C:
			w.idle.Add(-1)
			return
		}
	}
}
