package akana

import "github.com/identity-gateway/identity-gateway/adapters"

var _ adapters.ResolveDescriber = (*Adapter)(nil)

// ResolveSupport implements adapters.ResolveDescriber. Akana is no
// Resolver: akana.md 9.1 found no documented lookup by e-mail or user name.
// GET /api/search?q= exists, but which user fields it indexes, how it
// matches and what a result looks like could not be retrieved, and a
// guessed match could link the wrong account.
func (a *Adapter) ResolveSupport() adapters.ResolveSupport {
	return adapters.ResolveSupport{
		Reason: "Akana documents no lookup by e-mail or user name (GET /api/search exists, but its indexed fields, matching and result shape are undocumented); link Akana accounts through PUT /v1/users/{id}/links",
	}
}
