package adaptertest

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
)

// runList is the list half of the suite, for adapters that implement
// adapters.Lister (optional: only vendors with a list call do). The list
// must send only Read and Auth calls, show each user once, include the
// first case's user, and name users that Read can read back.
func runList(t *testing.T, h Harness) {
	t.Run("list/shows readable users and never writes", func(t *testing.T) {
		a, sim, _ := h.New(t)
		l, ok := a.(adapters.Lister)
		if !ok {
			t.Skip("not a Lister")
		}
		log := &methodLog{next: sim}
		srv := httptest.NewServer(log)
		defer srv.Close()
		d := &HTTPDoer{Base: srv.URL}
		var ids []string
		seen := map[string]bool{}
		err := l.List(context.Background(), d, func(u adapters.Listed) error {
			if u.VendorID == "" {
				t.Errorf("a listed user has no vendor id: %+v", u)
			}
			if seen[u.VendorID] {
				t.Errorf("%s listed twice", u.VendorID)
			}
			seen[u.VendorID] = true
			ids = append(ids, u.VendorID)
			return nil
		})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		checkReadOnly(t, "List", d, log)
		if len(h.Cases) > 0 && !seen[h.Cases[0].Op.UserID] {
			t.Errorf("the first case's user %s is not listed (listed: %v)", h.Cases[0].Op.UserID, ids)
		}
		r, ok := a.(adapters.Reader)
		if !ok {
			return // the required-set check fails it
		}
		for _, id := range ids {
			if _, err := r.Read(context.Background(), d, adapters.Op{UserID: id}); err != nil {
				t.Errorf("listed user %s does not read back: %v", id, err)
			}
		}
	})
}
