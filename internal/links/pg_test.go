package links_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/internal/links"
	"github.com/identity-gateway/identity-gateway/internal/links/linkstest"
)

// pgURL is DATABASE_URL; PostgreSQL tests skip only when it is unset.
func pgURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		t.Skip("DATABASE_URL is not set")
	}
	return u
}

// testSchema is a schema no other test run uses.
func testSchema() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "links_test_" + hex.EncodeToString(b)
}

func openPG(t testing.TB, o links.PGOptions) *links.PGStore {
	t.Helper()
	s, err := links.OpenPG(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func dropAfter(t testing.TB, s *links.PGStore) {
	t.Helper()
	t.Cleanup(func() {
		if err := s.DropSchema(context.Background()); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
}

func TestPGStoreContract(t *testing.T) {
	url := pgURL(t)
	linkstest.Run(t, func(t *testing.T, now func() time.Time) links.Store {
		s := openPG(t, links.PGOptions{URL: url, Schema: testSchema(), Now: now})
		dropAfter(t, s)
		return s
	})
}

func TestPGStoreContractWithoutCache(t *testing.T) {
	url := pgURL(t)
	linkstest.Run(t, func(t *testing.T, now func() time.Time) links.Store {
		s := openPG(t, links.PGOptions{URL: url, Schema: testSchema(), Now: now, CacheSize: -1})
		dropAfter(t, s)
		return s
	})
}

// Two processes starting at once on a fresh schema: the advisory lock lets
// one migrate, the other then finds it done; opening again changes nothing.
func TestPGMigrationsConcurrentAndIdempotent(t *testing.T) {
	url := pgURL(t)
	schema := testSchema()
	var wg sync.WaitGroup
	stores := make([]*links.PGStore, 3)
	errs := make([]error, 3)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = links.OpenPG(context.Background(), links.PGOptions{URL: url, Schema: schema})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(stores[i].Close)
	}
	dropAfter(t, stores[0])
	again := openPG(t, links.PGOptions{URL: url, Schema: schema})
	versions, err := again.AppliedMigrations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 2 || versions[0] != 1 || versions[1] != 2 {
		t.Fatalf("schema_migrations = %v, want [1 2]", versions)
	}
}

// Two replicas on one PostgreSQL: B has the old link cached; A changes it;
// B's listener evicts it within the second, and B then reads the new link.
func TestPGCacheInvalidatedAcrossReplicas(t *testing.T) {
	url := pgURL(t)
	schema := testSchema()
	ctx := context.Background()
	a := openPG(t, links.PGOptions{URL: url, Schema: schema})
	dropAfter(t, a)
	evicted := make(chan string, 16)
	b := openPG(t, links.PGOptions{URL: url, Schema: schema, OnInvalidate: func(id string) { evicted <- id }})

	if _, err := a.Put(ctx, "alice", links.Change{Links: map[string]string{"commvault": "1"}, Source: links.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	drain(t, evicted, "alice") // A's own put notified B too
	if r, _ := b.Get(ctx, "alice"); r.Links["commvault"].VendorID != "1" {
		t.Fatalf("b sees %+v", r.Links)
	}
	// b now has alice cached with commvault 1.
	changed := time.Now()
	if _, err := a.Put(ctx, "alice", links.Change{Links: map[string]string{"commvault": "2"}, Source: links.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	drain(t, evicted, "alice")
	if r, _ := b.Get(ctx, "alice"); r.Links["commvault"].VendorID != "2" {
		t.Fatalf("b still uses %+v after the change", r.Links)
	}
	if d := time.Since(changed); d > time.Second {
		t.Fatalf("b saw the change after %v", d)
	}
	// Delete travels the same way.
	if _, err := a.Delete(ctx, "alice", "commvault"); err != nil {
		t.Fatal(err)
	}
	drain(t, evicted, "alice")
	if r, _ := b.Get(ctx, "alice"); len(r.Links) != 0 {
		t.Fatalf("b still uses %+v after the delete", r.Links)
	}
}

// drain waits (at most a second: the promise) for id's eviction.
func drain(t *testing.T, ch <-chan string, id string) {
	t.Helper()
	timeout := time.NewTimer(time.Second)
	defer timeout.Stop()
	for {
		select {
		case got := <-ch:
			if got == id {
				return
			}
		case <-timeout.C:
			t.Fatalf("no invalidation of %q within a second", id)
		}
	}
}

func TestPGBadURLHidesThePassword(t *testing.T) {
	_, err := links.OpenPG(context.Background(), links.PGOptions{URL: "postgres://u:hunter2@[bad"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

// The listener's connection dies (PostgreSQL restarts, a proxy cuts it):
// changes made while it was away must not leave a stale entry behind. The
// replica reconnects, forgets its cache, and uses the change within the
// second.
func TestPGListenerLossNeverLeavesAStaleLink(t *testing.T) {
	url := pgURL(t)
	schema := testSchema()
	ctx := context.Background()
	a := openPG(t, links.PGOptions{URL: url, Schema: schema, CacheSize: -1})
	dropAfter(t, a)
	b := openPG(t, links.PGOptions{URL: url, Schema: schema})
	put := func(vid string) {
		t.Helper()
		if _, err := a.Put(ctx, "alice", links.Change{Links: map[string]string{"commvault": vid}, Source: links.SourceAPI}); err != nil {
			t.Fatal(err)
		}
	}
	put("1")
	waitFor(t, b, "1")
	for _, vid := range []string{"2", "3"} {
		// b has the previous value cached. Once both listeners are
		// subscribed (again), cut them, then change the link.
		deadline := time.Now().Add(5 * time.Second)
		var n int
		for n < 2 && time.Now().Before(deadline) {
			if err := a.QueryRowForTest(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", links.ListenerName(schema)).Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.QueryRowForTest(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", links.ListenerName(schema)).Scan(&n); err != nil || n != 2 {
			t.Fatalf("terminate the listeners: %d %v", n, err)
		}
		put(vid)
		waitFor(t, b, vid)
	}
}

// waitFor reads alice through s until its commvault link is want, failing
// after a second: the staleness bound.
func waitFor(t *testing.T, s *links.PGStore, want string) {
	t.Helper()
	start := time.Now()
	var got string
	for time.Since(start) < time.Second {
		r, err := s.Get(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got = r.Links["commvault"].VendorID; got == want {
			return
		}
	}
	t.Fatalf("still %q a second after the change to %q", got, want)
}

// A runtime user with table rights only (no CREATE on the database or the
// schema) starts against a schema an administrator migrated.
func TestPGLeastPrivilegeUserStarts(t *testing.T) {
	url := pgURL(t)
	schema := testSchema()
	ctx := context.Background()
	admin := openPG(t, links.PGOptions{URL: url, Schema: schema})
	dropAfter(t, admin)
	role := schema + "_rt"
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
	} {
		if _, err := admin.ExecForTest(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		_, _ = admin.ExecForTest(ctx, "DROP OWNED BY "+role)
		_, _ = admin.ExecForTest(ctx, "DROP ROLE "+role)
	})
	u := strings.Replace(url, "postgres@", role+"@", 1)
	if u == url {
		t.Skip("DATABASE_URL does not name the user postgres@; cannot derive the runtime user's URL")
	}
	rt := openPG(t, links.PGOptions{URL: u, Schema: schema})
	if _, err := rt.Put(ctx, "alice", links.Change{Links: map[string]string{"commvault": "1"}, Source: links.SourceAPI}); err != nil {
		t.Fatal(err)
	}
}
