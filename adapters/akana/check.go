package akana

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Checker = (*Adapter)(nil)

// Check implements adapters.Checker: a fresh login (not the shared session,
// so the credential itself is proven) and GET /api/notifications/types with
// its cookies, the cheapest documented read that needs a session. It proves
// the URL, the tenant (cookie names carry it) and the credential. Whether
// the account is a Site Admin cannot be read without naming another user,
// so a refused update of another user remains the sign of a missing role.
func (a *Adapter) Check(ctx context.Context, do adapters.Doer) error {
	if a.cred.IsZero() {
		return adapters.ErrNoCredential
	}
	tok, err := a.login(ctx, do)
	if err != nil {
		var ce *canonical.Error
		if errors.As(err, &ce) && ce.Code == canonical.CodeUpstreamAuthFailed {
			if ce.VendorStatus == http.StatusUnauthorized || ce.VendorStatus == http.StatusForbidden {
				return &adapters.CheckError{Message: fmt.Sprintf("Akana login refused (%d)", ce.VendorStatus), Credential: true, Err: err}
			}
			return &adapters.CheckError{Message: "Akana login: " + ce.Message + "; check settings.tenant", Err: err}
		}
		if errors.As(err, &ce) && ce.Code == canonical.CodeNotFound {
			return &adapters.CheckError{Message: "Akana answered 404 to POST /api/login: base_url must be the portal's root (https://<portal host>)", Err: err}
		}
		return err
	}
	h := readHeader()
	for k, v := range tok.Header {
		h[k] = v
	}
	resp, err := do.Do(ctx, &adapters.Call{Name: "get notification types", Kind: adapters.Read, Method: http.MethodGet, Path: "/api/notifications/types", Header: h})
	if err != nil {
		return err
	}
	if !resp.OK() {
		e := mapError(resp)
		msg := fmt.Sprintf("Akana answered %d to a read right after login", resp.Status)
		if resp.Status == http.StatusUnauthorized {
			msg += ": the session cookie was refused; check settings.tenant"
		}
		return &adapters.CheckError{Message: msg, Err: e}
	}
	return nil
}
