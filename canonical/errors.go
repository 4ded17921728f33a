package canonical

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Code is a canonical error code, stable across vendors (docs/api.md, Codes).
type Code string

// The canonical error codes.
const (
	CodeInvalidRequest         Code = "invalid_request"
	CodeUnauthorized           Code = "unauthorized"
	CodeForbidden              Code = "forbidden"
	CodeNotFound               Code = "not_found"
	CodeConflict               Code = "conflict"
	CodeUnsupportedField       Code = "unsupported_field"
	CodePayloadTooLarge        Code = "payload_too_large"
	CodeUnsupportedMediaType   Code = "unsupported_media_type"
	CodeMethodNotAllowed       Code = "method_not_allowed"
	CodeRateLimited            Code = "rate_limited"
	CodeUpstreamAuthFailed     Code = "upstream_auth_failed"
	CodeUpstreamUnavailable    Code = "upstream_unavailable"
	CodeUpstreamTimeout        Code = "upstream_timeout"
	CodeUpstreamError          Code = "upstream_error"
	CodeCircuitOpen            Code = "circuit_open"
	CodeIdempotencyInProgress  Code = "idempotency_in_progress"
	CodeIdempotencyKeyReused   Code = "idempotency_key_reused"
	CodeIdempotencyUnavailable Code = "idempotency_unavailable"
	CodeInternal               Code = "internal"
	// CodeHTTPVersionNotSupported: the request line named a protocol
	// version other than HTTP/1.0 or HTTP/1.1.
	CodeHTTPVersionNotSupported Code = "http_version_not_supported"
	// CodeIdentityMismatch: the vendor credential acts on another user than
	// the one the request addresses (Volterra's whoami), so nothing is
	// written (422).
	CodeIdentityMismatch Code = "identity_mismatch"
	// CodePreconditionFailed: an If-Match did not hold at some target; nothing was written.
	CodePreconditionFailed Code = "precondition_failed"
)

// CodeAccountBusy: another update of the same vendor account held its lock
// for longer than this one could wait, or this update's lock expired before
// its write (which was then not sent). 409 with Retry-After: the account is
// in a conflicting state for now, and sending the update again is safe.
const CodeAccountBusy Code = "account_busy"

// HTTPStatus is the one place the code-to-status mapping of docs/api.md
// (Codes) lives; api/openapi.yaml repeats it and a test keeps them equal.
// Identity-link codes (issue 20).
const (
	// CodeNotLinked: a target has no vendor id for the user (none in the
	// request, no stored link, no resolution match).
	CodeNotLinked Code = "not_linked"
	// CodeAmbiguousLink: resolution found several accounts at a target.
	CodeAmbiguousLink Code = "ambiguous_link"
	// CodeAuditUnavailable: the audit trail cannot record, so nothing is
	// written (audit.on_error: fail).
	CodeAuditUnavailable Code = "audit_unavailable"
)

func (c Code) HTTPStatus() int {
	switch c {
	case CodeInvalidRequest:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict, CodeIdempotencyInProgress:
		return http.StatusConflict
	case CodeUnsupportedField, CodeIdempotencyKeyReused:
		return http.StatusUnprocessableEntity
	case CodeIdentityMismatch:
		return http.StatusUnprocessableEntity
	case CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUpstreamAuthFailed, CodeUpstreamUnavailable, CodeUpstreamError:
		return http.StatusBadGateway
	case CodeUpstreamTimeout:
		return http.StatusGatewayTimeout
	case CodeCircuitOpen, CodeIdempotencyUnavailable, CodeAuditUnavailable:
		return http.StatusServiceUnavailable
	case CodeHTTPVersionNotSupported:
		return http.StatusHTTPVersionNotSupported
	case CodeAccountBusy:
		return http.StatusConflict
	case CodePreconditionFailed:
		return http.StatusPreconditionFailed
	case CodeNotLinked:
		return http.StatusNotFound
	case CodeAmbiguousLink:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// Title is the short human summary used as the problem "title".
func (c Code) Title() string {
	switch c {
	case CodeInvalidRequest:
		return "Invalid request"
	case CodeUnauthorized:
		return "Unauthorized"
	case CodeForbidden:
		return "Forbidden"
	case CodeNotFound:
		return "Not found"
	case CodeConflict:
		return "Conflict"
	case CodeUnsupportedField:
		return "Unsupported field"
	case CodePayloadTooLarge:
		return "Payload too large"
	case CodeUnsupportedMediaType:
		return "Unsupported media type"
	case CodeMethodNotAllowed:
		return "Method not allowed"
	case CodeRateLimited:
		return "Rate limited"
	case CodeUpstreamAuthFailed:
		return "Upstream authentication failed"
	case CodeUpstreamUnavailable:
		return "Upstream unavailable"
	case CodeUpstreamTimeout:
		return "Upstream timeout"
	case CodeUpstreamError:
		return "Upstream error"
	case CodeCircuitOpen:
		return "Circuit open"
	case CodeIdempotencyInProgress:
		return "Idempotent request in progress"
	case CodeIdempotencyKeyReused:
		return "Idempotency key reused"
	case CodeIdempotencyUnavailable:
		return "Idempotency store unavailable"
	case CodeHTTPVersionNotSupported:
		return "HTTP version not supported"
	case CodeAccountBusy:
		return "Account busy"
	case CodeIdentityMismatch:
		return "Identity mismatch"
	case CodePreconditionFailed:
		return "Precondition failed"
	case CodeNotLinked:
		return "Not linked"
	case CodeAmbiguousLink:
		return "Ambiguous link"
	case CodeAuditUnavailable:
		return "Audit trail unavailable"
	}
	return "Internal error"
}

// FieldError names one bad field by its JSON path ("user.email"). Target is
// set when the problem is specific to one vendor.
type FieldError struct {
	Field   string `json:"field"`
	Target  string `json:"target,omitempty"`
	Message string `json:"message"`
}

// Unsupported is a field (or a value of it) one target cannot take, with why.
type Unsupported struct {
	Field  Field
	Reason string
}

// Error is the one outcome error type: returned by adapters (wrapped with %w)
// and read with errors.As by the dispatcher and the HTTP layer.
type Error struct {
	Code    Code
	Message string
	// VendorStatus is the vendor's HTTP status, 0 when no vendor answered.
	VendorStatus int
	// RetryAfter is how long the client should wait (429, 503), 0 if unknown.
	RetryAfter time.Duration
	// Fields lists every bad field at once.
	Fields []FieldError
}

// Error implements error. The message never carries secrets: adapters build
// it from vendor messages and field names only.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if f.Target != "" {
			b.WriteString(f.Target)
			b.WriteString(" ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	return b.String()
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError finds the *Error in err's chain. Errors that carry none become
// CodeInternal, so every failure has a code.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}

// FieldErrors collects field errors; its zero value is ready to use.
type FieldErrors []FieldError

// Add records a bad field.
func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns an invalid_request *Error carrying every collected field, or nil.
func (fe FieldErrors) Err(message string) error {
	if len(fe) == 0 {
		return nil
	}
	return &Error{Code: CodeInvalidRequest, Message: message, Fields: fe}
}
