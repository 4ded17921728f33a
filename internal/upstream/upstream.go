package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sony/gobreaker/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/net/http/httpproxy"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/config"
)

// RetryPolicy configures retries.
type RetryPolicy struct {
	// Max retries after the first attempt; 0 (or negative) sends one
	// attempt only. The gateway's default, config.DefaultRetryMax, is
	// config's to fill in: a zero Options means no retries.
	Max int
	// MinWait and MaxWait bound the exponential backoff (defaults
	// config.DefaultRetryMinWait, config.DefaultRetryMaxWait).
	MinWait, MaxWait time.Duration
	// MaxRetryAfter caps an honoured Retry-After (default
	// config.DefaultMaxRetryAfter).
	MaxRetryAfter time.Duration
	// On500 also retries HTTP 500.
	On500 bool
}

// BreakerPolicy configures the breaker.
type BreakerPolicy struct {
	// ConsecutiveFailures opens the breaker (default
	// config.DefaultBreakerFailures).
	ConsecutiveFailures uint32
	// OpenFor is the open period before a trial call (default
	// config.DefaultBreakerOpenFor).
	OpenFor time.Duration
	// HalfOpenMax trial calls (default config.DefaultBreakerHalfOpenMax).
	HalfOpenMax uint32
	// Interval clears counts while closed; 0 never.
	Interval time.Duration
}

// Pool sizes one vendor's connection pool.
type Pool struct {
	// MaxIdle idle connections kept for reuse (default
	// config.DefaultPoolMaxIdle), with net/http's transport (a vendor
	// behind a proxy); fasthttp's keeps each until IdleTimeout.
	MaxIdle int
	// MaxPerHost caps all connections to the vendor; 0: no cap.
	MaxPerHost int
	// IdleTimeout closes idle connections (default
	// config.DefaultPoolIdleTimeout).
	IdleTimeout time.Duration
}

// Options configures one vendor's Client.
type Options struct {
	Vendor  string
	BaseURL *url.URL
	// AttemptTimeout bounds one HTTP attempt (default
	// config.DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	Retry          RetryPolicy
	Breaker        BreakerPolicy
	// Classify is the adapter's Classifier, consulted before the status
	// policy; optional.
	Classify func(*adapters.Response) adapters.Class
	// Transport defaults to a clone of http.DefaultTransport sized by Pool.
	Transport http.RoundTripper
	// Pool sizes the default transport's keep-alive pool.
	Pool           Pool
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	// Shared exports this client's breaker state and counts its calls.
	// Clients sharing a MeterProvider must share one (NewShared); nil
	// builds one of this client's own on MeterProvider.
	Shared *Shared
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxBody caps a response body read (default 4 MiB).
	MaxBody int64
	// Limit, when set, makes every logical call wait for the vendor's rate
	// and concurrency limits first (limit.go).
	Limit *Limiter
}

// Client is one vendor's Doer.
type Client struct {
	o       Options
	base    string // the base URL without a trailing slash
	retry   *retryablehttp.Client
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	m       *instruments

	mu       sync.Mutex
	openedAt time.Time

	// last is the most recent logical call's outcome, for /readyz?verbose=1
	// and check-vendors: kept here so that reporting it never calls the
	// vendor.
	last atomic.Pointer[LastCall]
}

// LastCall is the outcome of a vendor's most recent logical call.
type LastCall struct {
	// At is when the call finished.
	At time.Time `json:"at"`
	// Name is the adapter's call label ("login", "put settings").
	Name string `json:"call"`
	// Status is the vendor's final HTTP status; 0 when there was no answer.
	Status int `json:"status,omitempty"`
	// Outcome is "ok" (2xx), "http_error" (any other answer), or the
	// canonical code of a call with no answer (upstream_timeout,
	// upstream_unavailable, circuit_open, ...).
	Outcome string `json:"outcome"`
	// Attempts is how many HTTP attempts were made.
	Attempts int `json:"attempts,omitempty"`
	// Cause is the transport error's own text (TLS, DNS, refused), for
	// check-vendors; not serialised, so /readyz never shows hosts.
	Cause string `json:"-"`
}

// Status is a vendor's resilience state, read without calling the vendor.
type Status struct {
	Vendor string `json:"vendor"`
	// Breaker is closed, half-open or open.
	Breaker string `json:"breaker"`
	// LastCall is nil until the first call.
	LastCall *LastCall `json:"last_call"`
}

// Status reports the breaker state and the last call's outcome.
func (c *Client) Status() Status {
	st := Status{Vendor: c.o.Vendor, Breaker: c.State()}
	if l := c.last.Load(); l != nil {
		cp := *l
		st.LastCall = &cp
	}
	return st
}

// record keeps a finished call's outcome as the last one.
func (c *Client) record(call *adapters.Call, resp *adapters.Response, err error, cause error) {
	l := &LastCall{At: c.o.Now(), Name: call.Name}
	switch {
	case err != nil:
		l.Outcome = string(canonical.AsError(err).Code)
		if cause != nil {
			l.Cause = cause.Error()
		}
	case resp.Status >= 200 && resp.Status < 300:
		l.Outcome, l.Status, l.Attempts = "ok", resp.Status, resp.Attempts
	default:
		l.Outcome, l.Status, l.Attempts = "http_error", resp.Status, resp.Attempts
	}
	c.last.Store(l)
}

var _ adapters.Doer = (*Client)(nil)

// errVendorFailure marks a breaker failure; errExcluded a call that must
// not count (caller cancelled).
var (
	errVendorFailure = errors.New("vendor failure")
	errExcluded      = errors.New("excluded")
)

// New builds a Client.
func New(o Options) (*Client, error) {
	if o.BaseURL == nil || o.BaseURL.Scheme == "" || o.BaseURL.Host == "" {
		return nil, fmt.Errorf("upstream %s: an absolute base URL is required", o.Vendor)
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = config.DefaultAttemptTimeout
	}
	if o.Retry.Max < 0 {
		o.Retry.Max = 0
	}
	if o.Retry.MinWait <= 0 {
		o.Retry.MinWait = config.DefaultRetryMinWait
	}
	if o.Retry.MaxWait <= 0 {
		o.Retry.MaxWait = config.DefaultRetryMaxWait
	}
	if o.Retry.MaxRetryAfter <= 0 {
		o.Retry.MaxRetryAfter = config.DefaultMaxRetryAfter
	}
	if o.Breaker.ConsecutiveFailures == 0 {
		o.Breaker.ConsecutiveFailures = config.DefaultBreakerFailures
	}
	if o.Breaker.OpenFor <= 0 {
		o.Breaker.OpenFor = config.DefaultBreakerOpenFor
	}
	if o.Breaker.HalfOpenMax == 0 {
		o.Breaker.HalfOpenMax = config.DefaultBreakerHalfOpenMax
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TracerProvider == nil {
		o.TracerProvider = nooptrace.NewTracerProvider()
	}
	if o.MeterProvider == nil {
		o.MeterProvider = noopmetric.NewMeterProvider()
	}
	if o.Propagator == nil {
		o.Propagator = otel.GetTextMapPropagator()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 4 << 20
	}
	if o.Pool.MaxIdle <= 0 {
		o.Pool.MaxIdle = config.DefaultPoolMaxIdle
	}
	if o.Pool.IdleTimeout <= 0 {
		o.Pool.IdleTimeout = config.DefaultPoolIdleTimeout
	}
	if o.Transport == nil {
		o.Transport = newFastTransport(o.Pool, o.MaxBody)
		// Read afresh (net/http's ProxyFromEnvironment reads it once per
		// process): the same variables, the same rules.
		if proxy, err := httpproxy.FromEnvironment().ProxyFunc()(o.BaseURL); err != nil || proxy != nil {
			// fasthttp has no proxy support: a vendor reached through one
			// keeps net/http's transport. One per vendor: its pool serves
			// one host, so the per-host idle limit is the pool size
			// (net/http's default of 2 would redial under any load).
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConns = o.Pool.MaxIdle
			t.MaxIdleConnsPerHost = o.Pool.MaxIdle
			t.MaxConnsPerHost = o.Pool.MaxPerHost
			t.IdleConnTimeout = o.Pool.IdleTimeout
			t.MaxResponseHeaderBytes = maxAnswerHeader
			o.Transport = t
		}
	}
	if o.Shared == nil {
		var err error
		if o.Shared, err = NewShared(o.MeterProvider); err != nil {
			return nil, fmt.Errorf("upstream %s: metrics: %w", o.Vendor, err)
		}
	}
	c := &Client{o: o, base: strings.TrimSuffix(o.BaseURL.String(), "/")}
	m, err := newInstruments(o.MeterProvider, o.Vendor, o.Shared)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: metrics: %w", o.Vendor, err)
	}
	c.m = m
	o.Shared.add(o.Vendor, c.stateValue)

	// The attempt timeout is a context deadline set in the transport chain
	// rather than http.Client.Timeout: with a wrapped transport the client
	// would start a timer goroutine per attempt to enforce it.
	traced := attempt{timeout: o.AttemptTimeout, vendor: o.Vendor, prop: o.Propagator,
		tracer: o.TracerProvider.Tracer(tracerName), client: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}, next: o.Transport}
	traced.fast, _ = o.Transport.(*fastTransport)
	c.retry = &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: traced},
		Logger:       nil,
		RetryWaitMin: o.Retry.MinWait,
		RetryWaitMax: o.Retry.MaxWait,
		RetryMax:     o.Retry.Max,
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	c.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        o.Vendor,
		MaxRequests: o.Breaker.HalfOpenMax,
		Interval:    o.Breaker.Interval,
		Timeout:     o.Breaker.OpenFor,
		ReadyToTrip: func(cn gobreaker.Counts) bool {
			return cn.ConsecutiveFailures >= o.Breaker.ConsecutiveFailures
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				c.mu.Lock()
				c.openedAt = c.o.Now()
				c.mu.Unlock()
			}
			o.Logger.Warn("circuit breaker state change", "vendor", name, "from", from.String(), "to", to.String())
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, errExcluded) },
	})
	return c, nil
}

// State is the breaker state: closed, half-open or open.
func (c *Client) State() string { return c.breaker.State().String() }

func (c *Client) stateValue() int64 {
	switch c.breaker.State() {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

// callState travels in the request context through every attempt.
type callState struct {
	name     string
	span     string    // the attempts' span name: vendor and call
	deadline time.Time // zero: none
	mu       sync.Mutex
	attempts int
	statuses []int
	outcomes []string // nil until an attempt gets no status
	retries  int
}

type stateKey struct{}

func stateOf(ctx context.Context) *callState {
	s, _ := ctx.Value(stateKey{}).(*callState)
	return s
}

// record notes one attempt: its status, or (status 0) the transport
// outcome that replaced it.
func (s *callState) record(status int, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if outcome != "" && s.outcomes == nil {
		s.outcomes = make([]string, len(s.statuses), len(s.statuses)+1)
	}
	s.attempts++
	s.statuses = append(s.statuses, status)
	if s.outcomes != nil {
		s.outcomes = append(s.outcomes, outcome)
	}
}

// fail turns the last attempt's status into outcome: its answer arrived
// but could not be read (a stalled or cut body), so it was no answer.
func (s *callState) fail(outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.statuses) == 0 {
		return
	}
	if s.outcomes == nil {
		s.outcomes = make([]string, len(s.statuses))
	}
	s.statuses[len(s.statuses)-1], s.outcomes[len(s.outcomes)-1] = 0, outcome
}

// snapshot copies the attempts for a Response or CallError.
func (s *callState) snapshot() (attempts int, statuses []int, outcomes []string, retries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts, append([]int(nil), s.statuses...), append([]string(nil), s.outcomes...), s.retries
}

// The transport outcomes of an attempt that got no HTTP answer, as listed
// in calls[].attempt_statuses.
const (
	OutcomeTimeout   = "timeout"   // the attempt timeout or the target deadline ran out
	OutcomeReset     = "reset"     // the connection was reset or closed before an answer
	OutcomeRefused   = "refused"   // the connection was refused
	OutcomeDNS       = "dns"       // the vendor's host name did not resolve
	OutcomeTLS       = "tls"       // the TLS handshake failed
	OutcomeCancelled = "cancelled" // the caller went away
	OutcomeError     = "error"     // any other transport failure
)

// TransportOutcome names what happened to an attempt that failed with err.
func TransportOutcome(err error) string {
	var (
		ne   net.Error
		dns  *net.DNSError
		cve  *tls.CertificateVerificationError
		rhe  tls.RecordHeaderError
		alrt tls.AlertError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return OutcomeCancelled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return OutcomeTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return OutcomeRefused
	case errors.As(err, &dns):
		return OutcomeDNS
	case errors.As(err, &cve), errors.As(err, &rhe), errors.As(err, &alrt):
		return OutcomeTLS
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), strings.Contains(err.Error(), "server closed idle connection"):
		// net/http's "server closed idle connection" has no sentinel.
		return OutcomeReset
	}
	return OutcomeError
}

// tracerName names the attempt spans' instrumentation scope.
const tracerName = "github.com/identity-gateway/identity-gateway/internal/upstream"

// attempt is one HTTP attempt's own layer, right above the transport: its
// timeout, which lasts until the body is closed (reading it included:
// fastTransport has read it before it returns); its
// client span, whose W3C trace context is sent to the vendor (traceparent,
// and baggage when the propagator carries it); and its record, the status
// or, when no answer came, the transport outcome. The transport may itself
// re-send a request (a GET on a kept-alive connection the vendor closed
// before answering): the requests really written are counted (by an
// httptrace hook under net/http, by fastTransport.send's callback), so
// each of those is an attempt too.
//
// It takes the place of otelhttp's transport, which on every attempt cloned
// the request, wrapped both bodies to count their bytes, built a dozen
// generic attributes and recorded three metrics that duplicate
// gateway.vendor.call.duration and gateway.vendor.calls (BENCHMARKS.md,
// issue 25). Its body wrapper also made net/http send headers and body in
// two writes; retryablehttp's body is a bytes.Reader, which net/http sends
// with the headers in one.
type attempt struct {
	timeout time.Duration
	vendor  string
	tracer  trace.Tracer
	// client starts a client span: a kept slice, since one option passed
	// to the (interface) Start allocates its slice on every call.
	client []trace.SpanStartOption
	prop   propagation.TextMapPropagator
	next   http.RoundTripper
	// fast is next when it is a fastTransport, which enforces the
	// context's deadline itself and has read the whole answer when it
	// returns: the attempt sets the deadline without context.WithTimeout's
	// timer and registration with its parent (2-3% of the gateway's CPU
	// under load, BENCHMARKS.md, session 12), and hands it the request with
	// the attempt's context, trace headers and send count directly
	// (fastTransport.send), without a copy of the request and of its
	// header map, nor an httptrace context (session 13).
	fast *fastTransport
}

// deadlineCtx is parent with an earlier deadline and no timer of its own:
// Done closes only with parent's, so it is given only to a transport that
// enforces the deadline itself (attempt.fast).
type deadlineCtx struct {
	context.Context
	at time.Time
}

func withDeadline(parent context.Context, at time.Time) context.Context {
	if d, ok := parent.Deadline(); ok && !d.After(at) {
		return parent
	}
	return deadlineCtx{Context: parent, at: at}
}

func (c deadlineCtx) Deadline() (time.Time, bool) { return c.at, true }

func (c deadlineCtx) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.at) {
		return context.DeadlineExceeded
	}
	return nil
}

func noCancel() {}

func (a attempt) RoundTrip(r *http.Request) (*http.Response, error) {
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	if a.fast != nil {
		ctx, cancel = withDeadline(r.Context(), time.Now().Add(a.timeout)), noCancel
	} else {
		ctx, cancel = context.WithTimeout(r.Context(), a.timeout)
	}
	st := stateOf(ctx)
	name := a.vendor + " " + r.Method
	if st != nil {
		name = st.span
	}
	ctx, span := a.tracer.Start(ctx, name, a.client...)
	var (
		resp *http.Response
		err  error
		sent int32 // requests written: the transport may re-send one
	)
	if a.fast != nil {
		prop := a.prop
		resp, err = a.fast.send(ctx, r,
			func(h *fasthttp.RequestHeader) { prop.Inject(ctx, fastHeaderCarrier{h}) },
			func(error) { sent++ })
	} else {
		var written atomic.Int32
		if st != nil {
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				WroteRequest: func(httptrace.WroteRequestInfo) { written.Add(1) },
			})
		}
		// A shallow copy with its own header map: a RoundTripper must not
		// change the request it was given.
		cp := r.WithContext(ctx)
		cp.Header = make(http.Header, len(r.Header)+2)
		for k, v := range r.Header {
			cp.Header[k] = v
		}
		a.prop.Inject(ctx, propagation.HeaderCarrier(cp.Header))
		resp, err = a.next.RoundTrip(cp)
		sent = written.Load()
	}
	if st != nil {
		for n := sent; n > 1; n-- {
			st.record(0, OutcomeReset) // sent, dropped unanswered, re-sent by the transport
		}
	}
	if err != nil {
		outcome := TransportOutcome(err)
		if st != nil {
			st.record(0, outcome)
		}
		span.SetAttributes(attribute.String("error.type", outcome))
		span.SetStatus(codes.Error, "no answer")
		span.End()
		cancel()
		return nil, err
	}
	if st != nil {
		st.record(resp.StatusCode, "")
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, "")
	}
	resp.Body = &attemptBody{ReadCloser: resp.Body, cancel: cancel, span: span}
	return resp, nil
}

// attemptBody ends the attempt, its timeout and its span, when the body is
// closed.
type attemptBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	span   trace.Span
}

func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	b.span.End()
	return err
}

// Do implements adapters.Doer.
func (c *Client) Do(ctx context.Context, call *adapters.Call) (*adapters.Response, error) {
	// Paths come from adapters, which escape what they take from input; a
	// path must stay under the base URL (no scheme, host or fragment). An
	// adapter's mistake says nothing about the vendor: checked before the
	// breaker sees the call.
	if !strings.HasPrefix(call.Path, "/") || strings.HasPrefix(call.Path, "//") || strings.ContainsAny(call.Path, "#\\") {
		return nil, &canonical.Error{Code: canonical.CodeInternal, Message: "adapter built an invalid path"}
	}
	if c.o.Limit != nil {
		// Waiting for the vendor's limits happens before the breaker: a
		// wait says nothing about the vendor's health.
		release, err := c.o.Limit.Acquire(ctx)
		if err != nil {
			c.m.call("rate_limited")
			return nil, err
		}
		defer release()
	}
	done, err := c.breaker.Allow()
	if err != nil {
		c.m.call("circuit_open")
		err := &canonical.Error{Code: canonical.CodeCircuitOpen,
			Message: c.o.Vendor + ": circuit breaker open after repeated vendor failures", RetryAfter: c.untilHalfOpen()}
		c.record(call, nil, err, nil)
		return nil, err
	}
	var cause error
	resp, err := c.send(ctx, call, &cause)
	c.record(call, resp, err, cause)
	switch {
	case err != nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		done(errExcluded) // the caller went away; says nothing about the vendor
	case err != nil:
		done(errVendorFailure)
	case c.isFailure(resp):
		done(errVendorFailure)
	default:
		done(nil)
	}
	return resp, err
}

func (c *Client) untilHalfOpen() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.openedAt.Add(c.o.Breaker.OpenFor).Sub(c.o.Now()); d > 0 {
		return d
	}
	return time.Second
}

// isFailure: 5xx and 429 after retries, and classifier Failures, count
// against the breaker; everything else is a healthy vendor.
func (c *Client) isFailure(r *adapters.Response) bool {
	if c.o.Classify != nil {
		switch c.o.Classify(r) {
		case adapters.Healthy:
			return false
		case adapters.Failure, adapters.Retryable:
			return true
		}
	}
	return r.Status >= 500 || r.Status == http.StatusTooManyRequests
}

// send makes the call with retries; *cause receives a transport failure's
// own error, which the canonical error deliberately leaves out.
func (c *Client) send(ctx context.Context, call *adapters.Call, cause *error) (*adapters.Response, error) {
	st := &callState{name: call.Name, span: c.o.Vendor + " " + call.Name}
	if dl, ok := ctx.Deadline(); ok {
		st.deadline = dl
	}
	ctx = context.WithValue(ctx, stateKey{}, st)
	req, err := retryablehttp.NewRequestWithContext(ctx, call.Method, c.base+call.Path, call.Body)
	if err != nil {
		return nil, &canonical.Error{Code: canonical.CodeInternal, Message: "building the vendor request failed"}
	}
	// The call's header itself, not a copy: nothing below changes it
	// (net/http and retryablehttp only read it, and the attempt layer sets
	// its trace headers in the request fastTransport sends, or, for
	// net/http's transport, in a map of its own copied from this one).
	if call.Header != nil {
		req.Header = call.Header
	}
	start := c.o.Now()
	hresp, err := c.retry.Do(req)
	c.m.duration.Record(ctx, c.o.Now().Sub(start).Seconds(), c.m.vendorOnly.Record...)
	if err != nil {
		if hresp != nil {
			hresp.Body.Close()
		}
		c.m.call("error")
		*cause = err
		return nil, c.callError(ctx, st, call, err)
	}
	defer hresp.Body.Close()
	body, rerr := readBody(hresp, c.o.MaxBody)
	if rerr != nil {
		st.fail(TransportOutcome(rerr))
		c.m.call("error")
		*cause = rerr
		return nil, c.callError(ctx, st, call, rerr)
	}
	attempts, statuses, outcomes, retries := st.snapshot()
	if retries > 0 {
		c.m.retries.Add(ctx, int64(retries), c.m.vendorOnly.Add...)
	}
	if int64(len(body)) > c.o.MaxBody {
		return nil, &adapters.CallError{Attempts: attempts, AttemptStatuses: statuses, AttemptOutcomes: outcomes,
			Err: &canonical.Error{Code: canonical.CodeUpstreamError, Message: c.o.Vendor + ": response body too large", VendorStatus: hresp.StatusCode}}
	}
	c.m.callCode(hresp.StatusCode)
	return &adapters.Response{Status: hresp.StatusCode, Header: hresp.Header, Body: body,
		Attempts: max(attempts, 1), AttemptStatuses: statuses, AttemptOutcomes: outcomes, RetryAfter: c.retryAfter(hresp, retries)}, nil
}

// callError maps a call that got no usable answer and attaches its
// attempts.
func (c *Client) callError(ctx context.Context, st *callState, call *adapters.Call, err error) error {
	attempts, statuses, outcomes, retries := st.snapshot()
	if retries > 0 {
		c.m.retries.Add(ctx, int64(retries), c.m.vendorOnly.Add...)
	}
	return &adapters.CallError{Err: c.transportError(ctx, call, err, attempts), Attempts: attempts, AttemptStatuses: statuses, AttemptOutcomes: outcomes}
}

// retryAfter is the wait a final 429 or 503 advises the caller: the
// vendor's Retry-After capped at max_retry_after, or, when it sent none
// (Volterra never does), the cap of the backoff the gateway itself would
// have waited next, so a rate-limited caller is always told when to come
// back.
func (c *Client) retryAfter(r *http.Response, retries int) time.Duration {
	if r.StatusCode != http.StatusTooManyRequests && r.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	if ra := adapters.ParseRetryAfter(r.Header.Get("Retry-After"), c.o.Now(), c.o.Retry.MaxRetryAfter); ra > 0 {
		return ra
	}
	return c.expCap(retries)
}

// readBody reads at most max+1 bytes (one more tells "too large"). With a
// Content-Length within max the body is read into a buffer of that size at
// once (net/http ends the body there) instead of one grown from 512 bytes.
func readBody(r *http.Response, max int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= max {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, max+1))
}

// transportError maps a failure with no usable response.
func (c *Client) transportError(ctx context.Context, call *adapters.Call, err error, attempts int) error {
	what := fmt.Sprintf("%s: %s: ", c.o.Vendor, call.Name)
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("%w", &canonical.Error{Code: canonical.CodeUpstreamTimeout, Message: what + "the target's deadline passed"})
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", &canonical.Error{Code: canonical.CodeUpstreamTimeout, Message: what + "the request was cancelled"}, ctx.Err())
	case errors.As(err, &ne) && ne.Timeout():
		return &canonical.Error{Code: canonical.CodeUpstreamTimeout, Message: fmt.Sprintf("%sno answer within the attempt timeout (%d attempts)", what, attempts)}
	case headerTooLarge(err):
		return &canonical.Error{Code: canonical.CodeUpstreamError, Message: what + errAnswerHeaderTooLarge.Error()}
	}
	return &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: fmt.Sprintf("%svendor unreachable after %d attempts", what, attempts)}
}

// headerTooLarge reports an answer whose headers are over maxAnswerHeader,
// from either transport (net/http's error has no sentinel).
func headerTooLarge(err error) bool {
	return errors.Is(err, errAnswerHeaderTooLarge) || strings.Contains(err.Error(), "server response headers exceeded")
}

// checkRetry is the retry policy. It also stops retrying when the next wait
// could not finish before the deadline, returning the last answer.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	st := stateOf(ctx)
	retry := false
	if err != nil {
		// An answer too large to read came all the same: sending again
		// brings the same answer.
		retry = !headerTooLarge(err)
	} else {
		retry = c.retryableStatus(resp)
	}
	if !retry || st == nil {
		return retry, nil
	}
	st.mu.Lock()
	n := st.retries
	st.mu.Unlock()
	if n >= c.o.Retry.Max {
		return false, nil
	}
	wait := c.maxWait(n, resp)
	if !st.deadline.IsZero() && c.o.Now().Add(wait).After(st.deadline) {
		return false, nil
	}
	if resp != nil {
		// Parsed without the cap: the question is what the vendor asked for.
		if ra := adapters.ParseRetryAfter(resp.Header.Get("Retry-After"), c.o.Now(), math.MaxInt64); ra > c.o.Retry.MaxRetryAfter && (st.deadline.IsZero() || c.o.Now().Add(ra).After(st.deadline)) {
			// The vendor asks for longer than we may wait: fail now with
			// its answer (and its Retry-After) instead of waiting.
			return false, nil
		}
	}
	st.mu.Lock()
	st.retries++
	st.mu.Unlock()
	return true, nil
}

func (c *Client) retryableStatus(resp *http.Response) bool {
	if c.o.Classify != nil {
		// The classifier sees status and headers; bodies are read later.
		switch c.o.Classify(&adapters.Response{Status: resp.StatusCode, Header: resp.Header, Body: peekBody(resp)}) {
		case adapters.Healthy, adapters.Failure:
			return false
		case adapters.Retryable:
			return true
		}
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case http.StatusInternalServerError:
		return c.o.Retry.On500
	}
	return false
}

// peekBody reads a small error body and puts it back, so a classifier can
// look at vendor error codes without consuming the response.
func peekBody(resp *http.Response) []byte {
	if resp.Body == nil || resp.StatusCode < 400 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), resp.Body))
	return b
}

// maxWait is the longest the next wait can be (for the deadline check).
func (c *Client) maxWait(n int, resp *http.Response) time.Duration {
	if resp != nil {
		if ra := adapters.ParseRetryAfter(resp.Header.Get("Retry-After"), c.o.Now(), c.o.Retry.MaxRetryAfter); ra > 0 {
			return min(ra, c.o.Retry.MaxRetryAfter)
		}
	}
	return c.expCap(n)
}

func (c *Client) expCap(n int) time.Duration {
	d := c.o.Retry.MinWait << min(n, 20)
	if d <= 0 || d > c.o.Retry.MaxWait {
		d = c.o.Retry.MaxWait
	}
	return d
}

// backoff: Retry-After (capped) when the vendor sent one, else exponential
// with full jitter.
func (c *Client) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if ra := adapters.ParseRetryAfter(resp.Header.Get("Retry-After"), c.o.Now(), c.o.Retry.MaxRetryAfter); ra > 0 {
			return min(ra, c.o.Retry.MaxRetryAfter)
		}
	}
	capd := c.expCap(attempt)
	return minWait/2 + rand.N(capd-minWait/2+1)
}
