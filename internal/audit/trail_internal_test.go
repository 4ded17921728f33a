package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// ctxProbe is a sink that keeps the context its last Append was given.
type ctxProbe struct {
	nonBlocking bool
	ctx         context.Context
	// deadline and err are the context's, seen inside Append.
	deadline    time.Time
	hasDeadline bool
	err         error
}

func (p *ctxProbe) Append(ctx context.Context, r *Record) error {
	p.ctx = ctx
	p.deadline, p.hasDeadline = ctx.Deadline()
	p.err = ctx.Err()
	return nil
}
func (p *ctxProbe) Ping(context.Context) error { return nil }
func (p *ctxProbe) Name() string               { return "probe" }
func (p *ctxProbe) appendsWithoutBlocking(s Sink) bool {
	return p.nonBlocking && s == Sink(p)
}

type ctxKey struct{}

// TestTrailNonBlockingSinkHasNoTimeout: a sink that cannot block gets the
// caller's context without its cancellation and without a deadline (no
// timer per record); any other sink still gets PingTimeout.
func TestTrailNonBlockingSinkHasNoTimeout(t *testing.T) {
	fast, slow := &ctxProbe{nonBlocking: true}, &ctxProbe{}
	tr, err := NewTrail(Options{Sinks: []Sink{fast, slow}, PingTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	cancel() // the client hung up: its record is still stored
	before := time.Now()
	tr.Record(ctx, Record{Action: ActionUserUpdate, User: "u"})
	if fast.ctx == nil || slow.ctx == nil {
		t.Fatal("a sink was not called")
	}
	if fast.hasDeadline || fast.err != nil || fast.ctx.Done() != nil {
		t.Errorf("non-blocking sink: deadline %v (%v), err %v, done %v; want none", fast.deadline, fast.hasDeadline, fast.err, fast.ctx.Done())
	}
	if !slow.hasDeadline || slow.deadline.Before(before.Add(time.Minute)) || slow.deadline.After(time.Now().Add(time.Minute)) || slow.err != nil {
		t.Errorf("other sink: deadline %v (%v), err %v; want PingTimeout from now", slow.deadline, slow.hasDeadline, slow.err)
	}
	// Cancelled once Record returned: the timer was stopped.
	if slow.ctx.Err() == nil {
		t.Error("other sink's context not cancelled after Append")
	}
	for _, p := range []*ctxProbe{fast, slow} {
		if p.ctx.Value(ctxKey{}) != "v" {
			t.Error("a sink lost the caller's context values")
		}
	}
}

// flaky embeds a memory store but replaces its Append: it may block.
type flaky struct{ *MemoryStore }

func (f flaky) Append(ctx context.Context, r *Record) error { return f.MemoryStore.Append(ctx, r) }

func TestTrailNonBlockingSinks(t *testing.T) {
	var buf bytes.Buffer
	sinks := []Sink{NewMemoryStore(), NewBoundedMemoryStore(10), flaky{NewMemoryStore()}, NewJSONLSink(&buf), &ctxProbe{}}
	tr, err := NewTrail(Options{Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false, false, false}; !equalBools(tr.nonBlocking, want) {
		t.Fatalf("nonBlocking = %v, want %v", tr.nonBlocking, want)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTrailBufferedCount: Record skips the lock while nothing is buffered;
// the count it reads must follow every change to the queue, and a sink with
// nothing queued still gets its records while another's are buffered.
func TestTrailBufferedCount(t *testing.T) {
	ctx := context.Background()
	down, up := NewMemoryStore(), NewMemoryStore()
	tr, err := NewTrail(Options{Sinks: []Sink{down, up}, BufferSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	check := func(want int) {
		t.Helper()
		tr.mu.Lock()
		n := len(tr.pending)
		tr.mu.Unlock()
		if n != want || tr.buffered.Load() != int64(n) {
			t.Fatalf("pending %d, count %d, want %d", n, tr.buffered.Load(), want)
		}
	}
	users := func(s *MemoryStore) string {
		p, err := s.Query(ctx, Query{})
		if err != nil {
			t.Fatal(err)
		}
		var u []string
		for _, r := range p.Records {
			u = append(u, r.User)
		}
		return strings.Join(u, ",")
	}
	down.SetFailure(errors.New("down"))
	for i, u := range []string{"a", "b", "c", "d"} {
		tr.Record(ctx, Record{User: u})
		check(min(i+1, 3))
	}
	if got := users(up); got != "d,c,b,a" {
		t.Fatalf("healthy sink = %s", got)
	}
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("flush to a sink that is down succeeded")
	}
	check(3)
	down.SetFailure(nil)
	// Queued records go first: e waits behind b, c, d.
	tr.Record(ctx, Record{User: "e"})
	check(3) // e buffered, b (the oldest) dropped
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check(0)
	tr.Record(ctx, Record{User: "f"})
	check(0)
	if got := users(down); got != "f,e,d,c" {
		t.Fatalf("healed sink = %s", got)
	}
}

// TestMemoryStoreKeepsMarshalBytes: what the memory store keeps is
// json.Marshal's encoding of the record it was given (ID 0, UTC micros).
func TestMemoryStoreKeepsMarshalBytes(t *testing.T) {
	s := NewMemoryStore()
	r := Record{ID: 9, Time: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("", 3600)), Action: "a<b>", User: "\u2028\xff",
		Fields: []string{"x"}, Values: map[string]string{"b": "1", "a": "2"}, Targets: map[string]TargetOutcome{"t": {Status: "applied"}},
		Status: "applied", HTTPStatus: 200, Detail: map[string]string{"k": "v"}}
	want := r
	want.ID, want.Time = 0, want.Time.UTC().Truncate(time.Microsecond)
	wantRaw, err := json.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), &r); err != nil {
		t.Fatal(err)
	}
	user, client, raw := s.fields(&s.entries[0])
	if !bytes.Equal(raw, wantRaw) {
		t.Fatalf("kept %s\nwant %s", raw, wantRaw)
	}
	if string(user) != r.User || string(client) != r.Client {
		t.Fatalf("kept user %q and client %q, want %q and %q", user, client, r.User, r.Client)
	}
	// json.Marshal's error where it fails.
	bad := Record{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, merr := json.Marshal(&Record{Time: bad.Time})
	if err := s.Append(context.Background(), &bad); err == nil || merr == nil || err.Error() != "audit: memory: encode: "+merr.Error() {
		t.Fatalf("year 10000: %v, json.Marshal: %v", err, merr)
	}
}

// TestAppendTimeFailsExactlyWhereMarshalJSONFails: AppendJSON falls back to
// json.Marshal where appendTime refuses a time, which would hide a check
// that refused too much; so the check is compared on its own.
func TestAppendTimeFailsExactlyWhereMarshalJSONFails(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("", 1), time.FixedZone("", -59), time.FixedZone("", 23*3600+59*60+59),
		time.FixedZone("", -24*3600+1), time.FixedZone("", 24*3600), time.FixedZone("", -24*3600), time.FixedZone("", 99*3600),
		time.FixedZone("", 100*3600), time.FixedZone("", -1000*3600)}
	var times []time.Time
	for _, y := range []int{-10000, -1, 0, 1, 1969, 1970, 2026, 9999, 10000, 100000} {
		for _, ns := range []int{0, 1, 100, 123456000, 999999999} {
			for _, z := range zones {
				times = append(times, time.Date(y, 1, 1, 0, 0, 0, ns, time.UTC).In(z), time.Date(y, 12, 31, 23, 59, 59, ns, time.UTC).In(z))
			}
		}
	}
	times = append(times, time.Time{}, time.Unix(1<<62, 0), time.Unix(-1<<62, 0), time.Now())
	for _, tm := range times {
		want, werr := tm.MarshalJSON()
		got, ok := appendTime([]byte("x"), tm)
		if ok != (werr == nil) || ok && string(got) != "x"+string(want) {
			t.Errorf("%v: appendTime %q, %v; MarshalJSON %q, %v", tm, got, ok, want, werr)
		}
	}
}
