package commvault

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// parseGeneric reads GenericResp; ok is false when the body is not one.
func parseGeneric(b []byte) (genericResp, bool) {
	var g genericResp
	if err := json.Unmarshal(b, &g); err != nil {
		return g, false
	}
	return g, true
}

// outcome maps a PUT response: success only for 2xx with errorCode 0 or
// absent.
func outcome(r *adapters.Response) *canonical.Error {
	g, ok := parseGeneric(r.Body)
	if r.OK() {
		if !ok {
			return &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: r.Status, Message: "Commvault answered 200 with an unreadable body"}
		}
		if g.ErrorCode == nil || *g.ErrorCode == 0 {
			return nil
		}
		return byCode(r.Status, *g.ErrorCode, g.ErrorMessage)
	}
	if ok && g.ErrorCode != nil && *g.ErrorCode != 0 && r.Status != http.StatusUnauthorized && r.Status < 500 && r.Status != http.StatusTooManyRequests {
		e := byCode(r.Status, *g.ErrorCode, g.ErrorMessage)
		if e.Code == canonical.CodeUpstreamError {
			// The HTTP status says more than an unknown vendor code.
			e = adapters.StatusError(r, adapters.ServiceCredential, truncate(g.ErrorMessage))
		}
		return e
	}
	return adapters.StatusError(r, adapters.ServiceCredential, truncate(g.ErrorMessage))
}

// byCode maps Commvault errorCode values and messages to canonical codes.
func byCode(status, code int, msg string) *canonical.Error {
	e := &canonical.Error{VendorStatus: status, Message: truncate(msg)}
	lm := strings.ToLower(msg)
	switch {
	case code == 404 || strings.Contains(lm, "not found"):
		e.Code = canonical.CodeNotFound
	case code == 409 || strings.Contains(lm, "already exists"):
		e.Code = canonical.CodeConflict
	case code == 403 || code == 401:
		e.Code = canonical.CodeUpstreamAuthFailed
	case code == 1 || code == 2 || code == 3 || code == 400 || code == 1116 || strings.Contains(lm, "invalid") || strings.Contains(lm, "required") || strings.Contains(lm, "cannot"):
		e.Code = canonical.CodeInvalidRequest
	default:
		e.Code = canonical.CodeUpstreamError
	}
	if e.Message == "" {
		e.Message = "Commvault reported errorCode " + itoa(code)
	}
	return e
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
