package problem

import (
	"encoding/json"
	"math"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// ContentType is the RFC 9457 media type.
const ContentType = "application/problem+json"

// TypeBase prefixes every problem "type": a tag URI (RFC 4151), stable
// and never dereferenced, followed by the code.
const TypeBase = "tag:identity-gateway,2026:problem:"

// Problem is an RFC 9457 problem details document with the gateway's
// extension members (code, errors, retry_after_s).
type Problem struct {
	Type       string                 `json:"type"`
	Title      string                 `json:"title"`
	Status     int                    `json:"status"`
	Detail     string                 `json:"detail,omitempty"`
	Instance   string                 `json:"instance,omitempty"`
	Code       canonical.Code         `json:"code"`
	Errors     []canonical.FieldError `json:"errors,omitempty"`
	RetryAfter int                    `json:"retry_after_s,omitempty"`
	TraceID    string                 `json:"trace_id,omitempty"`
}

// New renders e as a problem document.
func New(e *canonical.Error) Problem {
	return Problem{
		Type:       TypeBase + string(e.Code),
		Title:      e.Code.Title(),
		Status:     e.Code.HTTPStatus(),
		Detail:     e.Message,
		Code:       e.Code,
		Errors:     e.Fields,
		RetryAfter: RetryAfterSeconds(e.RetryAfter),
	}
}

// JSON encodes the problem; it cannot fail for this type.
func (p Problem) JSON() []byte {
	b, _ := json.Marshal(p)
	return b
}

// RetryAfterSeconds rounds a wait up to whole seconds, as the Retry-After
// header carries them; 0 stays 0.
func RetryAfterSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}
