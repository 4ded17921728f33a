package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Options configures a Trail.
type Options struct {
	// Sinks each receive every record; the first Store among them answers
	// queries.
	Sinks []Sink
	// Proceed is audit.on_error: proceed. A sink that is down then lets
	// writes through (counted as reason=proceeded) instead of 503.
	Proceed bool
	// BufferSize bounds the records kept for retry (default 10000); past
	// it the oldest are dropped, logged and counted.
	BufferSize int
	// HealthTTL is how long a successful append or ping vouches for a sink
	// before Ready pings again (default 1s), so a busy gateway does not add
	// a database round trip to every write.
	HealthTTL time.Duration
	// PingTimeout bounds Ready's check and one append (default 2s).
	PingTimeout   time.Duration
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider
	Now           func() time.Time
}

// Trail is the Recorder the gateway uses: it fans records out to its sinks,
// refuses writes while a sink is down, and retries records that failed.
type Trail struct {
	o        Options
	store    Store
	failures metric.Int64Counter
	// nonBlocking, per sink: its Append never blocks (nonBlockingSink), so
	// Record gives it no timeout.
	nonBlocking []bool

	mu      sync.Mutex
	pending []pendingRecord
	seq     uint64
	healthy []time.Time // per sink: vouched healthy until
	// buffered is len(pending), stored under mu after every change to
	// pending, so Record sees without the lock that nothing is buffered
	// (the usual case) and no sink has records queued before its own.
	buffered atomic.Int64
}

// nonBlockingSink is implemented by a sink whose Append never waits (no
// I/O, only short locks) and ignores its context: Record then calls it
// without a timeout, which armed and stopped a runtime timer per record.
// The sink asks to be given itself, so a type that embeds such a sink (and
// so has the method too) while replacing its Append is not taken for one.
type nonBlockingSink interface {
	appendsWithoutBlocking(self Sink) bool
}

type pendingRecord struct {
	seq  uint64 // identifies the entry while it is retried unlocked
	sink int
	rec  Record
}

// NewTrail builds a Trail over at least one sink.
func NewTrail(o Options) (*Trail, error) {
	if len(o.Sinks) == 0 {
		return nil, errors.New("audit: at least one sink is required")
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 10000
	}
	if o.HealthTTL <= 0 {
		o.HealthTTL = time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MeterProvider == nil {
		o.MeterProvider = noop.NewMeterProvider()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t := &Trail{o: o, healthy: make([]time.Time, len(o.Sinks)), nonBlocking: make([]bool, len(o.Sinks))}
	for _, s := range o.Sinks {
		if st, ok := s.(Store); ok {
			t.store = st
			break
		}
	}
	for i, s := range o.Sinks {
		nb, ok := s.(nonBlockingSink)
		t.nonBlocking[i] = ok && nb.appendsWithoutBlocking(s)
	}
	var err error
	t.failures, err = o.MeterProvider.Meter("github.com/identity-gateway/identity-gateway/internal/audit").Int64Counter("gateway.audit.failures",
		metric.WithDescription("Audit trail failures by reason: refused (503 audit_unavailable), proceeded (on_error proceed), append_failed (buffered for retry), dropped (buffer full)."))
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Trail) fail(ctx context.Context, reason string, n int) {
	t.failures.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", reason)))
}

// Queryable reports whether a sink can answer queries.
func (t *Trail) Queryable() bool { return t.store != nil }

// Query pages through the queryable sink.
func (t *Trail) Query(ctx context.Context, q Query) (Page, error) {
	if t.store == nil {
		return Page{}, errors.New("audit: no queryable sink (configure postgres)")
	}
	return t.store.Query(ctx, q)
}

// Ready implements Recorder: every sink is vouched healthy, or answers a
// ping after its buffered records were flushed. With Proceed it always
// returns nil (and counts the failure).
func (t *Trail) Ready(ctx context.Context) error {
	var errs []error
	for i, s := range t.o.Sinks {
		t.mu.Lock()
		ok := t.o.Now().Before(t.healthy[i]) && !t.hasPending(i)
		t.mu.Unlock()
		if ok {
			continue
		}
		if err := t.check(ctx, i, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	err := errors.Join(errs...)
	if t.o.Proceed {
		t.fail(ctx, "proceeded", 1)
		t.o.Logger.WarnContext(ctx, "audit sink down; proceeding without a guaranteed record (audit.on_error: proceed)", "err", err)
		return nil
	}
	t.fail(ctx, "refused", 1)
	t.o.Logger.ErrorContext(ctx, "audit sink down; write refused", "err", err)
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (t *Trail) check(ctx context.Context, i int, s Sink) error {
	ctx, cancel := context.WithTimeout(ctx, t.o.PingTimeout)
	defer cancel()
	if err := t.flushSink(ctx, i); err != nil {
		return err
	}
	if err := s.Ping(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	t.healthy[i] = t.o.Now().Add(t.o.HealthTTL)
	t.mu.Unlock()
	return nil
}

// hasPending reports buffered records for sink i; t.mu held.
func (t *Trail) hasPending(i int) bool {
	for _, p := range t.pending {
		if p.sink == i {
			return true
		}
	}
	return false
}

// Record implements Recorder: append to every sink now; a sink that fails
// gets the record buffered for retry. The caller's response is never
// changed by a failure here (the change already happened).
func (t *Trail) Record(ctx context.Context, r Record) {
	if r.Time.IsZero() {
		r.Time = t.o.Now()
	}
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	for i, s := range t.o.Sinks {
		// Records queued earlier for this sink go first, keeping its order.
		// With nothing buffered at all there are none, and no lock to take.
		queued := false
		if t.buffered.Load() > 0 {
			t.mu.Lock()
			queued = t.hasPending(i)
			t.mu.Unlock()
		}
		// rec is r as the sink left it (Append sets ID and Time): a copy of
		// the struct, sharing r's maps and slices. No sink changes them, the
		// memory store keeps its own JSON encoding, and the caller built
		// them for this record alone. A deep copy per sink here cost four
		// allocations per update.
		var (
			rec Record
			err error
		)
		switch {
		case queued:
			rec, err = r, errors.New("earlier records are still buffered")
		case t.nonBlocking[i]:
			// The change is done: a client that hung up must not cancel its
			// record. This sink cannot hang: no timeout.
			rec, err = appendNow(ctx, s, r)
		default:
			// The change is done: a client that hung up must not cancel its
			// record, but a hanging sink must not hold the response forever.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.o.PingTimeout)
			rec, err = appendTo(actx, s, r)
			cancel()
		}
		if err == nil {
			r.ID = rec.ID // the store's id, for the sinks after it
			t.mu.Lock()
			t.healthy[i] = t.o.Now().Add(t.o.HealthTTL)
			t.mu.Unlock()
			continue
		}
		t.buffer(ctx, i, rec, err)
	}
}

// appendNow appends r to a sink that cannot block and returns it as the
// sink left it. The memory store is called as itself, with no context (its
// Append ignores it): through the Sink interface the record's copy escaped
// to the heap, an allocation of 224 bytes per update, and the context
// wrapper was another (TestTrailRecordAllocations).
func appendNow(ctx context.Context, s Sink, r Record) (Record, error) {
	if m, ok := s.(*MemoryStore); ok {
		err := m.Append(context.Background(), &r)
		return r, err
	}
	return appendTo(context.WithoutCancel(ctx), s, r)
}

// appendTo appends r to s and returns it as s left it.
func appendTo(ctx context.Context, s Sink, r Record) (Record, error) {
	err := s.Append(ctx, &r)
	return r, err
}

func (t *Trail) buffer(ctx context.Context, i int, rec Record, err error) {
	t.mu.Lock()
	t.healthy[i] = time.Time{}
	t.seq++
	t.pending = append(t.pending, pendingRecord{seq: t.seq, sink: i, rec: rec})
	var dropped []pendingRecord
	if over := len(t.pending) - t.o.BufferSize; over > 0 {
		dropped = append(dropped, t.pending[:over]...)
		t.pending = append(t.pending[:0:0], t.pending[over:]...)
	}
	t.buffered.Store(int64(len(t.pending)))
	t.mu.Unlock()
	t.fail(ctx, "append_failed", 1)
	t.o.Logger.ErrorContext(ctx, "audit record not stored; buffered for retry", "sink", t.o.Sinks[i].Name(),
		"action", rec.Action, "user", rec.User, "trace_id", rec.TraceID, "err", err)
	if len(dropped) > 0 {
		t.fail(ctx, "dropped", len(dropped))
		for _, d := range dropped {
			t.o.Logger.ErrorContext(ctx, "audit buffer full; record dropped", "sink", t.o.Sinks[d.sink].Name(),
				"action", d.rec.Action, "user", d.rec.User, "trace_id", d.rec.TraceID, "time", d.rec.Time)
		}
	}
}

// Buffered is the number of records waiting for retry.
func (t *Trail) Buffered() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// Flush retries every buffered record; it stops at a sink's first failure.
func (t *Trail) Flush(ctx context.Context) error {
	var errs []error
	for i := range t.o.Sinks {
		errs = append(errs, t.flushSink(ctx, i))
	}
	return errors.Join(errs...)
}

func (t *Trail) flushSink(ctx context.Context, i int) error {
	for {
		t.mu.Lock()
		idx := -1
		for j, p := range t.pending {
			if p.sink == i {
				idx = j
				break
			}
		}
		if idx < 0 {
			t.mu.Unlock()
			return nil
		}
		p := t.pending[idx]
		t.mu.Unlock()
		if err := t.o.Sinks[i].Append(ctx, &p.rec); err != nil {
			return err
		}
		t.mu.Lock()
		// Remove that entry (the slice may have grown or been trimmed).
		for j, q := range t.pending {
			if q.seq == p.seq {
				t.pending = append(t.pending[:j], t.pending[j+1:]...)
				break
			}
		}
		t.buffered.Store(int64(len(t.pending)))
		t.mu.Unlock()
	}
}

// Run retries buffered records every interval until ctx ends.
func (t *Trail) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if t.Buffered() > 0 {
				if err := t.Flush(ctx); err != nil {
					t.o.Logger.WarnContext(ctx, "audit retry failed; records stay buffered", "buffered", t.Buffered(), "err", err)
				}
			}
		}
	}
}

// Close makes a last attempt to store buffered records and reports what is
// lost.
func (t *Trail) Close(ctx context.Context) error {
	if t.Buffered() == 0 {
		return nil
	}
	if err := t.Flush(ctx); err != nil {
		return fmt.Errorf("audit: %d records could not be stored before shutdown: %w", t.Buffered(), err)
	}
	return nil
}
