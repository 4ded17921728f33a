// Package upstream builds the per-vendor Doer under every adapter: the
// resilience stack of README.md (Resilience), read outermost first:
//
//	breaker (gobreaker v2, one sample per logical call)
//	  -> retries (go-retryablehttp: transport errors, 429, 502-504, 500 if configured;
//	     exponential backoff with full jitter; Retry-After honoured up to a cap;
//	     never waiting past the request deadline; identical body on every attempt)
//	    -> the attempt: its timeout (a context deadline that lasts until the
//	       body is read) and its client span (W3C traceparent propagated),
//	       with the otel API directly
//	      -> the attempt's status recorded
//	        -> net/http (a keep-alive pool per vendor; the body is in-memory
//	           bytes, so a call leaves in one write)
//
// The breaker sits outside the retries so that an open breaker fails fast
// without spending them, and so one logical call is one sample. Only
// transport errors, timeouts, 5xx and 429 (after retries), and what a
// vendor's Classifier calls a Failure, count against it; a vendor's 4xx is a
// healthy vendor and a caller's cancellation counts for nothing.
//
// When a wait (Retry-After or backoff) would run past the deadline, retrying
// stops at once and the last response is returned, so the adapter reports
// the vendor's own status (429 rate_limited, 503 upstream_unavailable) with
// its Retry-After rather than a timeout. upstream_timeout is reserved for an
// attempt or deadline that actually ran out.
//
// This package is the only importer of go-retryablehttp and gobreaker.
package upstream
