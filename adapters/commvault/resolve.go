package commvault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	do = a.sess.Wrap(do)
	resp, err := do.Do(ctx, &adapters.Call{Name: "list users", Kind: adapters.Read, Method: http.MethodGet, Path: "/V4/user",
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return nil, fmt.Errorf("commvault: list users: %w", err)
	}
	if e := outcome(resp); e != nil {
		return nil, fmt.Errorf("commvault: list users: %w", e)
	}
	var l userList
	if err := json.Unmarshal(resp.Body, &l); err != nil {
		return nil, fmt.Errorf("commvault: list users: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Commvault answered the user list with unreadable JSON"})
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
