package frontier

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Creator = (*Adapter)(nil)

// createNameRe is Frontier's PGV rule for name (frontier.md 2.1): a name
// that breaks it is left out, and Frontier generates a slug from the e-mail.
var createNameRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-_]{3,64}$`)

// Create is CreateUser, POST /v1beta1/users (frontier.md 9.2): the body is
// a UserRequestBody with email (required), name, title and metadata; 200
// returns the user, whose id is the vendor id; 409 code 6 "already exist"
// is a name or e-mail Frontier already has. Superuser only.
func (a *Adapter) Create(ctx context.Context, do adapters.Doer, u canonical.Update) (string, error) {
	if !u.Email.Set || strings.TrimSpace(u.Email.V) == "" {
		return "", fmt.Errorf("frontier: create user: %w", &canonical.Error{Code: canonical.CodeInvalidRequest,
			Message: "Frontier needs an e-mail to create a user", Fields: []canonical.FieldError{{Field: "user.email", Target: "frontier", Message: "is required to create a Frontier user"}}})
	}
	b := map[string]any{"email": strings.ToLower(u.Email.V)}
	if u.Username.Set && createNameRe.MatchString(u.Username.V) {
		b["name"] = strings.ToLower(u.Username.V)
	}
	if u.DisplayName.Set {
		b["title"] = u.DisplayName.V
	}
	if u.Metadata.Set {
		b["metadata"] = u.Metadata.V
	}
	body, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("frontier: create user: %w", err)
	}
	resp, err := do.Do(ctx, &adapters.Call{Name: "create user", Kind: adapters.Write, Method: http.MethodPost,
		Path: "/v1beta1/users", Header: a.header(), Body: body})
	if err != nil {
		return "", fmt.Errorf("frontier: create user: %w", err)
	}
	if resp.Synthetic {
		return "", nil
	}
	if resp.Status == http.StatusConflict {
		return "", fmt.Errorf("frontier: create user: %w", &canonical.Error{Code: canonical.CodeConflict, VendorStatus: resp.Status,
			Message: "Frontier already has a user with this name or e-mail"})
	}
	if !resp.OK() {
		return "", fmt.Errorf("frontier: create user: %w", a.mapError(resp))
	}
	var env userEnvelope
	if err := json.Unmarshal(resp.Body, &env); err != nil || env.User == nil || env.User.ID == "" {
		return "", fmt.Errorf("frontier: create user: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Frontier answered the create with no user id"})
	}
	return env.User.ID, nil
}

var _ adapters.Deleter = (*Adapter)(nil)

// Delete is DeleteUser, DELETE /v1beta1/users/{uuid} (frontier.md 9.3):
// permanent; 200 {}; an unknown UUID is 500 code 13 "user doesn't exist".
// Superuser only.
func (a *Adapter) Delete(ctx context.Context, do adapters.Doer, vendorID string) error {
	if _, err := a.Preflight(adapters.Op{UserID: vendorID}); err != nil {
		return fmt.Errorf("frontier: delete user: %w", err)
	}
	resp, err := do.Do(ctx, &adapters.Call{Name: "delete user", Kind: adapters.Write, Method: http.MethodDelete,
		Path: "/v1beta1/users/" + url.PathEscape(vendorID), Header: a.header()})
	if err != nil {
		return fmt.Errorf("frontier: delete user: %w", err)
	}
	if resp.Synthetic || resp.OK() {
		return nil
	}
	return fmt.Errorf("frontier: delete user: %w", a.mapError(resp))
}
