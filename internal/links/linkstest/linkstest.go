// Package linkstest is the contract every links.Store must meet, run by the
// memory store's and the PostgreSQL store's tests alike.
package linkstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/internal/links"
)

// Opener returns a fresh, empty store using now as its clock; the store is
// closed by the opener's own cleanup.
type Opener func(t *testing.T, now func() time.Time) links.Store

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// Run runs the contract against stores from open.
func Run(t *testing.T, open Opener) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)

	t.Run("unknown id has no links", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		r, err := s.Get(ctx, "nobody")
		if err != nil {
			t.Fatal(err)
		}
		if r.CanonicalID != "nobody" || len(r.Links) != 0 || !r.Attributes.IsZero() {
			t.Fatalf("got %+v", r)
		}
	})

	t.Run("put keeps source, time, client and attributes", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		got, err := s.Put(ctx, "alice", links.Change{Links: map[string]string{"akana": "a1.t", "commvault": "42"}, Source: links.SourceAPI,
			Client: "ops", Attributes: links.Attributes{Email: "alice@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		want := links.Record{CanonicalID: "alice", Attributes: links.Attributes{Email: "alice@example.com"}, Links: map[string]links.Link{
			"akana":     {VendorID: "a1.t", Source: links.SourceAPI, Client: "ops", UpdatedAt: t0},
			"commvault": {VendorID: "42", Source: links.SourceAPI, Client: "ops", UpdatedAt: t0},
		}}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("put answer (-want +got):\n%s", d)
		}
		again, err := s.Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, again); d != "" {
			t.Fatalf("get (-want +got):\n%s", d)
		}
	})

	t.Run("an account belongs to one canonical id; the conflict names it and stores nothing", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		mustPut(t, s, "alice", map[string]string{"akana": "x.t"})
		_, err := s.Put(ctx, "bob", links.Change{Links: map[string]string{"akana": "x.t", "frontier": "f-bob"}, Source: links.SourceAPI})
		var ce *links.ConflictError
		if !errors.As(err, &ce) || ce.Owner != "alice" || ce.Target != "akana" || ce.VendorID != "x.t" {
			t.Fatalf("err = %v, want a conflict naming alice", err)
		}
		bob, _ := s.Get(ctx, "bob")
		if len(bob.Links) != 0 {
			t.Fatalf("bob's frontier link was stored despite the conflict: %+v", bob.Links)
		}
		// The same account at another target is another account.
		mustPut(t, s, "bob", map[string]string{"frontier": "x.t"})
	})

	t.Run("relinking frees the old account; re-putting the same link is no conflict", func(t *testing.T) {
		c := &clock{t: t0}
		s := open(t, c.now)
		mustPut(t, s, "alice", map[string]string{"akana": "old.t"})
		c.set(t0.Add(time.Hour))
		r, err := s.Put(ctx, "alice", links.Change{Links: map[string]string{"akana": "old.t"}, Source: links.SourceMigration, Client: "mig"})
		if err != nil {
			t.Fatal(err)
		}
		if l := r.Links["akana"]; l.Source != links.SourceMigration || l.Client != "mig" || !l.UpdatedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("re-put link = %+v", l)
		}
		mustPut(t, s, "alice", map[string]string{"akana": "new.t"})
		mustPut(t, s, "bob", map[string]string{"akana": "old.t"})
		if id, _, ok, _ := s.Reverse(ctx, "akana", "new.t"); !ok || id != "alice" {
			t.Fatalf("reverse new.t = %q %v", id, ok)
		}
	})

	t.Run("delete and reverse", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		mustPut(t, s, "alice", map[string]string{"commvault": "42", "frontier": "f1"})
		id, l, ok, err := s.Reverse(ctx, "commvault", "42")
		if err != nil || !ok || id != "alice" || l.VendorID != "42" || l.Source != links.SourceAPI {
			t.Fatalf("reverse = %q %+v %v %v", id, l, ok, err)
		}
		if _, _, ok, _ := s.Reverse(ctx, "frontier", "42"); ok {
			t.Fatal("reverse matched an account of another target")
		}
		if ok, err := s.Delete(ctx, "alice", "commvault"); err != nil || !ok {
			t.Fatalf("delete = %v %v", ok, err)
		}
		if ok, err := s.Delete(ctx, "alice", "commvault"); err != nil || ok {
			t.Fatalf("second delete = %v %v, want false", ok, err)
		}
		if _, _, ok, _ := s.Reverse(ctx, "commvault", "42"); ok {
			t.Fatal("reverse found a deleted link")
		}
		r, _ := s.Get(ctx, "alice")
		if _, ok := r.Links["frontier"]; !ok || len(r.Links) != 1 {
			t.Fatalf("links after delete = %+v", r.Links)
		}
		mustPut(t, s, "bob", map[string]string{"commvault": "42"})
	})

	t.Run("list pages through linked ids in byte order with the total", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		ids, total, err := s.List(ctx, 0, 10)
		if err != nil || len(ids) != 0 || total != 0 {
			t.Fatalf("empty store lists %v %d %v", ids, total, err)
		}
		for i, id := range []string{"carol", "Bob", "alice", "dave"} {
			mustPut(t, s, id, map[string]string{"akana": fmt.Sprintf("%d.t", i)})
		}
		// An id with attributes only, and one whose last link is gone,
		// hold no link: they are not listed.
		if _, err := s.Put(ctx, "erin", links.Change{Source: links.SourceAPI, Attributes: links.Attributes{Email: "e@x.org"}}); err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, "frank", map[string]string{"frontier": "f"})
		if _, err := s.Delete(ctx, "frank", "frontier"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			offset, limit int
			want          []string
		}{
			{0, 10, []string{"Bob", "alice", "carol", "dave"}},
			{0, 2, []string{"Bob", "alice"}},
			{2, 2, []string{"carol", "dave"}},
			{3, 5, []string{"dave"}},
			{4, 5, nil},
			{9, 5, nil},
			{1, 0, nil},
		} {
			ids, total, err := s.List(ctx, tc.offset, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if total != 4 || !slices.Equal(ids, tc.want) {
				t.Errorf("List(%d, %d) = %v, %d; want %v, 4", tc.offset, tc.limit, ids, total, tc.want)
			}
		}
	})

	t.Run("attributes merge member by member", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		if _, err := s.Put(ctx, "alice", links.Change{Source: links.SourceAPI, Attributes: links.Attributes{Email: "a@x.org"}}); err != nil {
			t.Fatal(err)
		}
		r, err := s.Put(ctx, "alice", links.Change{Source: links.SourceAPI, Attributes: links.Attributes{Username: "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Attributes != (links.Attributes{Email: "a@x.org", Username: "alice"}) {
			t.Fatalf("attributes = %+v", r.Attributes)
		}
	})

	t.Run("held attributes: kept byte for byte, replaced whole, cleared, versioned", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		first := json.RawMessage(`{"v":1,"attrs":{"name.givenName":"Barbara","name.familyName":"Jensen"}}`)
		r, err := s.Put(ctx, "alice", links.Change{Links: map[string]string{"akana": "a.t"}, Source: links.SourceAPI, Held: first})
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Held) != string(first) || r.HeldVersion != 1 {
			t.Fatalf("after the first put: held %s version %d", r.Held, r.HeldVersion)
		}
		// A change without Held leaves it; attributes merge beside it.
		r, err = s.Put(ctx, "alice", links.Change{Source: links.SourceAPI, Attributes: links.Attributes{Username: "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Held) != string(first) || r.HeldVersion != 1 || r.Attributes.Username != "alice" {
			t.Fatalf("a change without held: %s %d %+v", r.Held, r.HeldVersion, r.Attributes)
		}
		second := json.RawMessage(`{"v":1,"attrs":{"name.givenName":"Babs"}}`)
		if _, err := s.Put(ctx, "alice", links.Change{Source: links.SourceAPI, Held: second}); err != nil {
			t.Fatal(err)
		}
		r, err = s.Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Held) != string(second) || r.HeldVersion != 2 {
			t.Fatalf("replaced: held %s version %d", r.Held, r.HeldVersion)
		}
		if _, err := s.Put(ctx, "alice", links.Change{Source: links.SourceAPI, Held: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		r, _ = s.Get(ctx, "alice")
		if r.Held != nil || r.HeldVersion != 3 || r.Links["akana"].VendorID != "a.t" {
			t.Fatalf("cleared: held %s version %d links %+v", r.Held, r.HeldVersion, r.Links)
		}
		// Held alone makes a record, which (holding no link) is not listed.
		if _, err := s.Put(ctx, "bob", links.Change{Source: links.SourceAPI, Held: first}); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Get(ctx, "bob"); string(r.Held) != string(first) {
			t.Fatalf("held-only record: %s", r.Held)
		}
		if ids, _, _ := s.List(ctx, 0, 10); !slices.Equal(ids, []string{"alice"}) {
			t.Fatalf("listed %v", ids)
		}
	})

	t.Run("invalid changes are refused", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		for name, tc := range map[string]struct {
			id string
			c  links.Change
		}{
			"empty id":           {"", links.Change{Links: map[string]string{"a": "1"}, Source: links.SourceAPI}},
			"empty vendor":       {"x", links.Change{Links: map[string]string{"a": ""}, Source: links.SourceAPI}},
			"bad source":         {"x", links.Change{Links: map[string]string{"a": "1"}, Source: "guess"}},
			"nothing":            {"x", links.Change{Source: links.SourceAPI}},
			"control chars":      {"x\n", links.Change{Links: map[string]string{"a": "1"}, Source: links.SourceAPI}},
			"held not an object": {"x", links.Change{Source: links.SourceAPI, Held: json.RawMessage(`["a"]`)}},
			"held not JSON":      {"x", links.Change{Source: links.SourceAPI, Held: json.RawMessage(`{"a":`)}},
			"held too long": {"x", links.Change{Source: links.SourceAPI,
				Held: json.RawMessage(`{"a":"` + strings.Repeat("x", links.MaxHeldBytes) + `"}`)}},
		} {
			if _, err := s.Put(ctx, tc.id, tc.c); !errors.Is(err, links.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", name, err)
			}
		}
	})

	t.Run("concurrent claims of one account: exactly one wins", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		const n = 8
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			wins      []string
			conflicts int
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("user%d", i)
				_, err := s.Put(ctx, id, links.Change{Links: map[string]string{"commvault": "7"}, Source: links.SourceResolved})
				mu.Lock()
				defer mu.Unlock()
				var ce *links.ConflictError
				switch {
				case err == nil:
					wins = append(wins, id)
				case errors.As(err, &ce):
					conflicts++
				default:
					t.Errorf("%s: %v", id, err)
				}
			}()
		}
		wg.Wait()
		if len(wins) != 1 || conflicts != n-1 {
			t.Fatalf("wins %v, conflicts %d", wins, conflicts)
		}
		if id, _, ok, _ := s.Reverse(ctx, "commvault", "7"); !ok || id != wins[0] {
			t.Fatalf("owner %q, winner %q", id, wins[0])
		}
	})

	t.Run("seed adds config links and keeps what is stored", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		mustPut(t, s, "demo", map[string]string{"akana": "api.t"})
		if err := links.Seed(ctx, s, map[string]map[string]string{"demo": {"akana": "cfg.t", "commvault": "42"}}); err != nil {
			t.Fatal(err)
		}
		r, _ := s.Get(ctx, "demo")
		if r.Links["akana"].VendorID != "api.t" || r.Links["akana"].Source != links.SourceAPI {
			t.Fatalf("seed overwrote the api link: %+v", r.Links["akana"])
		}
		if l := r.Links["commvault"]; l.VendorID != "42" || l.Source != links.SourceConfig {
			t.Fatalf("seeded link = %+v", l)
		}
		if err := links.Seed(ctx, s, map[string]map[string]string{"other": {"commvault": "42"}}); err == nil {
			t.Fatal("seeding another id onto a linked account succeeded")
		}
	})

	t.Run("a returned record is a copy", func(t *testing.T) {
		s := open(t, (&clock{t: t0}).now)
		mustPut(t, s, "alice", map[string]string{"akana": "a.t"})
		r, _ := s.Get(ctx, "alice")
		r.Links["akana"] = links.Link{VendorID: "changed"}
		again, _ := s.Get(ctx, "alice")
		if again.Links["akana"].VendorID != "a.t" {
			t.Fatal("changing a returned record changed the store")
		}
	})
}

func mustPut(t *testing.T, s links.Store, id string, l map[string]string) {
	t.Helper()
	if _, err := s.Put(context.Background(), id, links.Change{Links: l, Source: links.SourceAPI, Client: "test"}); err != nil {
		t.Fatal(err)
	}
}
