package scim

import (
	"context"
	"errors"
	"testing"

	"github.com/identity-gateway/identity-gateway/internal/links"
)

// pagedLister hands out its pages' accounts in order, as a vendor list
// pages them, and counts the pages served.
type pagedLister struct {
	pages [][]ListedUser
	err   error
	calls int
}

func (p *pagedLister) ListUsers(_ context.Context, _ string, each func(ListedUser) error) error {
	if p.err != nil {
		p.calls++
		return p.err
	}
	for _, page := range p.pages {
		p.calls++
		for _, u := range page {
			if err := each(u); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestAdopt(t *testing.T) {
	ctx := context.Background()
	store := links.NewMemoryStore(nil)
	// owned: already linked; taken: its userName belongs to a SCIM user.
	if _, err := store.Put(ctx, "owner", links.Change{Links: map[string]string{"frontier": "f-owned"}, Source: links.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, "scim-user", links.Change{Links: map[string]string{linkUserName: "taken"}, Source: links.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	l := &pagedLister{pages: [][]ListedUser{
		{{VendorID: "f-owned", Username: "owned"}, {VendorID: "f-new1", Username: "New.One", Email: "one@example.com"}},
		{{VendorID: "f-new2"}, {VendorID: "f-taken", Username: "taken"}},
	}}
	if err := adopt(ctx, store, l, "frontier", "okta"); err != nil {
		t.Fatal(err)
	}
	if l.calls != 2 {
		t.Errorf("%d list calls, want 2 (both pages)", l.calls)
	}
	if id, _, _, _ := store.Reverse(ctx, "frontier", "f-owned"); id != "owner" {
		t.Errorf("f-owned now belongs to %q, want owner", id)
	}
	id, l1, ok, _ := store.Reverse(ctx, "frontier", "f-new1")
	if !ok || l1.Source != links.SourceResolved || l1.Client != "okta" {
		t.Fatalf("f-new1 not adopted: %q %+v", id, l1)
	}
	rec, _ := store.Get(ctx, id)
	if rec.Attributes.Username != "New.One" || rec.Attributes.Email != "one@example.com" || rec.Links[linkUserName].VendorID != "new.one" {
		t.Errorf("adopted record %+v, want its username, e-mail and scim:userName kept", rec)
	}
	if _, _, ok, _ := store.Reverse(ctx, "frontier", "f-new2"); !ok {
		t.Error("f-new2 (no username) not adopted")
	}
	if _, _, ok, _ := store.Reverse(ctx, "frontier", "f-taken"); ok {
		t.Error("f-taken was linked although its userName belongs to another user")
	}
	_, total, _ := store.List(ctx, 0, 0)
	if total != 4 {
		t.Errorf("%d users after adoption, want 4 (owner, scim-user, two adopted)", total)
	}
	// A second listing adopts nothing more.
	if err := adopt(ctx, store, l, "frontier", "okta"); err != nil {
		t.Fatal(err)
	}
	if _, again, _ := store.List(ctx, 0, 0); again != total {
		t.Errorf("second adoption: %d users, want %d", again, total)
	}

	boom := errors.New("vendor down")
	if err := adopt(ctx, store, &pagedLister{err: boom}, "frontier", "okta"); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the lister's error wrapped", err)
	}
}
