package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/internal/faultinject"
)

// vendor is a scripted upstream: it records bodies and trace headers and
// answers 200, behind a fault injector.
type vendor struct {
	mu          sync.Mutex
	bodies      []string
	traceparent []string
	status      int
	// hang, when set, is told of each request, which then waits for its
	// client to go away.
	hang chan<- struct{}
}

func (v *vendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	v.mu.Lock()
	hang := v.hang
	v.mu.Unlock()
	if hang != nil {
		hang <- struct{}{}
		<-r.Context().Done()
		return
	}
	v.mu.Lock()
	v.bodies = append(v.bodies, string(b))
	v.traceparent = append(v.traceparent, r.Header.Get("traceparent"))
	status := v.status
	v.mu.Unlock()
	if status == 0 {
		status = 200
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"ok":true}`))
}

type rig struct {
	v      *vendor
	inj    *faultinject.Injector
	srv    *httptest.Server
	client *Client
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func newRig(t *testing.T, mod func(*Options)) *rig {
	t.Helper()
	r := &rig{v: &vendor{}}
	r.inj = faultinject.New(r.v)
	r.srv = httptest.NewServer(r.inj)
	t.Cleanup(r.srv.Close)
	u, _ := url.Parse(r.srv.URL)
	o := Options{Vendor: "acme", BaseURL: u, AttemptTimeout: 2 * time.Second,
		Retry:   RetryPolicy{Max: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond},
		Breaker: BreakerPolicy{ConsecutiveFailures: 3, OpenFor: time.Minute}}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.client = c
	return r
}

func put(body string) *adapters.Call {
	return &adapters.Call{Name: "put user", Kind: adapters.Write, Method: "PUT", Path: "/v1/users/1", Body: []byte(body),
		Header: http.Header{"Content-Type": {"application/json"}}}
}

func code(err error) canonical.Code {
	var e *canonical.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestTwoFailuresThenSuccess(t *testing.T) {
	r := newRig(t, nil)
	r.inj.Set(faultinject.Rule{FailTimes: 2, Status: 503})
	resp, err := r.client.Do(context.Background(), put(`{"a":1}`))
	if err != nil || resp.Status != 200 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if resp.Attempts != 3 || len(resp.AttemptStatuses) != 3 || resp.AttemptStatuses[0] != 503 || resp.AttemptStatuses[2] != 200 {
		t.Errorf("attempts %d statuses %v", resp.Attempts, resp.AttemptStatuses)
	}
	// The vendor handler itself saw the third attempt; the injector saw all
	// three with the same body (it answered two).
	if r.inj.Faulted() != 2 || len(r.v.bodies) != 1 || r.v.bodies[0] != `{"a":1}` {
		t.Errorf("faulted %d bodies %v", r.inj.Faulted(), r.v.bodies)
	}
}

func TestSameBodyEveryAttempt(t *testing.T) {
	r := newRig(t, nil)
	r.v.status = 502
	resp, err := r.client.Do(context.Background(), put(`{"same":"body"}`))
	if err != nil || resp.Status != 502 || resp.Attempts != 4 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	for _, b := range r.v.bodies {
		if b != `{"same":"body"}` {
			t.Fatalf("bodies %v", r.v.bodies)
		}
	}
	if len(r.v.bodies) != 4 {
		t.Errorf("vendor saw %d attempts", len(r.v.bodies))
	}
}

func TestBreakerOpensAndFailsFast(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	r := newRig(t, func(o *Options) { o.Retry.Max = 0; o.Now = clock.Now })
	r.v.status = 503
	for i := 0; i < 3; i++ {
		if _, err := r.client.Do(context.Background(), put(`{}`)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if r.client.State() != "open" {
		t.Fatalf("state %s after 3 failures", r.client.State())
	}
	before := len(r.v.bodies)
	_, err := r.client.Do(context.Background(), put(`{}`))
	var e *canonical.Error
	if !errors.As(err, &e) || e.Code != canonical.CodeCircuitOpen || e.RetryAfter <= 0 || e.RetryAfter > time.Minute {
		t.Fatalf("err %v", err)
	}
	if len(r.v.bodies) != before {
		t.Error("an open breaker touched the vendor")
	}
}

func TestBreakerHalfOpenThenCloses(t *testing.T) {
	const openFor = 20 * time.Millisecond
	r := newRig(t, func(o *Options) { o.Retry.Max = 0; o.Breaker.OpenFor = openFor })
	r.v.status = 500
	for i := 0; i < 3; i++ {
		_, _ = r.client.Do(context.Background(), put(`{}`))
	}
	if r.client.State() != "open" {
		t.Fatalf("state %s", r.client.State())
	}
	r.v.mu.Lock()
	r.v.status = 200
	r.v.mu.Unlock()
	// gobreaker reads the wall clock and takes no other: its open period
	// has to pass in real time. This waits for the breaker's own timer, not
	// for another goroutine; the state changes when it is next read.
	<-time.After(openFor)
	if r.client.State() != "half-open" {
		t.Fatalf("state %s", r.client.State())
	}
	if resp, err := r.client.Do(context.Background(), put(`{}`)); err != nil || resp.Status != 200 {
		t.Fatalf("trial call: %v", err)
	}
	if r.client.State() != "closed" {
		t.Errorf("state %s after a successful trial", r.client.State())
	}
}

func TestFourHundredsNeverOpenTheBreaker(t *testing.T) {
	r := newRig(t, nil)
	r.v.status = 409
	for i := 0; i < 20; i++ {
		resp, err := r.client.Do(context.Background(), put(`{}`))
		if err != nil || resp.Status != 409 || resp.Attempts != 1 {
			t.Fatalf("call %d: %+v %v", i, resp, err)
		}
	}
	if r.client.State() != "closed" {
		t.Errorf("state %s", r.client.State())
	}
}

func TestRetryAfterHonouredWithinCap(t *testing.T) {
	r := newRig(t, nil)
	r.inj.Set(faultinject.Rule{FailTimes: 1, Status: 429, RetryAfter: "0"})
	resp, err := r.client.Do(context.Background(), put(`{}`))
	if err != nil || resp.Status != 200 || resp.Attempts != 2 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
}

func TestRetryAfterBeyondDeadlineFailsAtOnce(t *testing.T) {
	r := newRig(t, nil)
	r.inj.Set(faultinject.Rule{FailTimes: 5, Status: 429, RetryAfter: "30"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := r.client.Do(ctx, put(`{}`))
	if err != nil || resp.Status != 429 || resp.Attempts != 1 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if resp.Header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After lost: %v", resp.Header)
	}
	// The vendor's 30s is reported capped at max_retry_after (50ms here).
	mapped := adapters.StatusError(resp, adapters.ServiceCredential, "")
	if mapped.Code != canonical.CodeRateLimited || mapped.RetryAfter != 50*time.Millisecond {
		t.Errorf("mapped %+v", mapped)
	}
	if time.Since(start) > time.Second {
		t.Error("waited instead of failing at once")
	}
}

func TestHangHitsAttemptTimeout(t *testing.T) {
	r := newRig(t, func(o *Options) { o.AttemptTimeout = 30 * time.Millisecond; o.Retry.Max = 1 })
	r.inj.Set(faultinject.Rule{Hang: true})
	_, err := r.client.Do(context.Background(), put(`{}`))
	if code(err) != canonical.CodeUpstreamTimeout {
		t.Fatalf("err %v", err)
	}
}

// The attempt timeout covers the body too: a vendor that sends its headers
// and then stalls is cut off, and the retry's fresh attempt gets its own
// full timeout.
func TestStalledBodyHitsAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"partial":`))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	u, _ := url.Parse(srv.URL)
	c, err := New(Options{Vendor: "acme", BaseURL: u, AttemptTimeout: 50 * time.Millisecond,
		Retry: RetryPolicy{Max: 1, MinWait: time.Millisecond, MaxWait: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	// The body is read within the attempt: a stalled body is a timed-out
	// attempt, not a hang, and is retried as one.
	resp, err := c.Do(context.Background(), put(`{}`))
	if err != nil || resp.Status != 200 || resp.Attempts != 2 || !slices.Equal(resp.AttemptOutcomes, []string{OutcomeTimeout, ""}) {
		t.Fatalf("resp %+v err %v (calls %d)", resp, err, calls.Load())
	}
}

func TestResetIsRetried(t *testing.T) {
	r := newRig(t, nil)
	r.inj.Set(faultinject.Rule{FailTimes: 1, Reset: true})
	resp, err := r.client.Do(context.Background(), put(`{}`))
	if err != nil || resp.Status != 200 || resp.Attempts != 2 || resp.AttemptStatuses[0] != 0 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
}

func TestPermanentResetIsUnavailable(t *testing.T) {
	r := newRig(t, nil)
	r.inj.Set(faultinject.Rule{Reset: true})
	_, err := r.client.Do(context.Background(), put(`{}`))
	if code(err) != canonical.CodeUpstreamUnavailable {
		t.Fatalf("err %v", err)
	}
}

func TestCallerCancelIsNotABreakerFailure(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Breaker.ConsecutiveFailures = 1 })
	arrived := make(chan struct{}, 1)
	r.v.mu.Lock()
	r.v.hang = arrived
	r.v.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := r.client.Do(ctx, put(`{}`)); done <- err }()
	<-arrived // the call is at the vendor
	cancel()
	if err := <-done; err == nil {
		t.Fatal("want an error")
	}
	if r.client.State() != "closed" {
		t.Errorf("state %s: a cancellation counted against the vendor", r.client.State())
	}
}

func TestClassifierHealthy503(t *testing.T) {
	r := newRig(t, func(o *Options) {
		o.Breaker.ConsecutiveFailures = 1
		o.Classify = func(resp *adapters.Response) adapters.Class {
			if resp.Status == 503 {
				return adapters.Healthy
			}
			return adapters.Default
		}
	})
	r.v.status = 503
	for i := 0; i < 3; i++ {
		resp, err := r.client.Do(context.Background(), put(`{}`))
		if err != nil || resp.Attempts != 1 {
			t.Fatalf("resp %+v err %v", resp, err)
		}
	}
	if r.client.State() != "closed" {
		t.Errorf("state %s", r.client.State())
	}
}

func TestTraceparentAndMetrics(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := newRig(t, func(o *Options) {
		o.TracerProvider, o.MeterProvider, o.Propagator = tp, mp, propagation.TraceContext{}
	})
	r.inj.Set(faultinject.Rule{FailTimes: 1})
	ctx, span := tp.Tracer("test").Start(context.Background(), "parent")
	if _, err := r.client.Do(ctx, put(`{}`)); err != nil {
		t.Fatal(err)
	}
	span.End()
	tid := span.SpanContext().TraceID().String()
	if len(r.v.traceparent) != 1 || len(r.v.traceparent[0]) < 36 || r.v.traceparent[0][3:35] != tid {
		t.Errorf("vendor traceparent %v, trace %s", r.v.traceparent, tid)
	}
	clientSpans := 0
	for _, s := range rec.Ended() {
		if s.Name() == "acme put user" {
			clientSpans++
		}
	}
	if clientSpans != 2 {
		t.Errorf("client spans %d, want one per attempt (2)", clientSpans)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names[m.Name] = true
		}
	}
	for _, n := range []string{"gateway.vendor.calls", "gateway.vendor.call.duration", "gateway.vendor.retries", "gateway.vendor.breaker.state"} {
		if !names[n] {
			t.Errorf("metric %s missing (have %v)", n, names)
		}
	}
}

func BenchmarkDo(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	c, err := New(Options{Vendor: "bench", BaseURL: u})
	if err != nil {
		b.Fatal(err)
	}
	call := put(`{"title":"x"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Do(context.Background(), call); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPathsStayUnderTheBaseURL(t *testing.T) {
	r := newRig(t, nil)
	for _, p := range []string{"v1/users/1", "//evil.example/x", "/a#frag", `/a\b`} {
		_, err := r.client.Do(context.Background(), &adapters.Call{Name: "bad", Method: "GET", Path: p})
		if code(err) != canonical.CodeInternal {
			t.Errorf("%q: err %v", p, err)
		}
	}
	if len(r.v.bodies) != 0 {
		t.Error("a bad path reached the vendor")
	}
}

// TestConnectionsAreReusedAndCapped: calls reuse kept-alive connections (16
// concurrent callers making 1600 calls dial about 16, not hundreds), and
// max_per_host caps the connections open at once while every call still
// completes.
func TestConnectionsAreReusedAndCapped(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pool    Pool
		maxNew  int64
		maxOpen int64
	}{
		// net/http may finish a dial it started for a caller that then got
		// a returned connection, so a few more than the callers can open;
		// without reuse it would be hundreds.
		{"reused", Pool{MaxIdle: 256}, 32, 32},
		// The cap is hard: never more than 4 open at once.
		{"capped at 4", Pool{MaxIdle: 256, MaxPerHost: 4}, 8, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dialed, open, maxOpen atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				_, _ = w.Write([]byte(`{}`))
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				switch s {
				case http.StateNew:
					dialed.Add(1)
					n := open.Add(1)
					for m := maxOpen.Load(); n > m && !maxOpen.CompareAndSwap(m, n); m = maxOpen.Load() {
					}
				case http.StateClosed, http.StateHijacked:
					open.Add(-1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			u, _ := url.Parse(srv.URL)
			c, err := New(Options{Vendor: "acme", BaseURL: u, Pool: tc.pool})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 100; i++ {
						resp, err := c.Do(context.Background(), put(`{}`))
						if err != nil || resp.Status != 200 {
							t.Errorf("call: %+v %v", resp, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if d := dialed.Load(); d < 1 || d > tc.maxNew {
				t.Errorf("%d connections dialed for 1600 calls, want 1..%d", d, tc.maxNew)
			}
			if m := maxOpen.Load(); m > tc.maxOpen {
				t.Errorf("%d connections open at once, want at most %d", m, tc.maxOpen)
			}
		})
	}
}

// countingConn counts the writes made on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestOneWritePerCall: a small vendor call leaves in one write, headers and
// body together, also on retries. (Two writes per call cost a syscall here
// and a read at the vendor.)
func TestOneWritePerCall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		call      *adapters.Call
		failTimes int
		attempts  int64
	}{
		{"PUT with a body", put(`{"title":"x"}`), 0, 1},
		{"PUT retried twice", put(`{"title":"y"}`), 2, 3},
		{"GET without a body", &adapters.Call{Name: "get user", Kind: adapters.Read, Method: "GET", Path: "/v1/users/1"}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var writes atomic.Int64
			tr := http.DefaultTransport.(*http.Transport).Clone()
			d := &net.Dialer{}
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return countingConn{Conn: c, writes: &writes}, nil
			}
			r := newRig(t, func(o *Options) { o.Transport = tr })
			r.inj.Set(faultinject.Rule{FailTimes: tc.failTimes, Status: 503})
			resp, err := r.client.Do(context.Background(), tc.call)
			if err != nil || resp.Status != 200 || int64(resp.Attempts) != tc.attempts {
				t.Fatalf("resp %+v err %v", resp, err)
			}
			if got := writes.Load(); got != tc.attempts {
				t.Errorf("%d writes for %d attempts, want one each", got, tc.attempts)
			}
			if tc.call.Body != nil && (len(r.v.bodies) != 1 || r.v.bodies[0] != string(tc.call.Body)) {
				t.Errorf("vendor got %q", r.v.bodies)
			}
		})
	}
}

// TestStatusRecordsTheLastCall: the last call's outcome and the breaker
// state are kept on the client, so /readyz?verbose=1 reports them without
// calling the vendor.
func TestStatusRecordsTheLastCall(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	r := newRig(t, func(o *Options) { o.Retry.Max = 0; o.Now = clock.Now })
	if st := r.client.Status(); st.Vendor != "acme" || st.Breaker != "closed" || st.LastCall != nil {
		t.Fatalf("before any call: %+v", st)
	}
	steps := []struct {
		name    string
		status  int // the vendor's answer; -1 closes the server
		outcome string
		code    int
		breaker string
	}{
		{"ok", 200, "ok", 200, "closed"},
		{"vendor 404", 404, "http_error", 404, "closed"},
		{"vendor 503", 503, "http_error", 503, "closed"},
		{"vendor 503 again", 503, "http_error", 503, "closed"},
		{"third failure opens", 503, "http_error", 503, "open"},
		{"open breaker", 200, "circuit_open", 0, "open"},
	}
	for i, s := range steps {
		clock.Add(time.Second)
		r.v.mu.Lock()
		r.v.status = s.status
		r.v.mu.Unlock()
		before := len(r.v.bodies)
		_, _ = r.client.Do(context.Background(), put(`{}`))
		st := r.client.Status()
		if st.LastCall == nil || st.LastCall.Outcome != s.outcome || st.LastCall.Status != s.code ||
			!st.LastCall.At.Equal(clock.Now()) || st.LastCall.Name != "put user" || st.Breaker != s.breaker {
			t.Errorf("step %d (%s): %+v last %+v", i, s.name, st, st.LastCall)
		}
		if s.outcome == "circuit_open" && len(r.v.bodies) != before {
			t.Error("an open breaker touched the vendor")
		}
	}
}

func TestStatusKeepsTheTransportCause(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Retry.Max = 0 })
	r.srv.Close()
	if _, err := r.client.Do(context.Background(), put(`{}`)); code(err) != canonical.CodeUpstreamUnavailable {
		t.Fatalf("err %v", err)
	}
	l := r.client.Status().LastCall
	if l == nil || l.Outcome != "upstream_unavailable" || l.Status != 0 || !strings.Contains(l.Cause, "connect") {
		t.Fatalf("last %+v", l)
	}
	b, _ := json.Marshal(l)
	if strings.Contains(string(b), "127.0.0.1") {
		t.Errorf("the serialised outcome names the host: %s", b)
	}
}

// TestFinal429CarriesRetryAfter: a vendor that rate-limits without a
// Retry-After (Volterra never sends one) still yields a Retry-After after
// the last retry: the backoff the gateway would have waited next.
func TestFinal429CarriesRetryAfter(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Retry.Max = 2; o.Retry.MinWait = time.Millisecond; o.Retry.MaxWait = time.Second })
	r.inj.Set(faultinject.Rule{FailTimes: 10, Status: 429})
	resp, err := r.client.Do(context.Background(), put(`{}`))
	if err != nil || resp.Status != 429 || resp.Attempts != 3 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if want := 4 * time.Millisecond; resp.RetryAfter != want { // min_wait << 2 retries
		t.Errorf("RetryAfter %s, want the next backoff %s", resp.RetryAfter, want)
	}
	mapped := adapters.StatusError(resp, adapters.ServiceCredential, "")
	if mapped.Code != canonical.CodeRateLimited || problem.RetryAfterSeconds(mapped.RetryAfter) != 1 {
		t.Errorf("mapped %+v", mapped)
	}
}

// TestAttemptDeadline: the attempt context fastTransport gets keeps the
// earlier of its own and its parent's deadlines, and reports them through
// Err as context.WithTimeout would.
func TestAttemptDeadline(t *testing.T) {
	now := time.Now()
	early, cancelEarly := context.WithDeadline(context.Background(), now.Add(time.Minute))
	defer cancelEarly()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		parent context.Context
		at     time.Time
		want   time.Time
		err    error
	}{
		{"no parent deadline", context.Background(), now.Add(time.Hour), now.Add(time.Hour), nil},
		{"parent's is earlier", early, now.Add(time.Hour), now.Add(time.Minute), nil},
		{"own is earlier", early, now.Add(time.Second), now.Add(time.Second), nil},
		{"passed", context.Background(), now.Add(-time.Millisecond), now.Add(-time.Millisecond), context.DeadlineExceeded},
		{"parent cancelled", cancelled, now.Add(time.Hour), now.Add(time.Hour), context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := withDeadline(tc.parent, tc.at)
			if d, ok := ctx.Deadline(); !ok || !d.Equal(tc.want) {
				t.Errorf("deadline %v %v, want %v", d, ok, tc.want)
			}
			if err := ctx.Err(); !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Errorf("err %v, want %v", err, tc.err)
			}
		})
	}
}

// BenchmarkAttemptContext: an attempt's context under a parent that can be
// cancelled (dispatch's per-target deadline), with a timer as net/http's
// transport needs and with the deadline alone as fastTransport needs.
func BenchmarkAttemptContext(b *testing.B) {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.Run("WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(parent, time.Minute)
			_, _ = ctx.Deadline()
			cancel()
		}
	})
	b.Run("withDeadline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx := withDeadline(parent, time.Now().Add(time.Minute))
			_, _ = ctx.Deadline()
		}
	})
}
