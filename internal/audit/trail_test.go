package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/identity-gateway/identity-gateway/internal/audit"
)

func failures(t *testing.T, r *metric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "gateway.audit.failures" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("reason")
				out[v.AsString()] = dp.Value
			}
		}
	}
	return out
}

func newTrail(t *testing.T, proceed bool, sinks ...audit.Sink) (*audit.Trail, *metric.ManualReader) {
	t.Helper()
	reader := metric.NewManualReader()
	tr, err := audit.NewTrail(audit.Options{Sinks: sinks, Proceed: proceed, BufferSize: 2,
		MeterProvider: metric.NewMeterProvider(metric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	return tr, reader
}

func TestTrailRefusesWhileTheSinkIsDown(t *testing.T) {
	ctx := context.Background()
	store := audit.NewMemoryStore()
	tr, reader := newTrail(t, false, store)
	if err := tr.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	store.SetFailure(errors.New("connection refused"))
	// The health vouched by the last ping lasts HealthTTL; a failed append
	// withdraws it at once.
	tr.Record(ctx, audit.Record{Action: audit.ActionUserUpdate, User: "u-1"})
	if err := tr.Ready(ctx); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Ready with the sink down = %v, want ErrUnavailable", err)
	}
	if got := failures(t, reader); got["refused"] != 1 || got["append_failed"] != 1 {
		t.Fatalf("failures = %v", got)
	}
	store.SetFailure(nil)
	if err := tr.Ready(ctx); err != nil {
		t.Fatalf("healed: %v", err)
	}
	// Ready flushed the buffered record first.
	if tr.Buffered() != 0 {
		t.Fatalf("buffered = %d after healing", tr.Buffered())
	}
	p, err := store.Query(ctx, audit.Query{User: "u-1"})
	if err != nil || len(p.Records) != 1 {
		t.Fatalf("records after retry = %+v, %v", p.Records, err)
	}
}

func TestTrailProceedCountsInsteadOfRefusing(t *testing.T) {
	ctx := context.Background()
	store := audit.NewMemoryStore()
	store.SetFailure(errors.New("down"))
	tr, reader := newTrail(t, true, store)
	if err := tr.Ready(ctx); err != nil {
		t.Fatalf("proceed: Ready = %v", err)
	}
	if got := failures(t, reader); got["proceeded"] != 1 {
		t.Fatalf("failures = %v", got)
	}
}

func TestTrailBufferIsBoundedAndFlushKeepsOrder(t *testing.T) {
	ctx := context.Background()
	store := audit.NewMemoryStore()
	tr, reader := newTrail(t, false, store)
	store.SetFailure(errors.New("down"))
	for _, u := range []string{"a", "b", "c"} {
		tr.Record(ctx, audit.Record{Action: audit.ActionUserUpdate, User: u})
	}
	if tr.Buffered() != 2 {
		t.Fatalf("buffered = %d, want the bound 2", tr.Buffered())
	}
	if got := failures(t, reader); got["dropped"] != 1 || got["append_failed"] != 3 {
		t.Fatalf("failures = %v", got)
	}
	store.SetFailure(nil)
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p, _ := store.Query(ctx, audit.Query{})
	var users []string
	for _, r := range p.Records {
		users = append(users, r.User)
	}
	if strings.Join(users, ",") != "c,b" {
		t.Fatalf("stored users (newest first) = %v, want c,b (a dropped)", users)
	}
}

func TestJSONLSinkWritesOneLinePerRecord(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	store := audit.NewMemoryStore()
	tr, _ := newTrail(t, false, store, audit.NewJSONLSink(&buf))
	tr.Record(ctx, audit.Record{Action: audit.ActionUserUpdate, User: "u-1", Client: "hr", TraceID: "t1"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("lines = %q", buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	if got["audit"] != true || got["user"] != "u-1" || got["trace_id"] != "t1" || got["id"] != float64(1) {
		t.Fatalf("line = %v", got)
	}
}

func TestValuePolicy(t *testing.T) {
	if _, ok := audit.ValuesNone.Value("a@b"); ok {
		t.Error("none stored a value")
	}
	if v, _ := audit.ValuesPlain.Value("A@b"); v != "A@b" {
		t.Errorf("plain = %q", v)
	}
	h1, _ := audit.ValuesHashed.Value("Jane@Example.com")
	h2, _ := audit.ValuesHashed.Value(" jane@example.com")
	if h1 != h2 || !strings.HasPrefix(h1, "sha256:") || strings.Contains(h1, "jane") {
		t.Errorf("hashed = %q / %q", h1, h2)
	}
}

func TestBoundedMemoryStoreKeepsTheNewest(t *testing.T) {
	ctx := context.Background()
	s := audit.NewBoundedMemoryStore(2)
	for _, u := range []string{"a", "b", "c"} {
		if err := s.Append(ctx, &audit.Record{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := s.Query(ctx, audit.Query{})
	if len(p.Records) != 2 || p.Records[0].User != "c" || p.Records[1].User != "b" {
		t.Fatalf("records = %+v", p.Records)
	}
	// Past several turns of the ring, and after a prune,
	// the newest max are still the ones kept.
	s = audit.NewBoundedMemoryStore(3)
	for i := range 20 {
		if err := s.Append(ctx, &audit.Record{User: strconv.Itoa(i), Time: time.Unix(int64(i), 0)}); err != nil {
			t.Fatal(err)
		}
		p, _ := s.Query(ctx, audit.Query{Limit: 10})
		if want := min(i+1, 3); len(p.Records) != want || p.Records[0].User != strconv.Itoa(i) || p.Records[want-1].User != strconv.Itoa(i+1-want) {
			t.Fatalf("after %d appends: %+v", i+1, p.Records)
		}
	}
	if n, err := s.Prune(ctx, time.Unix(19, 0)); n != 2 || err != nil {
		t.Fatalf("pruned %d: %v", n, err)
	}
	if p, _ := s.Query(ctx, audit.Query{}); len(p.Records) != 1 || p.Records[0].User != "19" {
		t.Fatalf("after the prune: %+v", p.Records)
	}
}

// gatewayRecord is what the gateway records for a one-target update.
func gatewayRecord(i int) audit.Record {
	h, _ := audit.ValuesHashed.Value("user" + strconv.Itoa(i) + "@example.com")
	return audit.Record{Action: "user.update", User: "user" + strconv.Itoa(i), Client: "default", AuthMethod: "api_key",
		Fields: []string{"email"}, Values: map[string]string{"email": h}, Status: "applied", HTTPStatus: 200,
		Targets:        map[string]audit.TargetOutcome{"commvault": {VendorID: strconv.Itoa(1000 + i), Status: "applied"}},
		IdempotencyKey: "key-" + strconv.Itoa(i), TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
}

// BenchmarkBoundedAppend: a full bounded store (the gateway's memory sink
// keeps 100,000) copied its records on every append (a second of CPU per
// thousand requests); it dropped its front once per max appends, and is
// now a ring of JSON encodings.
func BenchmarkBoundedAppend(b *testing.B) {
	ctx := context.Background()
	s := audit.NewBoundedMemoryStore(100_000)
	r := gatewayRecord(1)
	for range 100_000 {
		_ = s.Append(ctx, &r)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Append(ctx, &r)
	}
}

// TestMemoryAppendAllocations: appending to a full memory store allocates
// nothing per record: the encoding is copied into a chunk made once per
// hundred or so records. Its encoding buffer lives on the stack only while
// nothing it is handed to lets it escape; when one did (the record's maps
// encoded through a func value), every update paid a zeroed 1 KB heap
// buffer besides.
func TestMemoryAppendAllocations(t *testing.T) {
	ctx := context.Background()
	s := audit.NewBoundedMemoryStore(10)
	r := gatewayRecord(1)
	r.Detail = map[string]string{"reason": "drift", "source": "okta"}
	r.Targets["frontier"] = audit.TargetOutcome{Status: "failed", Code: "vendor_unavailable"}
	for range 10 {
		_ = s.Append(ctx, &r)
	}
	if n := testing.AllocsPerRun(100, func() { _ = s.Append(ctx, &r) }); n != 0 {
		t.Errorf("Append allocated %v times per record, want 0 (a chunk for every hundred or so)", n)
	}
}

// TestTrailRecordAllocations: recording an update into the memory sink
// allocates nothing per record (TestMemoryAppendAllocations). Through the Sink interface
// the record's per-sink copy escaped to the heap, and so did the context
// wrapper the memory sink ignores.
func TestTrailRecordAllocations(t *testing.T) {
	ctx := context.Background()
	tr, err := audit.NewTrail(audit.Options{Sinks: []audit.Sink{audit.NewBoundedMemoryStore(10)}})
	if err != nil {
		t.Fatal(err)
	}
	r := gatewayRecord(1)
	for range 10 {
		tr.Record(ctx, r)
	}
	if n := testing.AllocsPerRun(100, func() { tr.Record(ctx, r) }); n != 0 {
		t.Errorf("Record allocated %v times per record, want 0", n)
	}
}

// TestBoundedMemoryStoreHeap: the gateway's memory sink, full, was 60% of a
// loaded gateway's live heap (1.4 KB a record, maps the collector walks each
// cycle); kept as JSON a record is under 600 bytes.
func TestBoundedMemoryStoreHeap(t *testing.T) {
	const n = 20_000
	heap := func() uint64 { var m runtime.MemStats; runtime.GC(); runtime.ReadMemStats(&m); return m.HeapAlloc }
	ctx := context.Background()
	recs := make([]audit.Record, n)
	for i := range recs {
		recs[i] = gatewayRecord(i)
	}
	before := heap()
	s := audit.NewBoundedMemoryStore(n)
	for i := range 2 * n { // full, and once round the ring
		if err := s.Append(ctx, &recs[i%n]); err != nil {
			t.Fatal(err)
		}
	}
	per := float64(heap()-before) / n
	runtime.KeepAlive(recs)
	t.Logf("%.0f bytes of heap per kept record", per)
	if per > 600 {
		t.Errorf("%.0f bytes of heap per kept record, want at most 600", per)
	}
	if p, _ := s.Query(ctx, audit.Query{Limit: 1}); len(p.Records) != 1 || p.Records[0].User != recs[n-1].User ||
		p.Records[0].Values["email"] != recs[n-1].Values["email"] || p.Records[0].Targets["commvault"] != recs[n-1].Targets["commvault"] {
		t.Fatalf("newest record = %+v", p.Records)
	}
}

func TestRunRetentionPrunesAtStart(t *testing.T) {
	s := audit.NewMemoryStore()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithCancel(context.Background())
	for _, age := range []time.Duration{100 * 24 * time.Hour, time.Hour} {
		s.Append(ctx, &audit.Record{Time: now.Add(-age), User: "u"})
	}
	var pruned int64
	audit.RunRetention(ctx, s, 90*24*time.Hour, time.Hour, func() time.Time { return now }, func(n int64, err error) {
		pruned = n
		cancel()
	})
	if pruned != 1 {
		t.Fatalf("pruned %d, want 1", pruned)
	}
}
