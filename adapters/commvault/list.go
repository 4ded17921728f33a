package commvault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Lister = (*Adapter)(nil)

// listUsers sends GET /V4/user (GetUsers): every user the credential may
// see in one answer, {"numberOfUsers": n, "users": [UserSummary...]}. The
// V4 API has no paging, no filter and no sort (commvault.md 9.1).
func (a *Adapter) listUsers(ctx context.Context, do adapters.Doer) (userList, error) {
	do = a.sess.Wrap(do)
	resp, err := do.Do(ctx, &adapters.Call{Name: "list users", Kind: adapters.Read, Method: http.MethodGet, Path: "/V4/user",
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return userList{}, fmt.Errorf("commvault: list users: %w", err)
	}
	if e := outcome(resp); e != nil {
		return userList{}, fmt.Errorf("commvault: list users: %w", e)
	}
	var l userList
	if err := json.Unmarshal(resp.Body, &l); err != nil {
		return userList{}, fmt.Errorf("commvault: list users: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Commvault answered the user list with unreadable JSON"})
	}
	return l, nil
}

// List implements adapters.Lister with one GET /V4/user: the V4 list has
// no paging, so the whole answer is one page. Entries without a positive
// id (which GET /V4/user/{userId} could not address) are left out.
func (a *Adapter) List(ctx context.Context, do adapters.Doer, each func(adapters.Listed) error) error {
	l, err := a.listUsers(ctx, do)
	if err != nil {
		return err
	}
	for _, u := range l.Users {
		if u.ID <= 0 {
			continue
		}
		if err := each(adapters.Listed{VendorID: strconv.FormatInt(u.ID, 10), Username: u.Name, Email: u.Email}); err != nil {
			return err
		}
	}
	return nil
}
