package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters/akana/akanasim"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/audit"
)

// migrateRig is simulators seeded with n users and a gateway config on a
// shared (mini)Redis store.
type migrateRig struct {
	sims  *simSet
	users []migrateUser
	// redisURL and redisPrefix are the store the rig's gateways share:
	// a miniredis of the test's own, or (benchmarks) REDIS_URL under a
	// prefix of the test's own.
	redisURL, redisPrefix string
}

func newMigrateRig(t *testing.T, n int) *migrateRig {
	t.Helper()
	sims, err := startSimsAt(context.Background(), "127.0.0.1", 0, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sims.Close() })
	r := &migrateRig{sims: sims, redisURL: "redis://" + miniredis.RunT(t).Addr()}
	for i := range n {
		r.users = append(r.users, seededUser(i))
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
	cfg.Redis.URL, cfg.Redis.KeyPrefix = r.redisURL, r.redisPrefix
	cfg.Redis.AllowVolatile = true // miniredis (or the test Redis) keeps no append-only file
	g, err := build(context.Background(), cfg, buildOptions{LogOutput: &bytes.Buffer{}, FewCallers: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown(context.Background()) })
	m := &migration{d: g.dispatcher, from: "akana", to: []string{"frontier", "commvault"}, runID: runID, of: 1, concurrency: 4,
		values: audit.ValuePolicy(cfg.Audit.Values)}
	if g.audit != nil {
		m.audit = g.audit
	}
	return m
}

// sliceSource hands over users from memory.
func sliceSource(users []migrateUser) source {
	return func(_ context.Context, each func(migrateUser) error) error {
		for _, u := range users {
			if err := each(u); err != nil {
				return err
			}
		}
		return nil
	}
}

// reportLines decodes a --report JSONL.
func reportLines(t *testing.T, b []byte) []migrateLine {
	t.Helper()
	var out []migrateLine
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var l migrateLine
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("report: %v", err)
		}
		out = append(out, l)
	}
	return out
}

// writes counts the writes (method and path) each seeded user got at
// frontier and commvault.
func (r *migrateRig) writes() map[string]int {
	out := map[string]int{}
	for _, q := range r.sims.handlers["frontier"].(*frontiersim.Sim).Requests() {
		if q.Method != http.MethodGet && strings.Contains(q.Path, "/users/00000000-") {
			out["frontier "+q.Method+" "+q.Path]++
		}
	}
	for _, q := range r.sims.handlers["commvault"].(*commvaultsim.Sim).Requests() {
		if q.Method != http.MethodGet && strings.Contains(strings.ToLower(q.Path), "/user/1") {
			out["commvault "+q.Method+" "+q.Path]++
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
	var firstReport bytes.Buffer
	sum, err := m.run(ctx, sliceSource(r.users), n, &firstReport)
	first := reportLines(t, firstReport.Bytes())
	if err == nil || len(first) >= n || sum.users != len(first) {
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
	if _, err := r.migration(t, "run-1").run(context.Background(), sliceSource(r.users), n, &report); err != nil {
		t.Fatal(err)
	}
	second := reportLines(t, report.Bytes())
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

// recordingAudit is an audit trail that keeps what it is given.
type recordingAudit struct {
	mu      sync.Mutex
	records []audit.Record
	down    error
}

func (a *recordingAudit) Ready(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.down
}
func (a *recordingAudit) Record(_ context.Context, r audit.Record) {
	a.mu.Lock()
	a.records = append(a.records, r)
	a.mu.Unlock()
}

// TestMigrateAudits: every user a migration writes is in the audit trail
// (migration.item, with the run, the source and each target's outcome;
// e-mail values as audit.values says); a resumed run's replayed users add
// nothing; while the trail cannot record, no user is written.
func TestMigrateAudits(t *testing.T) {
	const n = 6
	r := newMigrateRig(t, n)
	rec := &recordingAudit{}
	run := func(runID string) []migrateLine {
		m := r.migration(t, runID)
		m.audit, m.values = rec, audit.ValuesHashed
		var report bytes.Buffer
		if _, err := m.run(context.Background(), sliceSource(r.users), n, &report); err != nil {
			t.Fatal(err)
		}
		return reportLines(t, report.Bytes())
	}
	run("audited")
	if len(rec.records) != n {
		t.Fatalf("%d audit records for %d users", len(rec.records), n)
	}
	for _, a := range rec.records {
		if a.Action != audit.ActionMigrationItem || a.Client != "migrate" || a.Status != "applied" ||
			a.Detail["run_id"] != "audited" || a.Detail["from"] != "akana" || a.Detail["from_vendor_id"] == "" ||
			a.Targets["commvault"].Status != "applied" || a.Targets["commvault"].VendorID == "" ||
			!strings.HasPrefix(a.Values["email"], "sha256:") || !slices.Contains(a.Fields, "email") {
			t.Fatalf("audit record %+v", a)
		}
	}
	run("audited")
	if len(rec.records) != n {
		t.Fatalf("the resumed run's replays added %d records", len(rec.records)-n)
	}
	before := r.writes()
	rec.down = errors.New("sink down")
	for _, l := range run("while-down") {
		if l.Status != "failed" || !strings.HasPrefix(l.Reason, "audit_unavailable") {
			t.Fatalf("with the trail down: %+v", l)
		}
	}
	if after := r.writes(); !maps.Equal(before, after) {
		t.Fatalf("users were written while the trail was down: %v -> %v", before, after)
	}
}

// TestMigrateAuditRecordsMatchTheAPI: the records a migration writes to
// the gateway's audit trail are served by GET /v1/audit as the OpenAPI
// description says (auth_method cli, detail with the run).
func TestMigrateAuditRecordsMatchTheAPI(t *testing.T) {
	const n = 2
	r := newMigrateRig(t, n)
	cfg, err := devConfig("", r.sims)
	if err != nil {
		t.Fatal(err)
	}
	g, err := build(context.Background(), cfg, buildOptions{LogOutput: io.Discard, AuthNone: true})
	if err != nil {
		t.Fatal(err)
	}
	base := serveGateway(t, g)
	m := &migration{d: g.dispatcher, from: "akana", to: []string{"frontier", "commvault"}, runID: "api-visible", of: 1, concurrency: 2,
		audit: g.audit, values: audit.ValuePolicy(cfg.Audit.Values)}
	if _, err := m.run(context.Background(), sliceSource(r.users), n, io.Discard); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/v1/audit?client=migrate")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct{ Records []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/audit: %d %v", resp.StatusCode, err)
	}
	if len(page.Records) != n {
		t.Fatalf("%d records for %d users: %v", len(page.Records), n, page.Records)
	}
	schema := loadSpec(t).Components.Schemas["AuditRecord"].Value
	for _, rec := range page.Records {
		if err := schema.VisitJSON(rec); err != nil {
			t.Errorf("record %v does not match AuditRecord: %v", rec, err)
		}
		if rec["action"] != audit.ActionMigrationItem || rec["auth_method"] != "cli" {
			t.Errorf("record %v", rec)
		}
	}
}

// TestMigrateReadsOnlyWhatItCopies: neither Frontier nor Commvault takes
// given or family names, so the source's Akana read skips its user call
// (FirstName, LastName) and reads only the settings, one call per user.
func TestMigrateReadsOnlyWhatItCopies(t *testing.T) {
	const n = 5
	r := newMigrateRig(t, n)
	var report bytes.Buffer
	if _, err := r.migration(t, "reads").run(context.Background(), sliceSource(r.users), n, &report); err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, q := range r.sims.handlers["akana"].(*akanasim.Sim).Requests() {
		if q.Method == http.MethodGet && strings.HasPrefix(q.Path, "/api/users/") {
			kind := "user"
			if strings.HasSuffix(q.Path, "/settings") {
				kind = "settings"
			}
			calls[kind]++
		}
	}
	if calls["settings"] != n || calls["user"] != 0 {
		t.Fatalf("akana reads %v, want %d settings and no user call", calls, n)
	}
	for _, l := range reportLines(t, report.Bytes()) {
		if l.Status != "applied" || !slices.Contains(l.Fields, canonical.FieldEmail) {
			t.Fatalf("report line %+v", l)
		}
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
			var report bytes.Buffer
			_, err := m.run(context.Background(), sliceSource(r.users), -1, &report)
			if err != nil {
				t.Error(err)
			}
			lines := reportLines(t, report.Bytes())
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

// TestMigrateProgress: lines every N users (and the last) when stderr is
// not a terminal, a bar redrawn in place when it is; a total not known yet
// (a vendor list still paging) shows as "?" until the listing ends.
func TestMigrateProgress(t *testing.T) {
	r := newMigrateRig(t, 5)
	for _, tc := range []struct {
		name  string
		bar   bool
		total int
		want  []string
		lines int
	}{
		{"lines", false, 5, []string{"migrate: 2/5 users", "migrate: 4/5 users", "migrate: 5/5 users", "0 failed"}, 3},
		{"lines, total unknown", false, -1, []string{"migrate: 2/? users", "ETA ?", "migrate: 4/? users", "migrate: 5/5 users"}, 3},
		{"bar", true, 5, []string{"\r[", "] 5/5", "users/s", "ETA", "0 failed"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			m := r.migration(t, fmt.Sprintf("progress-%v-%d", tc.bar, tc.total))
			m.progress, m.progressEvery, m.bar = &out, 2, tc.bar
			// The source returns (and the total becomes known) only once
			// every user it handed over has finished.
			finished := make(chan struct{})
			m.onDone = func(n int) {
				if n == len(r.users) {
					close(finished)
				}
			}
			src := func(ctx context.Context, each func(migrateUser) error) error {
				if err := sliceSource(r.users)(ctx, each); err != nil {
					return err
				}
				<-finished
				return nil
			}
			sum, err := m.run(context.Background(), src, tc.total, &bytes.Buffer{})
			if err != nil || sum.failed() {
				t.Fatalf("%d failed: %v", sum.failedUsers, err)
			}
			s := out.String()
			if strings.Count(s, "\n") != tc.lines {
				t.Errorf("%d lines, want %d:\n%q", strings.Count(s, "\n"), tc.lines, s)
			}
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("progress lacks %q:\n%q", w, s)
				}
			}
		})
	}
}

func TestMigrateSummaryAndExit(t *testing.T) {
	lines := []migrateLine{
		{ID: "a", Status: "applied", Targets: map[string]migrateOutcome{"frontier": {Status: "applied"}, "commvault": {Status: "skipped"}}},
		{ID: "b", Status: "partial", Targets: map[string]migrateOutcome{"frontier": {Status: "applied"}, "commvault": {Status: "failed", Code: "upstream_unavailable"}}},
		{ID: "c", Status: "failed", Reason: "source: not_found"},
	}
	to := []string{"frontier", "commvault"}
	sum := newTally(to)
	for _, l := range lines {
		sum.add(l)
	}
	if !sum.failed() {
		t.Error("failures not reported")
	}
	var out bytes.Buffer
	sum.write(&out)
	s := out.String()
	for _, want := range []string{"commvault: upstream_unavailable", "source: not_found", "TARGET"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	clean := newTally(to)
	clean.add(lines[0])
	if clean.failed() {
		t.Error("a clean run reported failure")
	}
}

// --all enumerates the source with its adapter's list call; each listed
// user gets its canonical id from its link, else "<source>-<vendor id>",
// and its destination accounts are resolved by e-mail. A second run with
// the same run id replays every user and writes nothing.
func TestMigrateAllListsTheSource(t *testing.T) {
	const n = 30
	for _, tc := range []struct{ from, to string }{{"commvault", "frontier"}, {"frontier", "commvault"}} {
		t.Run(tc.from+" to "+tc.to, func(t *testing.T) {
			r := newMigrateRig(t, n)
			run := func() []migrateLine {
				m := r.migration(t, "all-"+tc.from)
				m.from, m.to = tc.from, []string{tc.to}
				if !m.d.CanList(tc.from) {
					t.Fatalf("%s cannot list", tc.from)
				}
				var report bytes.Buffer
				sum, err := m.run(context.Background(), listSource(m.d, tc.from), -1, &report)
				if err != nil {
					t.Fatal(err)
				}
				lines := reportLines(t, report.Bytes())
				if sum.users != len(lines) {
					t.Fatalf("tally %d users, report %d", sum.users, len(lines))
				}
				return lines
			}
			first := run()
			applied := map[string]bool{}
			for _, l := range first {
				// The demo user is linked in gateway.yaml's users block.
				if !strings.HasPrefix(l.ID, tc.from+"-") && l.ID != "demo" {
					t.Errorf("listed user named %q, want its link's id or %s-<vendor id>", l.ID, tc.from)
				}
				if l.Status == "applied" && l.Targets[tc.to].Status == "applied" {
					applied[l.ID] = true
				}
			}
			if len(applied) < n {
				t.Fatalf("%d of %d listed users applied: %+v", len(applied), len(first), first)
			}
			writes := r.writes()
			second := run()
			if len(second) != len(first) {
				t.Fatalf("second run: %d users, first %d", len(second), len(first))
			}
			for _, l := range second {
				if applied[l.ID] && !l.Replayed {
					t.Errorf("%s was not replayed: %+v", l.ID, l)
				}
			}
			if diff := cmp.Diff(writes, r.writes()); diff != "" {
				t.Errorf("the second run wrote (-before +after):\n%s", diff)
			}
			for k, c := range r.writes() {
				if c != 1 {
					t.Errorf("%s written %d times", k, c)
				}
			}
		})
	}
}

func TestMigrateFlagErrors(t *testing.T) {
	cfg := writeDefaultConfig(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither --users nor --all", []string{"--from", "frontier", "--to", "commvault"}, "(--users users.jsonl | --all)"},
		{"both --users and --all", []string{"--from", "frontier", "--to", "commvault", "--all", "--users", "u.jsonl"}, "(--users users.jsonl | --all)"},
		{"a source that cannot list", []string{"--from", "akana", "--to", "commvault", "--all"}, "--all: akana's adapter cannot list users"},
		{"bad shard", []string{"--from", "frontier", "--to", "commvault", "--all", "--shard", "4/4"}, "--shard"},
		{"a run id no key can hold", []string{"--from", "frontier", "--to", "commvault", "--all", "--run-id", "my run"}, "--run-id"},
		{"bad progress interval", []string{"--from", "frontier", "--to", "commvault", "--all", "--progress-every", "0"}, "--progress-every"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"migrate", "--config", cfg}, tc.args...), nil, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
		})
	}
}

type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A report that cannot be written fails the run (after every user is
// migrated and recorded), and a bad --users line fails it before any user.
func TestMigrateReportsItsOwnFailures(t *testing.T) {
	r := newMigrateRig(t, 3)
	sum, err := r.migration(t, "report-fails").run(context.Background(), sliceSource(r.users), 3, fullDisk{})
	if err == nil || !strings.Contains(err.Error(), "writing the report: disk full") || sum.users != 3 {
		t.Fatalf("%d users, err %v", sum.users, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"id":"a"}` + "\n\n" + `{"vendor_ids":{}}`, "--users line 3"},
		{`{"id":"a"}` + "\nnot json", "--users line 2"},
	} {
		n := 0
		err := scanUsers(strings.NewReader(tc.in), func(migrateUser) error { n++; return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) || n != 1 {
			t.Errorf("%q: %d users, err %v", tc.in, n, err)
		}
	}
}
