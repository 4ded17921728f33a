package adapters

import (
	"net/http"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// CredKind says whose credential a call carried, which decides what a 401/403
// means (docs/api.md, Codes).
type CredKind int

const (
	// ServiceCredential: the gateway's own credential; a refusal is the gateway's
	// problem (upstream_auth_failed, 502).
	ServiceCredential CredKind = iota
	// CallerCredential: the caller's credential; a refusal is the caller's
	// (unauthorized 401 / forbidden 403).
	CallerCredential
)

// StatusError maps a non-2xx vendor response to a *canonical.Error with the
// generic table of docs/api.md (Codes). message is the vendor's own message
// when the adapter could parse one (never a secret); a default is used when
// empty. Adapters call it for everything their vendor does not say more
// precisely.
func StatusError(r *Response, cred CredKind, message string) *canonical.Error {
	e := &canonical.Error{VendorStatus: r.Status, Message: message}
	switch s := r.Status; {
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		e.Code = canonical.CodeInvalidRequest
	case s == http.StatusUnauthorized:
		e.Code = canonical.CodeUpstreamAuthFailed
		if cred == CallerCredential {
			e.Code = canonical.CodeUnauthorized
		}
	case s == http.StatusForbidden:
		e.Code = canonical.CodeUpstreamAuthFailed
		if cred == CallerCredential {
			e.Code = canonical.CodeForbidden
		}
	case s == http.StatusNotFound:
		e.Code = canonical.CodeNotFound
	case s == http.StatusConflict:
		e.Code = canonical.CodeConflict
	case s == http.StatusTooManyRequests:
		e.Code = canonical.CodeRateLimited
		e.RetryAfter = r.retryAfter()
	case s == http.StatusGatewayTimeout:
		e.Code = canonical.CodeUpstreamTimeout
	case s >= 500:
		e.Code = canonical.CodeUpstreamUnavailable
		if s == http.StatusServiceUnavailable {
			e.RetryAfter = r.retryAfter()
		}
	default:
		e.Code = canonical.CodeUpstreamError
	}
	if e.Message == "" {
		e.Message = "vendor answered " + http.StatusText(r.Status)
		if e.Message == "vendor answered " {
			e.Message = "vendor answered an unexpected status"
		}
	}
	return e
}

// OK reports whether r is a 2xx answer.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// retryAfter is the resilience layer's advice when it gave one, else the
// vendor's header (capped at the default limit).
func (r *Response) retryAfter() time.Duration {
	if r.RetryAfter > 0 {
		return r.RetryAfter
	}
	return ParseRetryAfter(r.Header.Get("Retry-After"), time.Now(), DefaultMaxRetryAfter)
}
