package commvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Checker = (*Adapter)(nil)

// Check implements adapters.Checker: a fresh login (Commvault refuses a bad
// password with 200 and no token) and GET /V4/user (GetUsers), the
// documented read of the user API the updates use, with the token.
func (a *Adapter) Check(ctx context.Context, do adapters.Doer) error {
	if a.cred.IsZero() {
		return adapters.ErrNoCredential
	}
	tok, err := a.login(ctx, do)
	if err != nil {
		var ce *canonical.Error
		if errors.As(err, &ce) && ce.Code == canonical.CodeUpstreamAuthFailed {
			why := strings.TrimPrefix(strings.TrimPrefix(ce.Message, noToken), ": ")
			if why == "" {
				why = ce.Message
			}
			return &adapters.CheckError{Message: "Commvault login refused: " + why, Credential: true, Err: err}
		}
		if errors.As(err, &ce) && ce.Code == canonical.CodeNotFound {
			return &adapters.CheckError{Message: "Commvault answered 404 to POST /Login: base_url must end in the API root (.../commandcenter/api or .../webconsole/api)", Err: err}
		}
		return err
	}
	h := http.Header{"Accept": {"application/json"}}
	for k, v := range tok.Header {
		h[k] = v
	}
	resp, err := do.Do(ctx, &adapters.Call{Name: "list users", Kind: adapters.Read, Method: http.MethodGet, Path: "/V4/user", Header: h})
	if err != nil {
		return err
	}
	if !resp.OK() {
		e := outcome(resp)
		msg := fmt.Sprintf("Commvault answered %d to GET /V4/user after login", resp.Status)
		if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden {
			msg += ": the service account lacks the User Management permission"
		}
		return &adapters.CheckError{Message: msg, Err: e}
	}
	return nil
}
