package result

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/problem"
)

// Status is the overall or per-target outcome of an update.
type Status string

// Outcomes. A target is applied, failed or skipped; the request overall is
// applied (every target applied or skipped), partial or failed. A dry run
// reports planned where a real run would report applied, so a preview can
// never be mistaken for a write.
const (
	StatusApplied Status = "applied"
	StatusPlanned Status = "planned"
	StatusPartial Status = "partial"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped"
)

// Result is the response body of PATCH /v1/users/{id} (docs/api.md, The result).
type Result struct {
	ID            string                       `json:"id"`
	Status        Status                       `json:"status"`
	DryRun        bool                         `json:"dry_run,omitempty"`
	Results       map[string]Target            `json:"results"`
	SkippedFields map[string][]canonical.Field `json:"skipped_fields"`
	TraceID       string                       `json:"trace_id,omitempty"`
}

// Target is one vendor's outcome.
type Target struct {
	Status   Status `json:"status"`
	VendorID string `json:"vendor_id,omitempty"`
	// Attempts is the number of HTTP requests sent to that vendor for this
	// target, all calls and retries included: a login, a read and a write
	// with no retry are 3; a call retried twice is 3 on its own. A request
	// that got no answer (timeout, reset) counts; a call never sent (breaker
	// open, a dry run's planned write) does not. It equals the sum of the
	// lengths of calls[].attempt_statuses.
	Attempts   int               `json:"attempts"`
	DurationMS int64             `json:"duration_ms"`
	Applied    []canonical.Field `json:"applied_fields,omitempty"`
	Calls      []CallSummary     `json:"calls,omitempty"`
	Error      *ErrorBody        `json:"error,omitempty"`
	// Replayed marks a target reported from an idempotency record rather than
	// written again.
	Replayed bool `json:"replayed,omitempty"`
	// Verified marks a target found already applied at the vendor when a
	// retry resumed after an interrupted run, so it was not written again.
	Verified bool `json:"verified,omitempty"`
}

// CallSummary is one vendor call made (or, in a dry run, planned).
type CallSummary struct {
	Name   string `json:"name,omitempty"`
	Method string `json:"method"`
	Path   string `json:"path"`
	// Status is the final HTTP status, 0 when no response arrived.
	Status int `json:"status,omitempty"`
	// AttemptStatuses lists each HTTP request sent for this call, in order:
	// the vendor's status, or the named transport outcome when no answer
	// came (see AttemptStatus).
	AttemptStatuses []AttemptStatus `json:"attempt_statuses,omitempty"`
	// Planned marks a write a dry run did not send.
	Planned bool `json:"planned,omitempty"`
	// Header and Body are shown in dry runs only, with credentials and secrets
	// redacted.
	Header map[string]string `json:"header,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
}

// ErrorBody is a target's error in the result.
type ErrorBody struct {
	Code         canonical.Code         `json:"code"`
	Message      string                 `json:"message"`
	VendorStatus int                    `json:"vendor_status,omitempty"`
	RetryAfter   int                    `json:"retry_after_s,omitempty"`
	Fields       []canonical.FieldError `json:"errors,omitempty"`
}

// NewErrorBody converts an outcome error for the result body.
func NewErrorBody(e *canonical.Error) *ErrorBody {
	return &ErrorBody{Code: e.Code, Message: e.Message, VendorStatus: e.VendorStatus,
		RetryAfter: problem.RetryAfterSeconds(e.RetryAfter), Fields: e.Fields}
}

// Finish computes the overall status from the targets' statuses and returns
// the HTTP status and Retry-After to answer with: 200 when applied (planned in
// a dry run), 207 when
// partial; when every target failed, the mapped status if all targets agree,
// else 502. Retry-After is the longest any failed target asked for.
func (r *Result) Finish() (httpStatus int, retryAfter time.Duration) {
	applied, failed := 0, 0
	var codes []canonical.Code
	for _, t := range r.Results {
		switch t.Status {
		case StatusApplied, StatusPlanned:
			applied++
		case StatusFailed:
			failed++
			if t.Error != nil {
				codes = append(codes, t.Error.Code)
				if d := time.Duration(t.Error.RetryAfter) * time.Second; d > retryAfter {
					retryAfter = d
				}
			}
		}
	}
	switch {
	case failed == 0:
		r.Status = StatusApplied
		if r.DryRun {
			r.Status = StatusPlanned
		}
		return http.StatusOK, 0
	case applied > 0:
		r.Status = StatusPartial
		return http.StatusMultiStatus, retryAfter
	}
	r.Status = StatusFailed
	status := http.StatusBadGateway
	if len(codes) == failed && len(codes) > 0 {
		status = codes[0].HTTPStatus()
		for _, c := range codes[1:] {
			if c.HTTPStatus() != status {
				status = http.StatusBadGateway
				break
			}
		}
	}
	return status, retryAfter
}

// AttemptStatus is one HTTP request sent to a vendor: the status it
// answered (a JSON number), or, when no answer came, a named transport
// outcome (a JSON string): "timeout" (the attempt timeout or the target
// deadline ran out), "reset" (the connection was reset or closed before an
// answer), "refused", "dns", "tls", "cancelled" (the caller went away) or
// "error".
type AttemptStatus struct {
	Status  int
	Outcome string
}

// MarshalJSON writes the status, or the outcome when there is none.
func (a AttemptStatus) MarshalJSON() ([]byte, error) {
	if a.Status != 0 {
		return json.Marshal(a.Status)
	}
	if a.Outcome == "" {
		return []byte(`"error"`), nil
	}
	return json.Marshal(a.Outcome)
}

// UnmarshalJSON reads either form (and records stored before outcomes
// were named, where 0 meant "no answer").
func (a *AttemptStatus) UnmarshalJSON(b []byte) error {
	*a = AttemptStatus{}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &a.Outcome)
	}
	if err := json.Unmarshal(b, &a.Status); err != nil {
		return fmt.Errorf("attempt status: %w", err)
	}
	if a.Status == 0 {
		a.Outcome = "error"
	}
	return nil
}
