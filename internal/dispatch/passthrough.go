package dispatch

import (
	"github.com/identity-gateway/identity-gateway/canonical"
)

// callerRefusal rewords a vendor's refusal of the caller's own
// pass-through credential (unauthorized 401, forbidden 403) to say which
// vendor refused the credential in which header. The status stays the
// caller's, as designed, but a bare "401 unauthorized" reads as the
// gateway refusing the caller's API key. Other errors, and refusals of the
// gateway's own service credential (upstream_auth_failed), are returned
// as they are; e is never changed in place.
func callerRefusal(e *canonical.Error, p plan) *canonical.Error {
	if p.op.PassThrough == "" || p.target.PassThroughHeader == "" ||
		(e.Code != canonical.CodeUnauthorized && e.Code != canonical.CodeForbidden) {
		return e
	}
	msg := p.target.Name + " refused the credential in " + p.target.PassThroughHeader
	if e.Code == canonical.CodeForbidden {
		msg += " (not permitted)"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	cp := *e
	cp.Message = msg
	return &cp
}
