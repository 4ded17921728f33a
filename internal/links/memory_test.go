package links_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/internal/links"
	"github.com/identity-gateway/identity-gateway/internal/links/linkstest"
)

func TestMemoryStoreContract(t *testing.T) {
	linkstest.Run(t, func(t *testing.T, now func() time.Time) links.Store {
		return links.NewMemoryStore(now)
	})
}

// TestMemoryViewShowsWhatGetReturns: View sees the record Get copies, and
// an empty one for an id with none.
func TestMemoryViewShowsWhatGetReturns(t *testing.T) {
	ctx := context.Background()
	m := links.NewMemoryStore(nil)
	if _, err := m.Put(ctx, "alice", links.Change{Links: map[string]string{"akana": "a-1", "frontier": "f-1"}, Source: links.SourceAPI,
		Attributes: links.Attributes{Email: "alice@example.com"}}); err != nil {
		t.Fatal(err)
	}
	want, err := m.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var seen links.Record
	if err := m.View(ctx, "alice", func(r *links.Record) { seen = r.Clone() }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("View differs from Get (-get +view):\n%s", diff)
	}
	var empty *links.Record
	if err := m.View(ctx, "nobody", func(r *links.Record) { empty = r }); err != nil {
		t.Fatal(err)
	}
	if empty == nil || empty.CanonicalID != "nobody" || len(empty.Links) != 0 {
		t.Errorf("View of an unknown id = %+v, want an empty record", empty)
	}
}
