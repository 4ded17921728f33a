package frontier

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
)

var _ adapters.Checker = (*Adapter)(nil)

// checkUserID is a user id no Frontier user has (the nil UUID): GetUser
// authenticates and applies the superuser rule before it looks the user up
// (frontier.md section 6), so its 404 proves both without reading anyone.
const checkUserID = "00000000-0000-0000-0000-000000000000"

// Check implements adapters.Checker with one GetUser (Frontier has no
// login: every call carries Basic auth). 404 is the expected answer;
// 401 is a refused credential and 503 code 14 a credential that is not a
// platform superuser.
func (a *Adapter) Check(ctx context.Context, do adapters.Doer) error {
	if a.cred.IsZero() {
		return adapters.ErrNoCredential
	}
	resp, err := do.Do(ctx, &adapters.Call{Name: "get user", Kind: adapters.Read, Method: http.MethodGet,
		Path: "/v1beta1/users/" + checkUserID, Header: a.header()})
	if err != nil {
		return err
	}
	switch {
	case resp.OK(), isUnknownUserGet(resp):
		return nil
	case isNotSuperuser(resp):
		return &adapters.CheckError{Message: "Frontier answered 503 function not available: the credential is not a platform superuser", Err: a.mapError(resp)}
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return &adapters.CheckError{Message: fmt.Sprintf("Frontier refused the credential (%d)", resp.Status), Credential: true, Err: a.mapError(resp)}
	}
	e := a.mapError(resp)
	return &adapters.CheckError{Message: fmt.Sprintf("Frontier answered %d to GET /v1beta1/users/{id}: %s", resp.Status, e.Message), Err: e}
}

// isUnknownUserGet is GetUser's answer for an id no user has: 404 code 5
// "user doesn't exist" (a wrong base URL's 404 is code 5 "Not Found").
func isUnknownUserGet(r *adapters.Response) bool {
	if r.Status != http.StatusNotFound {
		return false
	}
	var s status
	return json.Unmarshal(r.Body, &s) == nil && s.Code == 5 && strings.Contains(s.Message, "doesn't exist")
}
