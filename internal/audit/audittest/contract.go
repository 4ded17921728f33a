// Package audittest is the contract every audit.Store passes (memory and
// PostgreSQL run the same suite).
package audittest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/internal/audit"
)

// Store is what the contract needs: queryable and prunable.
type Store interface {
	audit.Store
	audit.Pruner
}

// Run runs the contract; open returns an empty store for one subtest.
func Run(t *testing.T, open func(t *testing.T) Store) {
	base := time.Date(2026, 11, 30, 12, 0, 0, 123456000, time.UTC)
	rec := func(i int, user, client string) audit.Record {
		return audit.Record{Time: base.Add(time.Duration(i) * time.Second), Action: audit.ActionUserUpdate, User: user, Client: client,
			AuthMethod: "oidc", Status: "applied", HTTPStatus: 200, TraceID: fmt.Sprintf("trace-%d", i)}
	}
	ctx := context.Background()
	appendAll := func(t *testing.T, s Store, rs ...audit.Record) []audit.Record {
		t.Helper()
		out := make([]audit.Record, len(rs))
		for i := range rs {
			r := rs[i]
			if err := s.Append(ctx, &r); err != nil {
				t.Fatal(err)
			}
			if r.ID == 0 {
				t.Fatal("Append assigned no id")
			}
			out[i] = r
		}
		return out
	}

	t.Run("round trip keeps every field", func(t *testing.T) {
		s := open(t)
		in := audit.Record{Time: base, Action: audit.ActionUserUpdate, User: "u-1", Client: "hr-sync", AuthMethod: "mtls",
			Fields: []string{"email", "password"}, Values: map[string]string{"email": "sha256:ab"},
			Targets: map[string]audit.TargetOutcome{"frontier": {VendorID: "v-1", Status: "failed", Code: "upstream_error"}, "akana": {Status: "applied"}},
			Status:  "partial", HTTPStatus: 207, DryRun: true, IdempotencyKey: "k-1", TraceID: "t-1", Detail: map[string]string{"link": "x"}}
		got := appendAll(t, s, in)[0]
		p, err := s.Query(ctx, audit.Query{User: "u-1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) != 1 {
			t.Fatalf("records = %d, want 1", len(p.Records))
		}
		in.ID = got.ID
		if d := cmp.Diff(in, p.Records[0]); d != "" {
			t.Fatalf("round trip (-want +got):\n%s", d)
		}
	})

	t.Run("newest first, filtered by user and client", func(t *testing.T) {
		s := open(t)
		rs := appendAll(t, s, rec(0, "u-1", "a"), rec(1, "u-2", "a"), rec(2, "u-1", "b"), rec(3, "u-1", "a"))
		for _, tc := range []struct {
			name string
			q    audit.Query
			want []int64
		}{
			{"all", audit.Query{}, []int64{rs[3].ID, rs[2].ID, rs[1].ID, rs[0].ID}},
			{"user", audit.Query{User: "u-1"}, []int64{rs[3].ID, rs[2].ID, rs[0].ID}},
			{"client", audit.Query{Client: "a"}, []int64{rs[3].ID, rs[1].ID, rs[0].ID}},
			{"user and client", audit.Query{User: "u-1", Client: "a"}, []int64{rs[3].ID, rs[0].ID}},
			{"since inclusive", audit.Query{Since: rs[2].Time}, []int64{rs[3].ID, rs[2].ID}},
			{"until exclusive", audit.Query{Until: rs[2].Time}, []int64{rs[1].ID, rs[0].ID}},
			{"window", audit.Query{Since: rs[1].Time, Until: rs[3].Time}, []int64{rs[2].ID, rs[1].ID}},
			{"nobody", audit.Query{User: "u-9"}, []int64{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := s.Query(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if p.Records == nil {
					t.Fatal("Records is nil; an empty page is an empty list")
				}
				got := []int64{}
				for _, r := range p.Records {
					got = append(got, r.ID)
				}
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Fatalf("ids (-want +got):\n%s", d)
				}
				if p.Next != "" {
					t.Fatalf("Next = %q on the only page", p.Next)
				}
			})
		}
	})

	t.Run("cursor pages cover every record once, ties included", func(t *testing.T) {
		s := open(t)
		var rs []audit.Record
		for i := range 7 {
			r := rec(i/2, "u-1", "a") // pairs share a timestamp
			rs = append(rs, r)
		}
		appendAll(t, s, rs...)
		seen := map[int64]bool{}
		var order []audit.Record
		q := audit.Query{User: "u-1", Limit: 3}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			p, err := s.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Records {
				if seen[r.ID] {
					t.Fatalf("record %d on two pages", r.ID)
				}
				seen[r.ID] = true
				order = append(order, r)
			}
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		if len(seen) != 7 {
			t.Fatalf("paged %d records, want 7", len(seen))
		}
		for i := 1; i < len(order); i++ {
			a, b := order[i-1], order[i]
			if a.Time.Before(b.Time) || (a.Time.Equal(b.Time) && a.ID < b.ID) {
				t.Fatalf("not newest first at %d: %v/%d then %v/%d", i, a.Time, a.ID, b.Time, b.ID)
			}
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		s := open(t)
		if _, err := s.Query(ctx, audit.Query{Cursor: "not a cursor"}); !errors.Is(err, audit.ErrBadCursor) {
			t.Errorf("bad cursor: err = %v", err)
		}
		if _, err := s.Query(ctx, audit.Query{Limit: audit.MaxLimit + 1}); err == nil {
			t.Error("limit above the maximum accepted")
		}
		if _, err := s.Query(ctx, audit.Query{Since: base, Until: base}); err == nil {
			t.Error("empty window accepted")
		}
	})

	t.Run("prune deletes only older records", func(t *testing.T) {
		s := open(t)
		rs := appendAll(t, s, rec(0, "u-1", "a"), rec(10, "u-1", "a"), rec(20, "u-1", "a"))
		n, err := s.Prune(ctx, rs[1].Time)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("pruned %d, want 1", n)
		}
		p, err := s.Query(ctx, audit.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) != 2 || p.Records[1].ID != rs[1].ID {
			t.Fatalf("after prune: %+v", p.Records)
		}
	})

	t.Run("ping", func(t *testing.T) {
		if err := open(t).Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
