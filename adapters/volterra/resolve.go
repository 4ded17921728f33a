package volterra

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var (
	_ adapters.Resolver         = (*Adapter)(nil)
	_ adapters.ResolveDescriber = (*Adapter)(nil)
)

// ResolveSupport implements adapters.ResolveDescriber.
func (a *Adapter) ResolveSupport() adapters.ResolveSupport {
	return adapters.ResolveSupport{By: []string{adapters.ResolveByEmail, adapters.ResolveByUsername},
		As: "GET .../whoami of the token's owner (the caller's pass-through token, else the service token): a match on its email or name (case-insensitive) links that user (name is the vendor id)",
		Reason: "whoami knows only the credential's owner; finding any other user needs the tenant-admin user_roles list, " +
			"and settings can change only for the owner anyway (volterra.md 9.1, 9.2)"}
}

// whoamiIdentity is the part of whoami resolution reads.
type whoamiIdentity struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Type  string `json:"type"`
}

// Resolve asks whoami who the token belongs to (the caller's pass-through
// token when the request carries one, else the service token) and answers that
// user's name when its e-mail or name matches value (case-insensitively:
// the letter case rules are not documented, volterra.md 9.1). Volterra
// changes only the credential owner's settings, so the owner is the one
// account this target can ever write; anyone else has no match. A service
// user has no settings, so it never matches.
func (a *Adapter) Resolve(ctx context.Context, do adapters.Doer, by, value string) ([]string, error) {
	want := strings.TrimSpace(value)
	if want == "" || (by != adapters.ResolveByEmail && by != adapters.ResolveByUsername) {
		return nil, fmt.Errorf("volterra: resolve: %w", &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "nothing to resolve by"})
	}
	// The caller's own token, when sent, names the account this update
	// would change; else the service token's owner.
	cred, ok := a.credentialFor(adapters.Op{PassThrough: adapters.PassThroughFrom(ctx)})
	if !ok || !validToken(cred.token) {
		return nil, fmt.Errorf("volterra: resolve: %w", &canonical.Error{Code: canonical.CodeInvalidRequest,
			Message: a.name + " resolves accounts through the API token's owner and has no usable token; link the account instead"})
	}
	resp, err := a.get(ctx, do, cred, "whoami", whoamiPath)
	if err != nil {
		return nil, err
	}
	var who whoamiIdentity
	if err := json.Unmarshal(resp.Body, &who); err != nil {
		return nil, fmt.Errorf("volterra: whoami: %w", upstreamError(resp.Status, "the whoami answer is not the documented JSON object"))
	}
	got := who.Email
	if by == adapters.ResolveByUsername {
		got = who.Name
	}
	if who.Name == "" || strings.EqualFold(who.Type, "SERVICE") || !strings.EqualFold(got, want) {
		return []string{}, nil
	}
	return []string{who.Name}, nil
}
