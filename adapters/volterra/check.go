package volterra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
)

var _ adapters.Checker = (*Adapter)(nil)

// Check implements adapters.Checker with whoami, the one read every update
// starts with: it proves the console URL, the token, and that the token is
// a user's own (a service user has no user settings). Volterra has no login.
func (a *Adapter) Check(ctx context.Context, do adapters.Doer) error {
	if a.token == "" {
		return adapters.ErrNoCredential
	}
	cred := credential{token: bareToken(a.token), kind: adapters.ServiceCredential}
	if !validToken(cred.token) {
		return &adapters.CheckError{Message: "the configured Volterra token is not a well-formed API token", Credential: true}
	}
	resp, err := do.Do(ctx, &adapters.Call{Name: "whoami", Kind: adapters.Read, Method: http.MethodGet, Path: whoamiPath, Header: cred.header(false)})
	if err != nil {
		return err
	}
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return &adapters.CheckError{Message: fmt.Sprintf("Volterra refused the API token (whoami answered %d)", resp.Status), Credential: true,
			Err: mapError(resp, adapters.ServiceCredential)}
	case resp.Status == http.StatusNotFound:
		return &adapters.CheckError{Message: "Volterra answered 404 to whoami: base_url must be the tenant console (https://<tenant>.console.ves.volterra.io)",
			Err: mapError(resp, adapters.ServiceCredential)}
	case !resp.OK():
		e := mapError(resp, adapters.ServiceCredential)
		return &adapters.CheckError{Message: fmt.Sprintf("Volterra whoami answered %d: %s", resp.Status, e.Message), Err: e}
	}
	var who whoamiResponse
	if err := json.Unmarshal(resp.Body, &who); err != nil {
		return &adapters.CheckError{Message: "Volterra whoami answered 200 without the documented JSON object: base_url must be the tenant console"}
	}
	if strings.EqualFold(who.Type, "SERVICE") {
		return &adapters.CheckError{Message: serviceUserError(adapters.ServiceCredential).Message, Credential: true}
	}
	return nil
}
