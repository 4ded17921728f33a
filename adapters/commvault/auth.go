package commvault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/session"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// noToken starts the message of a login answered without a token (how
// Commvault refuses a credential).
const noToken = "Commvault answered the login without a token"

// login obtains a token; Commvault answers a failed login with HTTP 200,
// errList and no token.
func (a *Adapter) login(ctx context.Context, do adapters.Doer) (session.Token, error) {
	body, _ := json.Marshal(loginRequest{Username: a.cred.Username, Password: base64.StdEncoding.EncodeToString([]byte(a.cred.Password.Reveal())), Timeout: a.cfg.TokenTimeoutMinutes})
	resp, err := do.Do(ctx, &adapters.Call{Name: "login", Kind: adapters.Auth, Method: http.MethodPost, Path: "/Login",
		Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}, Body: body, Secrets: []string{"/password"}})
	if err != nil {
		return session.Token{}, fmt.Errorf("commvault: login: %w", err)
	}
	if !resp.OK() {
		e := adapters.StatusError(resp, adapters.ServiceCredential, "")
		if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden {
			e.Message = "Commvault refused the gateway's service account"
		}
		return session.Token{}, fmt.Errorf("commvault: login: %w", e)
	}
	var lr loginResponse
	if err := json.Unmarshal(resp.Body, &lr); err != nil || lr.Token == "" {
		msg := noToken
		if len(lr.ErrList) > 0 && lr.ErrList[0].ErrLogMessage != "" {
			msg += ": " + truncate(lr.ErrList[0].ErrLogMessage)
		}
		return session.Token{}, fmt.Errorf("commvault: login: %w", &canonical.Error{Code: canonical.CodeUpstreamAuthFailed, VendorStatus: resp.Status, Message: msg})
	}
	return session.Token{Header: http.Header{"Authtoken": {lr.Token}}}, nil
}
