package telemetry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// batcher is the span processor in front of the exporter, in place of the
// SDK's BatchSpanProcessor. That one hands every ended span to its export
// goroutine over a channel, waking it once per span: at one request at a
// time that was three wake-ups per request and most of the 226 µs of CPU
// per request that exporting cost (loadbench, latency scenario, otlp
// against none). Here an ended span is appended to a buffer under a mutex,
// and the export goroutine wakes only when a batch is full or its interval
// passes (BenchmarkSpanEnd).
type batcher struct {
	exp      sdktrace.SpanExporter
	maxBatch int
	maxQueue int
	timeout  time.Duration

	mu      sync.Mutex
	buf     []sdktrace.ReadOnlySpan
	dropped int
	closed  bool

	// exporting holds a token while a batch is exported: one export at a
	// time, in span order, waited for under a context (a collector that
	// does not answer must not hold a shutdown past its deadline).
	exporting chan struct{}
	full      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	once      sync.Once
	// loopCtx is the loop's exports' context; Shutdown cancels it when its
	// own deadline passes while the loop is still exporting.
	loopCtx    context.Context
	cancelLoop context.CancelFunc
}

// Batching defaults: the SDK's queue and batch sizes and export timeout,
// and this gateway's interval.
const (
	batchMaxQueue = 2048
	batchMaxBatch = 512
	batchEvery    = 2 * time.Second
	batchTimeout  = 30 * time.Second
)

func newBatcher(exp sdktrace.SpanExporter, every time.Duration) *batcher {
	b := &batcher{exp: exp, maxBatch: batchMaxBatch, maxQueue: batchMaxQueue, timeout: batchTimeout,
		exporting: make(chan struct{}, 1), full: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	b.loopCtx, b.cancelLoop = context.WithCancel(context.Background())
	go b.loop(every)
	return b
}

func (b *batcher) loop(every time.Duration) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.full:
		}
		_ = b.flush(b.loopCtx) // failures are reported through otel.Handle
	}
}

// OnStart implements sdktrace.SpanProcessor.
func (b *batcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd implements sdktrace.SpanProcessor: it never blocks; a span that
// finds the queue full is dropped and counted.
func (b *batcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	if len(b.buf) >= b.maxQueue {
		b.dropped++
		b.mu.Unlock()
		return
	}
	b.buf = append(b.buf, s)
	n := len(b.buf)
	b.mu.Unlock()
	if n == b.maxBatch {
		select {
		case b.full <- struct{}{}:
		default: // a flush is already due
		}
	}
}

// flush exports every span queued so far, in batches of at most maxBatch.
func (b *batcher) flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case b.exporting <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.exporting }()
	b.mu.Lock()
	spans, dropped := b.buf, b.dropped
	b.dropped = 0
	if len(spans) > 0 {
		// The next batch fills a buffer of its own size at once rather
		// than growing one from nothing on the request path.
		b.buf = make([]sdktrace.ReadOnlySpan, 0, b.maxBatch)
	}
	b.mu.Unlock()
	if dropped > 0 {
		otel.Handle(fmt.Errorf("telemetry: the span queue was full (%d spans): %d spans dropped", b.maxQueue, dropped))
	}
	var first error
	for len(spans) > 0 {
		n := min(len(spans), b.maxBatch)
		ectx, cancel := context.WithTimeout(ctx, b.timeout)
		err := b.exp.ExportSpans(ectx, spans[:n])
		cancel()
		if err != nil {
			otel.Handle(err)
			if first == nil {
				first = err
			}
		}
		spans = spans[n:]
	}
	return first
}

// ForceFlush implements sdktrace.SpanProcessor.
func (b *batcher) ForceFlush(ctx context.Context) error { return b.flush(ctx) }

// Shutdown implements sdktrace.SpanProcessor: it stops the loop, exports
// what is queued and shuts the exporter down; later spans are ignored. It
// returns by ctx's deadline: an export still running then is cancelled.
func (b *batcher) Shutdown(ctx context.Context) error {
	var err error
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.stop)
		select {
		case <-b.done:
		case <-ctx.Done():
			b.cancelLoop()
			<-b.done
		}
		b.cancelLoop()
		err = b.flush(ctx)
		if serr := b.exp.Shutdown(ctx); err == nil {
			err = serr
		}
	})
	return err
}
