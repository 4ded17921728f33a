package commvault

import (
	"context"
	"fmt"
	"strconv"
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
		As: "GET /V4/user (every user: no filter, no paging), matched on email or name case-insensitively"}
}

type userList struct {
	NumberOfUsers int `json:"numberOfUsers"`
	Users         []struct {
		ID    int64  `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"users"`
}

// Resolve lists every user and matches on the client: the V4 list has no
// filter and no paging (commvault.md 9.1). E-mail and name are compared
// case-insensitively, as cvpysdk does for names (the docs say nothing).
// Duplicate e-mails can exist, and then several ids come back.
func (a *Adapter) Resolve(ctx context.Context, do adapters.Doer, by, value string) ([]string, error) {
	want := strings.TrimSpace(value)
	if want == "" || (by != adapters.ResolveByEmail && by != adapters.ResolveByUsername) {
		return nil, fmt.Errorf("commvault: resolve: %w", &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "nothing to resolve by"})
	}
	l, err := a.listUsers(ctx, do)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, u := range l.Users {
		got := u.Email
		if by == adapters.ResolveByUsername {
			got = u.Name
		}
		if u.ID > 0 && strings.EqualFold(got, want) {
			ids = append(ids, strconv.FormatInt(u.ID, 10))
		}
	}
	return ids, nil
}
