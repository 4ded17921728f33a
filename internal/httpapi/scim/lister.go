package scim

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/identity-gateway/identity-gateway/internal/links"
)

// Lister is what SCIM listing needs from a vendor that can enumerate its
// users (GET /Users with no filter, or one that is not an indexed eq).
// Without one, the gateway lists the users it knows: the canonical ids in
// the link store. With one, the accounts it lists at the listing target
// (the target authoritative for username, else the first of scim.targets)
// that are linked to no canonical id are linked first, each to a new one,
// so an identity provider also sees the users that were not created
// through SCIM.
//
// An adapters.Lister on a vendor adapter is plugged in with a small
// wrapper in the wiring that calls it through the dispatcher's Doer.
type Lister interface {
	// ListUsers hands each of the target's accounts to each, page by
	// page as the vendor serves them, and stops at the first error each
	// returns (dispatch.Dispatcher.List has this shape).
	ListUsers(ctx context.Context, target string, each func(ListedUser) error) error
}

// ListedUser is one vendor account, as a Lister returns it.
type ListedUser struct {
	VendorID string
	// Username and Email are remembered with the link, so reads and
	// SCIM filters on userName find the user.
	Username, Email string
}

// adopt links every account l lists at target that no canonical id owns
// to a new canonical id (source resolved, client the identity provider).
// An account linked meanwhile by another request is left to its owner.
func adopt(ctx context.Context, store links.Store, l Lister, target, client string) error {
	err := l.ListUsers(ctx, target, func(u ListedUser) error {
		_, _, ok, err := store.Reverse(ctx, target, u.VendorID)
		if err != nil {
			return fmt.Errorf("scim: adopt: %w", err)
		}
		if ok {
			return nil
		}
		ls := map[string]string{target: u.VendorID}
		if u.Username != "" {
			ls[linkUserName] = strings.ToLower(u.Username)
		}
		if u.Email != "" {
			// emails.value eq finds it as it finds a resolved user.
			ls[linkEmail] = strings.ToLower(u.Email)
		}
		_, err = store.Put(ctx, newID(), links.Change{Links: ls, Source: links.SourceResolved, Client: client,
			Attributes: links.Attributes{Username: u.Username, Email: u.Email}})
		var ce *links.ConflictError
		switch {
		case errors.As(err, &ce):
			// Linked meanwhile, or its userName or e-mail belongs to
			// another user: the existing owner stays (and resolves
			// this account when it is read).
			return nil
		case err != nil:
			return fmt.Errorf("scim: adopt: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scim: list %s: %w", target, err)
	}
	return nil
}

// listTarget is the target a Lister is asked for users: the one
// authoritative for username, else the first SCIM target ("" when there
// is none).
func (h *Handler) listTarget() string {
	if t, ok := h.cfg.Authoritative["username"]; ok {
		return t
	}
	if len(h.cfg.Targets) == 0 {
		return ""
	}
	return h.cfg.Targets[0]
}
