package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/go-openapi/jsonpointer"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
)

// recorder is the per-request, per-target Doer: it keeps a summary of every
// call for the result and serves dry runs.
type recorder struct {
	next adapters.Doer
	dry  bool

	mu       sync.Mutex
	calls    []result.CallSummary
	attempts int
}

func (r *recorder) Do(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
	s := result.CallSummary{Name: c.Name, Method: c.Method, Path: c.Path}
	if r.dry {
		s.Header = RedactHeader(c.Header)
		s.Body = RedactBody(c)
	}
	if r.dry && c.Kind == adapters.Write {
		s.Planned = true
		r.add(s, 0)
		return &adapters.Response{Status: http.StatusOK, Header: http.Header{}, Synthetic: true}, nil
	}
	resp, err := r.next.Do(ctx, c)
	// attempts is exact: the HTTP requests the Doer says it sent. A call
	// that failed without an answer reports them through a CallError; one
	// never sent (breaker open, an invalid path) has none.
	attempts := 0
	var ce *adapters.CallError
	switch {
	case resp != nil:
		s.Status = resp.Status
		s.AttemptStatuses = attemptStatuses(resp.AttemptStatuses, resp.AttemptOutcomes)
		attempts = max(resp.Attempts, len(s.AttemptStatuses), 1) // an answer means a request was sent
	case errors.As(err, &ce):
		s.AttemptStatuses = attemptStatuses(ce.AttemptStatuses, ce.AttemptOutcomes)
		attempts = max(ce.Attempts, len(s.AttemptStatuses))
	}
	r.add(s, attempts)
	return resp, err
}

// attemptStatuses pairs each attempt's status with its transport outcome.
func attemptStatuses(statuses []int, outcomes []string) []result.AttemptStatus {
	if len(statuses) == 0 {
		return nil
	}
	out := make([]result.AttemptStatus, len(statuses))
	for i, st := range statuses {
		out[i].Status = st
		if st == 0 {
			out[i].Outcome = "error"
			if i < len(outcomes) && outcomes[i] != "" {
				out[i].Outcome = outcomes[i]
			}
		}
	}
	return out
}

func (r *recorder) add(s result.CallSummary, attempts int) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.attempts += attempts
	r.mu.Unlock()
}

func (r *recorder) summary() ([]result.CallSummary, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]result.CallSummary(nil), r.calls...), r.attempts
}

// credentialWords mark header names that carry credentials.
var credentialWords = []string{"authorization", "cookie", "token", "csrf", "secret", "password", "api-key", "apikey", "auth"}

// RedactHeader flattens a header for display with every credential-bearing
// header replaced by "[redacted]".
func RedactHeader(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, vs := range h {
		v := strings.Join(vs, ", ")
		lk := strings.ToLower(k)
		for _, w := range credentialWords {
			if strings.Contains(lk, w) {
				v = canonical.Redacted
				break
			}
		}
		out[k] = v
	}
	return out
}

// RedactBody renders a call's body for display with the members its Secrets
// name replaced. Login bodies, and non-JSON bodies that hold secrets, are
// redacted whole.
func RedactBody(c *adapters.Call) json.RawMessage {
	if len(c.Body) == 0 {
		return nil
	}
	whole, _ := json.Marshal(canonical.Redacted)
	if c.Kind == adapters.Auth {
		return whole
	}
	var v any
	if err := json.Unmarshal(c.Body, &v); err != nil {
		if len(c.Secrets) > 0 {
			return whole
		}
		s, _ := json.Marshal(string(c.Body))
		return s
	}
	ptrs := append([]string(nil), c.Secrets...)
	sort.Strings(ptrs)
	for _, p := range ptrs {
		if !redactPointer(&v, p) {
			return whole // a secret we cannot find must not be shown by accident
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return whole
	}
	return b
}

// redactPointer replaces the value at JSON pointer p (RFC 6901) in *v.
// A pointer to a member that is absent is fine (nothing to hide); one that
// does not parse, or a value that cannot be replaced, is not.
func redactPointer(v *any, p string) bool {
	ptr, err := jsonpointer.New(p)
	if err != nil || ptr.IsEmpty() {
		return false
	}
	if _, _, err := ptr.Get(*v); err != nil {
		return true
	}
	out, err := ptr.Set(*v, canonical.Redacted)
	if err != nil {
		return false
	}
	*v = out
	return true
}
