package frontier

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Lister = (*Adapter)(nil)

// listPageSize is the page List asks for. Frontier sets no upper limit
// (frontier.md 9.1); 500 keeps a page's JSON small while cutting the
// round trips of the default 50 tenfold.
const listPageSize = 500

// List implements adapters.Lister with ListUsers, GET /v1beta1/users,
// page_size and page_num from 1 until a page holds fewer than page_size
// users (count is the page's length, not a total: frontier.md 9.1). The
// list shows every user whose state is not disabled; disabled users are
// left out, as GET by UUID (Read) hides them too. The query has no ORDER
// BY, so under concurrent writes a page can repeat or skip a row.
func (a *Adapter) List(ctx context.Context, do adapters.Doer, each func(adapters.Listed) error) error {
	for page := 1; ; page++ {
		q := url.Values{"page_size": {strconv.Itoa(listPageSize)}, "page_num": {strconv.Itoa(page)}}
		resp, err := do.Do(ctx, &adapters.Call{Name: "list users", Kind: adapters.Read, Method: http.MethodGet,
			Path: "/v1beta1/users?" + q.Encode(), Header: a.header()})
		if err != nil {
			return fmt.Errorf("frontier: list users: %w", err)
		}
		if !resp.OK() {
			return fmt.Errorf("frontier: list users: %w", a.mapError(resp))
		}
		var p listPage
		if err := json.Unmarshal(resp.Body, &p); err != nil {
			return fmt.Errorf("frontier: list users: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
				Message: "Frontier answered the user list with unreadable JSON"})
		}
		for _, u := range p.Users {
			if u == nil || u.ID == "" {
				continue
			}
			if err := each(adapters.Listed{VendorID: u.ID, Username: u.Name, Email: u.Email}); err != nil {
				return err
			}
		}
		if len(p.Users) < listPageSize {
			return nil
		}
	}
}
