package adapters

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind says what a call does, which decides how a dry run treats it.
type Kind int

const (
	// Read calls are sent in dry runs too: read-modify-write needs the state.
	Read Kind = iota
	// Write calls change the vendor; a dry run records them and answers with
	// a synthetic response.
	Write
	// Auth calls obtain a session or token; sent in dry runs.
	Auth
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Read:
		return "read"
	case Write:
		return "write"
	case Auth:
		return "auth"
	}
	return "unknown"
}

// Call is one vendor HTTP call, as data. Body holds the exact bytes sent, and
// re-sent unchanged on every retry.
type Call struct {
	// Name is a short stable label ("get user", "put settings") for results,
	// traces and metrics.
	Name   string
	Kind   Kind
	Method string
	// Path is relative to the vendor base URL and may carry a query string.
	// Path segments taken from input must be escaped by the adapter.
	Path   string
	Header http.Header
	Body   []byte
	// Secrets lists JSON pointers ("/newPassword") of body members that must
	// be redacted wherever the call is shown (dry run, logs).
	Secrets []string
}

// Response is a vendor's answer to a Call, after retries.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Attempts is how many HTTP requests were sent for this call, retries
	// included (also those net/http re-sent itself after a dropped
	// connection).
	Attempts int
	// AttemptStatuses is each attempt's HTTP status (0: no response).
	AttemptStatuses []int
	// AttemptOutcomes names, for each attempt whose AttemptStatuses entry is
	// 0, what happened instead ("timeout", "reset", ...; see
	// result.AttemptStatus); "" where a status arrived. Nil when every
	// attempt got a status.
	AttemptOutcomes []string
	// RetryAfter is how long a caller should wait before trying again, set
	// by the resilience layer on a final 429 or 503: the vendor's
	// Retry-After capped at retry.max_retry_after, or, when the vendor sent
	// none, the gateway's own next backoff. Zero elsewhere; StatusError then
	// reads the header itself.
	RetryAfter time.Duration
	// Synthetic marks the placeholder answer a dry run gives to a Write: the
	// adapter must not check echoes against it.
	Synthetic bool
}

// CallError is a call that ended without a usable answer (transport
// failure, timeout, an unreadable body) after sending requests: it carries
// those attempts, so a result counts and lists them like an answered
// call's. Err holds the *canonical.Error.
type CallError struct {
	Err             error
	Attempts        int
	AttemptStatuses []int
	AttemptOutcomes []string
}

func (e *CallError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *CallError) Unwrap() error { return e.Err }

// Class is how the resilience layer should treat a response.
type Class int

const (
	// Default leaves the decision to the resilience layer's status policy.
	Default Class = iota
	// Healthy is a final answer from a working vendor: never retried, never
	// a breaker failure (a 4xx, or a vendor-specific refusal).
	Healthy
	// Retryable is a transient failure: retried, and a breaker failure when
	// retries run out.
	Retryable
	// Failure is a vendor failure that retrying will not fix: not retried,
	// but counted by the breaker.
	Failure
)

// Doer sends Calls. Implementations return a Response for every HTTP answer,
// whatever its status, and an error (carrying a *canonical.Error) only when
// no usable answer exists: transport failure, timeout, open breaker.
type Doer interface {
	Do(ctx context.Context, c *Call) (*Response, error)
}

// DoerFunc adapts a function to Doer.
type DoerFunc func(ctx context.Context, c *Call) (*Response, error)

// Do calls f.
func (f DoerFunc) Do(ctx context.Context, c *Call) (*Response, error) { return f(ctx, c) }

// Clone copies a call so a Doer can change headers without touching the
// caller's value. Body is shared: it is never modified.
func (c *Call) Clone() *Call {
	cp := *c
	cp.Header = c.Header.Clone()
	if cp.Header == nil {
		cp.Header = http.Header{}
	}
	cp.Secrets = append([]string(nil), c.Secrets...)
	return &cp
}

// DefaultMaxRetryAfter caps a Retry-After parsed where no vendor's
// retry.max_retry_after is at hand (the config default).
const DefaultMaxRetryAfter = 5 * time.Second

// ParseRetryAfter reads a Retry-After header (RFC 9110: delta seconds or an
// HTTP date) relative to now, capped at limit (retry.max_retry_after); 0
// when absent, unparseable, negative or already past. A huge delta
// (9999999999) saturates at limit instead of overflowing time.Duration.
// limit <= 0 means DefaultMaxRetryAfter.
func ParseRetryAfter(v string, now time.Time, limit time.Duration) time.Duration {
	if limit <= 0 {
		limit = DefaultMaxRetryAfter
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if v[0] >= '0' && v[0] <= '9' {
		// Only digits: ParseUint would also take "+5" and "0x5".
		if strings.Trim(v, "0123456789") != "" {
			return 0
		}
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil || secs > uint64(limit/time.Second) {
			// Out of range for uint64, or longer than limit: both saturate.
			return limit
		}
		d = time.Duration(secs) * time.Second
	} else {
		t, err := http.ParseTime(v)
		if err != nil {
			return 0
		}
		if t.After(now.Add(limit)) {
			return limit
		}
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, limit)
}
