package frontier

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// resolvePageSize is Frontier's own default page size (frontier.md 9.1:
// the swagger's 1000 is wrong); resolveMaxPages bounds a keyword so broad
// that it would page through the whole user base.
const (
	resolvePageSize = 50
	resolveMaxPages = 20
)

var (
	_ adapters.Resolver         = (*Adapter)(nil)
	_ adapters.ResolveDescriber = (*Adapter)(nil)
)

// ResolveSupport implements adapters.ResolveDescriber.
func (a *Adapter) ResolveSupport() adapters.ResolveSupport {
	return adapters.ResolveSupport{By: []string{adapters.ResolveByEmail, adapters.ResolveByUsername},
		As:     "GET /v1beta1/users?keyword= (case-insensitive substring of name or e-mail, paged by 50), then exact match on the lowercased value; disabled users are not listed",
		Reason: "disabled users are hidden from the list"}
}

type listPage struct {
	Count int     `json:"count"`
	Users []*user `json:"users"`
}

// Resolve lists users with the keyword filter, page by page until a page
// is short (count is per page, not a total: frontier.md 9.1), and keeps
// the exact matches: the keyword is an ILIKE substring (with % and _ as
// wildcards), and name and e-mail are stored lowercase.
func (a *Adapter) Resolve(ctx context.Context, do adapters.Doer, by, value string) ([]string, error) {
	want := strings.ToLower(strings.TrimSpace(value))
	if want == "" || (by != adapters.ResolveByEmail && by != adapters.ResolveByUsername) {
		return nil, fmt.Errorf("frontier: resolve: %w", &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "nothing to resolve by"})
	}
	var ids []string
	for page := 1; page <= resolveMaxPages; page++ {
		q := url.Values{"keyword": {want}, "page_size": {strconv.Itoa(resolvePageSize)}, "page_num": {strconv.Itoa(page)}}
		resp, err := do.Do(ctx, &adapters.Call{Name: "list users", Kind: adapters.Read, Method: http.MethodGet,
			Path: "/v1beta1/users?" + q.Encode(), Header: a.header()})
		if err != nil {
			return nil, fmt.Errorf("frontier: list users: %w", err)
		}
		if !resp.OK() {
			return nil, fmt.Errorf("frontier: list users: %w", a.mapError(resp))
		}
		var p listPage
		if err := json.Unmarshal(resp.Body, &p); err != nil {
			return nil, fmt.Errorf("frontier: list users: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
				Message: "Frontier answered the user list with unreadable JSON"})
		}
		for _, u := range p.Users {
			if u == nil {
				continue
			}
			got := u.Email
			if by == adapters.ResolveByUsername {
				got = u.Name
			}
			if strings.ToLower(got) == want && u.ID != "" {
				ids = append(ids, u.ID)
			}
		}
		if len(p.Users) < resolvePageSize {
			return ids, nil
		}
	}
	return nil, fmt.Errorf("frontier: list users: %w", &canonical.Error{Code: canonical.CodeUpstreamError,
		Message: fmt.Sprintf("the keyword matched more than %d users; resolve by a more specific value or link the account", resolvePageSize*resolveMaxPages)})
}
