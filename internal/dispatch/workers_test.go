package dispatch

import (
	"sync"
	"testing"
	"time"
)

// TestWorkersNeverQueue: Go runs f at once even when every worker is busy,
// so one slow target never holds up another.
func TestWorkersNeverQueue(t *testing.T) {
	w := newWorkers(2, time.Minute)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		w.Go(func() { defer wg.Done(); <-release })
	}
	ran := make(chan struct{})
	w.Go(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the ninth function waited for busy workers")
	}
	close(release)
	wg.Wait()
	if n := w.started.Load(); n != 9 {
		t.Errorf("%d goroutines for 9 concurrent functions", n)
	}
}

// TestWorkersAreReused: a worker that finished waits for more work and
// runs it on the same goroutine. The test hands each function over only
// once the worker says it waits (a send on the unbuffered work channel
// then always finds it), so no scheduling decides the count.
func TestWorkersAreReused(t *testing.T) {
	w := newWorkers(4, time.Minute)
	waiting := make(chan struct{}, 1)
	w.onIdle = func() { waiting <- struct{}{} }
	done := make(chan int, 1)
	w.Go(func() { done <- -1 })
	<-done
	for i := range 1000 {
		<-waiting
		w.work <- func() { done <- i }
		if got := <-done; got != i {
			t.Fatalf("ran %d, want %d", got, i)
		}
	}
	if n := w.started.Load(); n != 1 {
		t.Errorf("%d goroutines started for 1001 sequential functions, want 1", n)
	}
}

// TestWorkersLeave: workers beyond maxIdle leave as soon as they are done,
// and the rest after idleFor without work.
func TestWorkersLeave(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxIdle int
		idleFor time.Duration
	}{
		{"beyond maxIdle, at once", 0, time.Hour},
		{"idle, after idleFor", 8, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorkers(tc.maxIdle, tc.idleFor)
			exited := make(chan struct{}, 16)
			w.onExit = func() { exited <- struct{}{} }
			release := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				w.Go(func() { defer wg.Done(); <-release })
			}
			close(release)
			wg.Wait()
			for i := range 4 {
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					t.Fatalf("%d of 4 workers left", i)
				}
			}
			if n := w.idle.Load(); n != 0 {
				t.Errorf("idle count %d after every worker left", n)
			}
		})
	}
}
