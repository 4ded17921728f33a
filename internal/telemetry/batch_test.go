package telemetry

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// countingExporter records each batch's size.
type countingExporter struct {
	mu       sync.Mutex
	batches  []int
	names    []string
	shutdown bool
	got      chan struct{}
}

func (e *countingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	e.batches = append(e.batches, len(spans))
	for _, s := range spans {
		e.names = append(e.names, s.Name())
	}
	e.mu.Unlock()
	if e.got != nil {
		select {
		case e.got <- struct{}{}:
		default:
		}
	}
	return nil
}

func (e *countingExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	e.shutdown = true
	e.mu.Unlock()
	return nil
}

func (e *countingExporter) total() (n int, batches []int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.batches {
		n += b
	}
	return n, append([]int(nil), e.batches...)
}

func TestBatcher(t *testing.T) {
	ctx := context.Background()
	t.Run("a full batch is exported at once, in order, at most maxBatch a call", func(t *testing.T) {
		exp := &countingExporter{got: make(chan struct{}, 1)}
		b := newBatcher(exp, time.Hour) // no interval flush in this test
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
		defer tp.Shutdown(ctx)
		tr := tp.Tracer("t")
		for i := range batchMaxBatch {
			_, s := tr.Start(ctx, "s"+string(rune('a'+i%26)))
			s.End()
		}
		<-exp.got // exported without waiting for the interval
		n, batches := exp.total()
		if n != batchMaxBatch || len(batches) != 1 {
			t.Fatalf("exported %d spans in batches %v, want %d in one", n, batches, batchMaxBatch)
		}
		if exp.names[0] != "sa" || exp.names[1] != "sb" {
			t.Fatalf("spans out of order: %v", exp.names[:2])
		}
	})
	t.Run("the interval exports a partial batch", func(t *testing.T) {
		exp := &countingExporter{got: make(chan struct{}, 1)}
		b := newBatcher(exp, 10*time.Millisecond)
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
		defer tp.Shutdown(ctx)
		_, s := tp.Tracer("t").Start(ctx, "one")
		s.End()
		<-exp.got
		if n, _ := exp.total(); n != 1 {
			t.Fatalf("exported %d spans, want 1", n)
		}
	})
	t.Run("force flush and shutdown export everything queued; later spans are ignored", func(t *testing.T) {
		exp := &countingExporter{}
		b := newBatcher(exp, time.Hour)
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
		tr := tp.Tracer("t")
		for range 3 {
			_, s := tr.Start(ctx, "x")
			s.End()
		}
		if err := tp.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := exp.total(); n != 3 {
			t.Fatalf("force flush exported %d, want 3", n)
		}
		_, s := tr.Start(ctx, "y")
		s.End()
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := exp.total(); n != 4 || !exp.shutdown {
			t.Fatalf("after shutdown: %d exported (want 4), exporter shut down %v", n, exp.shutdown)
		}
		b.OnEnd(tracetest.SpanStub{Name: "late", SpanContext: sampled()}.Snapshot())
		if err := b.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := exp.total(); n != 4 {
			t.Fatalf("a span after shutdown was exported (%d)", n)
		}
	})
	t.Run("a full queue drops instead of blocking; unsampled spans are not queued", func(t *testing.T) {
		exp := &countingExporter{}
		b := newBatcher(exp, time.Hour)
		b.maxBatch = batchMaxQueue + 1 // nothing triggers an export
		defer b.Shutdown(ctx)
		for range batchMaxQueue + 10 {
			b.OnEnd(tracetest.SpanStub{Name: "s", SpanContext: sampled()}.Snapshot())
		}
		b.OnEnd(tracetest.SpanStub{Name: "unsampled"}.Snapshot())
		b.mu.Lock()
		queued, dropped := len(b.buf), b.dropped
		b.mu.Unlock()
		if queued != batchMaxQueue || dropped != 10 {
			t.Fatalf("queued %d, dropped %d; want %d and 10", queued, dropped, batchMaxQueue)
		}
	})
}

// stuckExporter never answers: an export returns only when its context
// ends.
type stuckExporter struct{ entered chan struct{} }

func (e stuckExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	e.entered <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}
func (stuckExporter) Shutdown(context.Context) error { return nil }

// A collector that does not answer holds neither a shutdown nor a flush
// past its context: the export in progress is cancelled.
func TestBatcherShutdownKeepsItsDeadline(t *testing.T) {
	exp := stuckExporter{entered: make(chan struct{}, 1)}
	b := newBatcher(exp, time.Hour)
	b.timeout = time.Hour // only a context can end the stuck export
	for range batchMaxBatch {
		b.OnEnd(tracetest.SpanStub{Name: "s", SpanContext: sampled()}.Snapshot())
	}
	<-exp.entered // the loop is exporting the full batch, stuck
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.ForceFlush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ForceFlush behind a stuck export: %v, want context.Canceled", err)
	}
	if err := b.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an ended context: %v, want context.Canceled", err)
	}
}

func sampled() trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
}

// discard is an exporter that drops everything.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// processors are the two span processors the benchmarks compare, each
// exporting to nowhere.
func processors() []struct {
	name string
	proc func() sdktrace.SpanProcessor
} {
	return []struct {
		name string
		proc func() sdktrace.SpanProcessor
	}{
		{"sdk-batch", func() sdktrace.SpanProcessor {
			return sdktrace.NewBatchSpanProcessor(discard{}, sdktrace.WithBatchTimeout(batchEvery))
		}},
		{"batcher", func() sdktrace.SpanProcessor { return newBatcher(discard{}, batchEvery) }},
	}
}

// BenchmarkSpanEndPaced ends three spans (a request's server, target and
// attempt spans) every 250 µs, as one connection's requests do, and reports
// the process's CPU per span: what the SDK's processor spends waking its
// export goroutine for every span.
func BenchmarkSpanEndPaced(b *testing.B) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, c := range processors() {
		b.Run(c.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(c.proc()))
			defer tp.Shutdown(context.Background())
			tr := tp.Tracer("bench")
			ctx := context.Background()
			tick := time.NewTicker(250 * time.Microsecond)
			defer tick.Stop()
			start := cpu()
			for b.Loop() {
				<-tick.C
				for range 3 {
					_, s := tr.Start(ctx, "span")
					s.End()
				}
			}
			b.ReportMetric(float64((cpu()-start).Nanoseconds())/float64(3*b.N), "cpu-ns/span")
		})
	}
}

// BenchmarkSpanEnd ends spans from parallel goroutines through the SDK's
// BatchSpanProcessor and through batcher, exporting to nowhere: the cost
// of handing spans to the exporter, wake-ups included.
func BenchmarkSpanEnd(b *testing.B) {
	for _, c := range processors() {
		b.Run(c.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(c.proc()))
			defer tp.Shutdown(context.Background())
			tr := tp.Tracer("bench")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					_, s := tr.Start(ctx, "span")
					s.End()
				}
			})
		})
	}
}
