package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// fastTransport is the vendor calls' http.RoundTripper: go-retryablehttp
// and net/http's Client stay above it (retries, backoff, redirects), and
// fasthttp's client, already in the build under Fiber, sends the request.
//
// net/http's Transport hands every request to two goroutines of its
// connection (a writer and a reader) and back: on this path those
// hand-offs, their channel operations and their wake-ups cost more than the
// gateway's own work (issue 25: about a fifth of its CPU under load, and
// 120-150 µs of its latency at one connection). fasthttp writes the request
// and reads the answer on the caller's goroutine. BenchmarkTransport
// compares the two.
//
// What net/http did that is kept:
//   - the attempt's deadline (its context's) bounds dialling, waiting for a
//     free connection, writing and reading;
//   - a request the vendor dropped unanswered is sent once more at once if
//     net/http would have (a GET, say), and each send is reported to the
//     context's httptrace WroteRequest hook, so the attempt counts it;
//   - the pool: at most Pool.MaxPerHost connections, idle ones closed after
//     Pool.IdleTimeout;
//   - answers are bounded: a body over maxBody fails the call, and so do
//     headers over maxAnswerHeader (net/http's limit was 10 MB; fasthttp's
//     default buffer stopped at 4 KB);
//   - interim 1xx answers are skipped for the final one (fasthttp v1.79);
//   - an answer without a Content-Type has none (copyHeader).
//
// Not kept: HTTP/2 (vendors are called over HTTP/1.1), proxies (New uses
// net/http's Transport when HTTP_PROXY, HTTPS_PROXY or NO_PROXY select one
// for the vendor), cancellation other than by deadline (an attempt always
// has one), and transparent gzip (the gateway never asks for it).
type fastTransport struct {
	c       *fasthttp.Client
	maxBody int64
}

func newFastTransport(p Pool, maxBody int64) *fastTransport {
	maxConns := p.MaxPerHost
	if maxConns <= 0 {
		maxConns = math.MaxInt32 // net/http's 0: no cap
	}
	return &fastTransport{maxBody: maxBody, c: &fasthttp.Client{
		MaxConnsPerHost:     maxConns,
		MaxIdleConnDuration: p.IdleTimeout,
		// Wait for a free connection as net/http does, bounded by the
		// request's deadline (fasthttp takes the shorter of the two).
		MaxConnWaitTimeout: time.Hour,
		// One send per Do: RoundTrip decides on the second itself.
		MaxIdemponentCallAttempts: 1,
		RetryIf:                   func(*fasthttp.Request) bool { return false },
		// One byte over the gateway's cap is enough to refuse the body.
		MaxResponseBodySize: int(min(maxBody+1, math.MaxInt32)),
		// Headers and path go as the adapter wrote them (net/http's
		// Header keys are canonical already).
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
		// IPv6 too, as net/http dials (fasthttp's default is IPv4 only).
		DialDualStack: true,
		// The answer's header block is read into this buffer, so it is
		// also the header limit (fasthttp's default, 4 KB, refused a
		// session cookie carrying a JWT). One buffer per call in flight,
		// pooled.
		ReadBufferSize: maxAnswerHeader,
		// fasthttp's errors would quote the answer's header bytes: its
		// cookies and tokens must not reach a log or the vendor status.
		ConfigureClient: func(hc *fasthttp.HostClient) error {
			hc.SecureErrorLogMessage = true
			return nil
		},
	}}
}

// maxAnswerHeader bounds a vendor answer's status line and headers, on
// both transports (net/http's default was 10 MB).
const maxAnswerHeader = 64 << 10

// errAnswerHeaderTooLarge is an answer whose headers are over
// maxAnswerHeader: the vendor answered, so the call is not retried.
var errAnswerHeaderTooLarge = fmt.Errorf("the answer's headers are over %d KiB", maxAnswerHeader>>10)

// zeros stands in for a body over the cap.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// RoundTrip implements http.RoundTripper: each request written is reported
// to the context's httptrace WroteRequest hook.
func (t *fastTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var wrote func(error)
	if trace := httptrace.ContextClientTrace(r.Context()); trace != nil && trace.WroteRequest != nil {
		wrote = func(err error) { trace.WroteRequest(httptrace.WroteRequestInfo{Err: err}) }
	}
	return t.send(r.Context(), r, nil, wrote)
}

// send is RoundTrip with what the attempt layer would otherwise put on a
// copy of r, given directly: ctx in place of r's context, header (when not
// nil) called to add the trace headers to the request sent, and wrote
// (when not nil) called for each request written.
func (t *fastTransport) send(ctx context.Context, r *http.Request, header func(*fasthttp.RequestHeader), wrote func(error)) (*http.Response, error) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(r.URL.String())
	req.Header.SetMethod(r.Method)
	if r.Host != "" {
		req.Header.SetHost(r.Host)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.Header.Get("User-Agent") == "" {
		req.Header.SetUserAgent("Go-http-client/1.1") // what net/http sent
	}
	if header != nil {
		header(&req.Header)
	}
	if r.Body != nil && r.Body != http.NoBody {
		var b []byte
		var err error
		if r.ContentLength > 0 {
			// The length is known (go-retryablehttp always sets it): one
			// exact buffer instead of io.ReadAll's growing ones.
			b = make([]byte, r.ContentLength)
			_, err = io.ReadFull(r.Body, b)
		} else {
			b, err = io.ReadAll(r.Body)
		}
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		req.SetBodyRaw(b)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		// The attempt layer always sets one; a caller without it gets
		// net/http's behaviour of waiting (bounded here by a day).
		deadline = time.Now().Add(24 * time.Hour)
	}
	resp := fasthttp.AcquireResponse()
	var err error
	for sent := 0; ; sent++ {
		if err = ctx.Err(); err != nil {
			break
		}
		err = t.c.DoDeadline(req, resp, deadline)
		if wrote != nil && !errors.Is(err, fasthttp.ErrNoFreeConns) {
			wrote(err)
		}
		// A kept-alive connection the vendor closed before answering:
		// net/http sends a replayable request once more at once, and so
		// do we. Anything else is the retry policy's to decide.
		if sent > 0 || !errors.Is(err, fasthttp.ErrConnectionClosed) || !replayable(r) {
			break
		}
	}
	if errors.Is(err, fasthttp.ErrBodyTooLarge) && resp.StatusCode() > 0 {
		// The answer came, its body is over the cap: as with net/http,
		// the call sees the status and a body one byte over the cap, which
		// it refuses ("response body too large"); the attempt is not a
		// transport failure to retry. fasthttp closed the connection.
		out := answer(r, resp.StatusCode(), 0, -1)
		fasthttp.ReleaseResponse(resp)
		out.Body = io.NopCloser(io.LimitReader(zeros{}, t.maxBody+1))
		return out, nil
	}
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		return nil, mapFastError(ctx, err)
	}
	out := answer(r, resp.StatusCode(), resp.Header.Len(), int64(len(resp.Body())))
	copyHeader(out.Header, &resp.Header)
	if r.Method == http.MethodHead {
		out.ContentLength = int64(resp.Header.ContentLength())
	}
	out.Body = &fastBody{Reader: bytes.NewReader(resp.Body()), resp: resp}
	return out, nil
}

// answer is the http.Response for r's answer, without its body.
func answer(r *http.Request, code, headers int, length int64) *http.Response {
	return &http.Response{Status: http.StatusText(code), StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, headers), ContentLength: length, Request: r}
}

// copyHeader adds the answer's headers to h. Every value is a slice of one
// string, and every key's values a slice of one []string: two allocations
// for the whole header, where a string and a slice per header were (the
// answer's header was a third of fastTransport's allocations under load).
// A name that repeats gets its own slice on the first append, since each
// shared one is capped at its own values.
//
// An answer without a Content-Type has none here either: fasthttp would
// report its default, text/plain, where net/http reports nothing.
func copyHeader(h http.Header, src *fasthttp.ResponseHeader) {
	src.SetNoDefaultContentType(true) // cleared again when resp is released
	n, size := 0, 0
	src.VisitAll(func(_, v []byte) { n++; size += len(v) })
	if n == 0 {
		return
	}
	var b strings.Builder
	b.Grow(size) // never grown again: String below covers every value
	src.VisitAll(func(_, v []byte) { b.Write(v) })
	all, vals := b.String(), make([]string, n)
	i, at := 0, 0
	src.VisitAll(func(k, v []byte) {
		vals[i] = all[at : at+len(v)]
		key := headerKey(k)
		if prev, ok := h[key]; ok {
			h[key] = append(prev, vals[i])
		} else {
			h[key] = vals[i : i+1 : i+1]
		}
		i, at = i+1, at+len(v)
	})
}

// headerKey is k in net/http's canonical form, without allocating for the
// headers every answer carries.
func headerKey(k []byte) string {
	switch string(k) { // compiled without a conversion
	case "Content-Type":
		return "Content-Type"
	case "Content-Length":
		return "Content-Length"
	case "Date":
		return "Date"
	case "Server":
		return "Server"
	case "Connection":
		return "Connection"
	case "Retry-After":
		return "Retry-After"
	}
	return http.CanonicalHeaderKey(string(k))
}

// replayable is net/http's rule for sending a request again on its own:
// a method without side effects, or a request carrying an idempotency key.
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return r.Header.Get("Idempotency-Key") != "" || r.Header.Get("X-Idempotency-Key") != ""
}

// mapFastError gives fasthttp's errors the meaning net/http's had, for
// TransportOutcome and the callers' errors.Is.
func mapFastError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, fasthttp.ErrTLSHandshakeTimeout):
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return context.DeadlineExceeded
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return io.ErrUnexpectedEOF // closed before the first byte of an answer
	}
	if sb := (*fasthttp.ErrSmallBuffer)(nil); errors.As(err, &sb) {
		return errAnswerHeaderTooLarge
	}
	return err
}

// fastHeaderCarrier is a propagation.TextMapCarrier writing into the
// request fastTransport sends. fasthttp puts each name in canonical form,
// as http.Header.Set does.
type fastHeaderCarrier struct{ h *fasthttp.RequestHeader }

func (c fastHeaderCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c fastHeaderCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c fastHeaderCarrier) Keys() []string {
	keys := make([]string, 0, c.h.Len())
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}

// fastBody reads the answer in place and gives fasthttp its buffer back
// when closed.
type fastBody struct {
	*bytes.Reader
	resp *fasthttp.Response
}

func (b *fastBody) Close() error {
	if b.resp != nil {
		b.Reader.Reset(nil)
		fasthttp.ReleaseResponse(b.resp)
		b.resp = nil
	}
	return nil
}
