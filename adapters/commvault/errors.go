package commvault

import (
	"encoding/json"
	"net/http"
	"strconv"

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

// byCode maps a non-zero Commvault errorCode to a canonical code. Only
// codes with a documented meaning map to something the caller can act on:
// Commvault's own examples use HTTP statuses as errorCode values with their
// usual meaning (vendors/commvault.md section 6: {"errorMessage":"Page not
// found","errorCode":404}). Every other code (1 and 2 are the legacy
// "failure", 3, -1, 1116, 100 ...) documents nothing more than "the vendor
// failed", so it is upstream_error (502) with the vendor's message: a
// caller must never be told its request was bad because Commvault said
// "2". The message text is not guessed from.
//
//	errorCode  canonical
//	400        invalid_request
//	401, 403   upstream_auth_failed (the service account's session)
//	404        not_found
//	409        conflict
//	other      upstream_error
func byCode(status, code int, msg string) *canonical.Error {
	e := &canonical.Error{VendorStatus: status, Message: truncate(msg)}
	switch code {
	case http.StatusBadRequest:
		e.Code = canonical.CodeInvalidRequest
	case http.StatusUnauthorized, http.StatusForbidden:
		e.Code = canonical.CodeUpstreamAuthFailed
	case http.StatusNotFound:
		e.Code = canonical.CodeNotFound
	case http.StatusConflict:
		e.Code = canonical.CodeConflict
	default:
		e.Code = canonical.CodeUpstreamError
	}
	if e.Message == "" {
		e.Message = "Commvault reported errorCode " + strconv.Itoa(code)
	}
	return e
}

// truncate bounds a vendor message kept in an error.
func truncate(s string) string { return adapters.Truncate(s, 300) }
