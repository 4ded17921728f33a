package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/identity-gateway/identity-gateway/adapters/akana/akanasim"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
)

// migrateRig is simulators seeded with n users and a gateway config on a
// shared (mini)Redis store.
type migrateRig struct {
	sims  *simSet
	users []migrateUser
	redis *miniredis.Miniredis
}

func newMigrateRig(t *testing.T, n int) *migrateRig {
	t.Helper()
	sims, err := startSimsAt(context.Background(), "127.0.0.1", 0, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sims.Close() })
	r := &migrateRig{sims: sims, redis: miniredis.RunT(t)}
	for i := range n {
		r.users = append(r.users, migrateUser{ID: "seeded" + strconv.Itoa(i), VendorIDs: map[string]string{
			"akana":     akanasim.SeededUserID(i, akanasim.DemoTenant),
			"frontier":  frontiersim.SeededUserID(i),
			"commvault": strconv.Itoa(int(commvaultsim.SeededUserID(i))),
		}})
	}
	return r
}

// migration builds a migration as `gateway migrate` does: a fresh
// process's dispatcher on the shared store.
func (r *migrateRig) migration(t *testing.T, runID string) *migration {
	t.Helper()
	cfg, err := devConfig("", r.sims)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Idempotency.Store = "redis"
	cfg.Redis.URL = "redis://" + r.redis.Addr()
	cfg.Redis.AllowVolatile = true // miniredis has no persistence to report
	g, err := build(context.Background(), cfg, buildOptions{LogOutput: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown(context.Background()) })
	return &migration{d: g.dispatcher, from: "akana", to: []string{"frontier", "commvault"}, runID: runID, of: 1, concurrency: 4}
}

// writes counts the writes each seeded user got at frontier and commvault.
func (r *migrateRig) writes() map[string]int {
	out := map[string]int{}
	for _, q := range r.sims.handlers["frontier"].(*frontiersim.Sim).Requests() {
		if q.Method != http.MethodGet && strings.Contains(q.Path, "/users/00000000-") {
			out["frontier "+q.Path[strings.LastIndex(q.Path, "/")+1:]]++
		}
	}
	for _, q := range r.sims.handlers["commvault"].(*commvaultsim.Sim).Requests() {
		if q.Method != http.MethodGet && strings.Contains(strings.ToLower(q.Path), "/user/1") {
			out["commvault "+q.Path[strings.LastIndex(q.Path, "/")+1:]]++
		}
	}
	return out
}

// TestMigrateResumesWithoutDoubleWrites kills a migration half-way and
// runs it again with the same run id in a new dispatcher on the same
// store: every user ends applied, none was written twice.
func TestMigrateResumesWithoutDoubleWrites(t *testing.T) {
	const n = 40
	r := newMigrateRig(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	m := r.migration(t, "run-1")
	m.onDone = func(done int) {
		if done == n/2 {
			cancel()
		}
	}
	first, err := m.run(ctx, r.users, &bytes.Buffer{})
	if err == nil || len(first) >= n {
		t.Fatalf("the killed run finished %d users (err %v)", len(first), err)
	}
	for _, l := range first {
		if l.Status != "applied" {
			t.Fatalf("first run: %+v", l)
		}
	}
	afterKill := r.writes()
	if len(afterKill) == 0 {
		t.Fatal("the first run wrote nothing")
	}

	var report bytes.Buffer
	second, err := r.migration(t, "run-1").run(context.Background(), r.users, &report)
	if err != nil {
		t.Fatal(err)
	}
	replayed := 0
	for _, l := range second {
		if l.Status != "applied" {
			t.Errorf("resume: %+v", l)
		}
		if l.Replayed {
			replayed++
		}
	}
	if len(second) != n || replayed != len(first) {
		t.Fatalf("resume: %d users, %d replayed, want %d and %d", len(second), replayed, n, len(first))
	}
	doubles := 0
	for k, c := range r.writes() {
		if c > 1 {
			doubles++
			t.Errorf("%s written %d times", k, c)
		}
	}
	// Akana's seeded users hold an e-mail, which Commvault takes and
	// Frontier skips (it does not change e-mail): one write per user.
	wantAccounts := 0
	for _, l := range second {
		for _, o := range l.Targets {
			if o.Status == "applied" {
				wantAccounts++
			}
		}
	}
	if got := len(r.writes()); got != wantAccounts || got < n {
		t.Errorf("%d accounts written, want %d", got, wantAccounts)
	}
	if doubles != 0 {
		t.Fatalf("%d double writes", doubles)
	}
	if !strings.Contains(report.String(), `"replayed":true`) {
		t.Fatal("the report does not mark replayed users")
	}
}

// TestMigrateShardsCoverEveryUserOnce runs 4 shards concurrently (as 4
// pods of the Indexed Job would) on one store: each user is handled by
// exactly one shard.
func TestMigrateShardsCoverEveryUserOnce(t *testing.T) {
	const n = 40
	r := newMigrateRig(t, n)
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 4 {
		m := r.migration(t, "sharded")
		m.shard, m.of = i, 4
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines, err := m.run(context.Background(), r.users, &bytes.Buffer{})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, l := range lines {
				seen[l.ID]++
				if l.Status != "applied" {
					t.Errorf("shard %d: %+v", i, l)
				}
			}
		}()
	}
	wg.Wait()
	for _, u := range r.users {
		if seen[u.ID] != 1 {
			t.Errorf("%s handled %d times", u.ID, seen[u.ID])
		}
	}
	for k, c := range r.writes() {
		if c != 1 {
			t.Errorf("%s written %d times", k, c)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in     string
		i, n   int
		wantOK bool
	}{{"", 0, 1, true}, {"0/4", 0, 4, true}, {"3/4", 3, 4, true}, {"4/4", 0, 0, false}, {"-1/4", 0, 0, false}, {"1", 0, 0, false}, {"a/b", 0, 0, false}} {
		i, n, err := parseShard(tc.in)
		if (err == nil) != tc.wantOK || (tc.wantOK && (i != tc.i || n != tc.n)) {
			t.Errorf("%q: %d/%d %v", tc.in, i, n, err)
		}
	}
	_ = fmt.Sprint()
}

func TestMigrateProgress(t *testing.T) {
	r := newMigrateRig(t, 5)
	for _, bar := range []bool{false, true} {
		var out bytes.Buffer
		m := r.migration(t, fmt.Sprint("progress-", bar))
		m.progress, m.progressEvery, m.bar = &out, 2, bar
		if _, err := m.run(context.Background(), r.users, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		switch {
		case !bar && (strings.Count(s, "\n") != 3 || !strings.Contains(s, "migrate: 5/5 users") || !strings.Contains(s, "0 failed")):
			t.Errorf("progress lines:\n%s", s)
		case bar && (!strings.Contains(s, "\r[") || !strings.Contains(s, "5/5") || !strings.Contains(s, "ETA")):
			t.Errorf("progress bar: %q", s)
		}
	}
}

func TestMigrateSummaryAndExit(t *testing.T) {
	lines := []migrateLine{
		{ID: "a", Status: "applied", Targets: map[string]migrateOutcome{"frontier": {Status: "applied"}, "commvault": {Status: "skipped"}}},
		{ID: "b", Status: "partial", Targets: map[string]migrateOutcome{"frontier": {Status: "applied"}, "commvault": {Status: "failed", Code: "upstream_unavailable"}}},
		{ID: "c", Status: "failed", Reason: "source: not_found"},
	}
	var out bytes.Buffer
	if !summarize(&out, lines, []string{"frontier", "commvault"}) {
		t.Error("failures not reported")
	}
	s := out.String()
	for _, want := range []string{"commvault: upstream_unavailable", "source: not_found", "TARGET"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if summarize(&bytes.Buffer{}, lines[:1], []string{"frontier", "commvault"}) {
		t.Error("a clean run reported failure")
	}
}
