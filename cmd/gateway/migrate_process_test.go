package main

// The migration as a newcomer runs it (README, Bulk updates and
// migrations), with real OS processes: `gateway sim --seed-users N
// --users-file`, `gateway migrate` SIGKILLed half-way and run again, and
// four `gateway migrate --shard i/4` processes side by side. Every check is
// made from the simulators' own request logs and the reports.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/identity-gateway/identity-gateway/adapters/builtin"
)

// migrateWorld is a built gateway binary, a `gateway sim` process seeded
// with n users, a config on a Redis store, and the environment both need.
type migrateWorld struct {
	bin, dir, cfg, users string
	n                    int
	env                  []string
	simURL               map[string]string
	// mini is the miniredis standing in for REDIS_URL, nil with a real
	// Redis. Its keys expire only when told (FastForward).
	mini *miniredis.Miniredis
}

// lockTTL is idempotency.lock_ttl in the world's config.
const lockTTL = 4 * time.Second

// expireClaims lets the claims of a killed process run out, as lock_ttl of
// wall time does on a real Redis.
func (w *migrateWorld) expireClaims() {
	if w.mini != nil {
		w.mini.FastForward(lockTTL)
	}
}

// buildGateway builds the gateway binary into a temporary directory.
func buildGateway(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the gateway and runs it as processes")
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// newMigrateWorld starts bin's `gateway sim --seed-users n --users-file`. The store is the Redis at
// REDIS_URL under a key prefix of its own (purged at the end) when set, a
// miniredis on loopback otherwise: both outlive the migrate processes.
func newMigrateWorld(t *testing.T, bin string, n int) *migrateWorld {
	t.Helper()
	w := &migrateWorld{bin: bin, dir: t.TempDir(), n: n, simURL: map[string]string{}}
	w.users = filepath.Join(w.dir, "users.jsonl")
	sim := exec.Command(w.bin, "sim", "--base-port", "0", "--seed-users", strconv.Itoa(n), "--users-file", w.users)
	stdout, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sim.Stderr = os.Stderr
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Process.Kill(); _ = sim.Wait() })
	// The simulators listen before `gateway sim` prints; it prints one
	// export per ${VAR}: the URLs and the demo seeds' values.
	want := len(builtin.Vendors()) + len(builtin.DemoEnv())
	sc := bufio.NewScanner(stdout)
	for len(w.env) < want && sc.Scan() {
		if kv, ok := strings.CutPrefix(sc.Text(), "export "); ok {
			w.env = append(w.env, kv)
			if k, v, _ := strings.Cut(kv, "="); strings.HasSuffix(k, "_URL") {
				w.simURL[strings.ToLower(strings.TrimSuffix(k, "_URL"))] = v
			}
		}
	}
	if len(w.env) < want {
		t.Fatalf("gateway sim printed %d of %d variables: %v", len(w.env), want, sc.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	redisURL := os.Getenv("REDIS_URL")
	prefix := fmt.Sprintf("idgw-migrate-%d:", time.Now().UnixNano())
	if redisURL == "" {
		w.mini = miniredis.RunT(t)
		redisURL = "redis://" + w.mini.Addr()
	} else {
		purgeAtEnd(t, redisURL, prefix)
	}
	w.env = append(os.Environ(), append(w.env, "IDEMPOTENCY_STORE=redis", "REDIS_URL="+redisURL, "REDIS_KEY_PREFIX="+prefix,
		"REDIS_ALLOW_VOLATILE=true")...)
	// A killed migrate's claims expire after lock_ttl, which must exceed
	// every vendor deadline: both short, so the resume does not wait long.
	conf, err := os.ReadFile("../../gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{{"deadline: 15s", "deadline: 3s"}, {"attempt_timeout: 5s", "attempt_timeout: 2s"}, {"account_lock_ttl: 60s", "account_lock_ttl: 4s"}, {"lock_ttl: 60s", fmt.Sprintf("lock_ttl: %s", lockTTL)}} {
		if !bytes.Contains(conf, []byte(r[0])) {
			t.Fatalf("gateway.yaml no longer has %q", r[0])
		}
		conf = bytes.ReplaceAll(conf, []byte(r[0]), []byte(r[1]))
	}
	w.cfg = filepath.Join(w.dir, "gateway.yaml")
	if err := os.WriteFile(w.cfg, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// migrate is a `gateway migrate` of the seeded users from Akana to Frontier
// and Commvault, with extra flags.
func (w *migrateWorld) migrate(report string, extra ...string) *exec.Cmd {
	args := append([]string{"migrate", "--config", w.cfg, "--from", "akana", "--to", "frontier,commvault", "--users", w.users,
		"--concurrency", "8", "--report", filepath.Join(w.dir, report)}, extra...)
	cmd := exec.Command(w.bin, args...)
	cmd.Env = w.env
	return cmd
}

// report reads a --report file.
func (w *migrateWorld) report(t *testing.T, name string) []migrateLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return reportLines(t, b)
}

// simWrites counts, from a simulator's own request log (GET
// /_sim/requests), the requests other than GET that name a seeded user's
// account, by method and path.
func (w *migrateWorld) simWrites(t *testing.T, vendor string, seeded *regexp.Regexp) map[string]int {
	t.Helper()
	resp, err := http.Get(w.simURL[vendor] + "/_sim/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var log []struct{ Method, Path string }
	if err := json.NewDecoder(resp.Body).Decode(&log); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range log {
		if r.Method != http.MethodGet && seeded.MatchString(r.Path) {
			out[r.Method+" "+r.Path]++
		}
	}
	return out
}

var (
	frontierSeeded  = regexp.MustCompile(`/users/00000000-0000-4000-8000-\d{12}`)
	commvaultSeeded = regexp.MustCompile(`(?i)/V4/user/1\d{5}$`)
)

// checkWrittenOnce checks the simulators against the per-user reports:
// every target a report line says applied got its writes exactly once,
// and no account was written more than once.
func (w *migrateWorld) checkWrittenOnce(t *testing.T, lines []migrateLine) {
	t.Helper()
	applied := map[string]int{}
	for _, l := range lines {
		for target, o := range l.Targets {
			if o.Status == "applied" {
				applied[target]++
			}
		}
	}
	for vendor, re := range map[string]*regexp.Regexp{"frontier": frontierSeeded, "commvault": commvaultSeeded} {
		writes := w.simWrites(t, vendor, re)
		doubles := 0
		for k, c := range writes {
			if c != 1 {
				doubles++
				t.Errorf("%s: %s sent %d times", vendor, k, c)
			}
		}
		if doubles != 0 {
			t.Errorf("%s: %d double writes", vendor, doubles)
		}
		// Akana's seeded users hold an e-mail, which Commvault takes (one PUT
		// per user) and Frontier cannot (skipped: no call at all).
		wantCalls := applied[vendor]
		if vendor == "frontier" {
			wantCalls = 0
		}
		if len(writes) != wantCalls {
			t.Errorf("%s: %d accounts written, %d users applied there", vendor, len(writes), applied[vendor])
		}
	}
	if applied["commvault"] != w.n {
		t.Errorf("commvault applied for %d of %d users", applied["commvault"], w.n)
	}
}

var progressLine = regexp.MustCompile(`^migrate: (\d+)/(\d+) users`)

// TestMigrateProcesses builds the gateway once for its two proofs.
func TestMigrateProcesses(t *testing.T) {
	bin := buildGateway(t)
	t.Run("kill and resume", func(t *testing.T) { testMigrateKillAndResume(t, bin) })
	t.Run("four shard processes", func(t *testing.T) { testMigrateFourShards(t, bin) })
}

// testMigrateKillAndResume is the README's migration flow:
// `gateway migrate` is SIGKILLed once its progress shows half the users
// done, then run again with the same --run-id; the second report holds
// every user once, all applied, the first run's replayed, and the
// simulators saw every account written exactly once.
func testMigrateKillAndResume(t *testing.T, bin string) {
	const n = 1000
	w := newMigrateWorld(t, bin, n)
	first := w.migrate("first.jsonl", "--run-id", "newcomer", "--progress-every", "25")
	stderr, err := first.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	killedAt := -1
	var seen []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		seen = append(seen, sc.Text())
		m := progressLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if total, _ := strconv.Atoi(m[2]); total != n {
			t.Fatalf("progress shows %s users, want %d", m[2], n)
		}
		if done, _ := strconv.Atoi(m[1]); done >= n/2 {
			if err := first.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killedAt = done
			break
		}
	}
	_, _ = io.Copy(io.Discard, stderr)
	err = first.Wait()
	if killedAt < 0 {
		t.Fatalf("no progress line reached %d users (exit %v):\n%s", n/2, err, strings.Join(seen, "\n"))
	}
	if err == nil {
		t.Fatal("the killed migrate exited cleanly")
	}
	writtenBefore := len(w.simWrites(t, "commvault", commvaultSeeded))
	if writtenBefore < killedAt || writtenBefore >= n {
		t.Fatalf("%d users written when killed at %d/%d", writtenBefore, killedAt, n)
	}

	// The users in flight at the kill are still claimed by the dead
	// process until lock_ttl passes; the resume waits for them (a real
	// Redis) or finds them expired (miniredis, fast-forwarded).
	w.expireClaims()
	var out bytes.Buffer
	second := w.migrate("second.jsonl", "--run-id", "newcomer")
	second.Stdout, second.Stderr = &out, &out
	if err := second.Run(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out.String())
	}
	lines := w.report(t, "second.jsonl")
	ids := map[string]int{}
	replayed := 0
	for _, l := range lines {
		ids[l.ID]++
		if l.Status != "applied" {
			t.Errorf("resume: %+v", l)
		}
		if l.Replayed {
			replayed++
		}
	}
	if len(lines) != n || len(ids) != n {
		t.Fatalf("the report has %d lines for %d users, want %d", len(lines), len(ids), n)
	}
	if replayed < killedAt || replayed > writtenBefore {
		t.Errorf("%d users replayed; the first run finished %d before the kill and had written %d", replayed, killedAt, writtenBefore)
	}
	w.checkWrittenOnce(t, lines)
	summary := out.String()
	for _, want := range []string{"run newcomer: 1000 users in this shard finished", "TARGET", "commvault  1000"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	t.Logf("killed at %d/%d with %d written; the resume replayed %d", killedAt, n, writtenBefore, replayed)
}

// testMigrateFourShards runs `gateway migrate --shard i/4` as four
// processes at once against one `gateway sim` and one Redis: the reports'
// union is every user exactly once, and the simulators saw every account
// written exactly once.
func testMigrateFourShards(t *testing.T, bin string) {
	const n, shards = 1000, 4
	w := newMigrateWorld(t, bin, n)
	var wg sync.WaitGroup
	errs := make([]error, shards)
	outs := make([]bytes.Buffer, shards)
	for i := range shards {
		cmd := w.migrate(fmt.Sprintf("shard%d.jsonl", i), "--run-id", "sharded", "--shard", fmt.Sprintf("%d/%d", i, shards))
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cmd.Wait() }()
	}
	wg.Wait()
	var all []migrateLine
	seen := map[string]int{}
	for i := range shards {
		if errs[i] != nil {
			t.Fatalf("shard %d: %v\n%s", i, errs[i], outs[i].String())
		}
		lines := w.report(t, fmt.Sprintf("shard%d.jsonl", i))
		if len(lines) == 0 || len(lines) == n {
			t.Errorf("shard %d handled %d of %d users", i, len(lines), n)
		}
		for _, l := range lines {
			seen[l.ID]++
			if l.Status != "applied" {
				t.Errorf("shard %d: %+v", i, l)
			}
			if !inShard(l.ID, i, shards) {
				t.Errorf("shard %d handled %s, which hashes elsewhere", i, l.ID)
			}
		}
		all = append(all, lines...)
	}
	for i := range n {
		if id := seededUser(i).ID; seen[id] != 1 {
			t.Errorf("%s handled %d times", id, seen[id])
		}
	}
	if len(all) != n {
		t.Errorf("the reports hold %d lines for %d users", len(all), n)
	}
	w.checkWrittenOnce(t, all)
}

// TestReadmeMigrationFlow keeps the README's migration commands runnable:
// each `gateway sim` and `gateway migrate` line of the flow parses with the
// real flags (the run then stops at the missing config or a bad port, not at
// a flag).
func TestReadmeMigrationFlow(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(raw), "## Bulk updates and migrations")
	if !ok {
		t.Fatal("README has no migrations section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var cmds []string
	for _, line := range strings.Split(strings.ReplaceAll(sec, "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "gateway sim ") || strings.HasPrefix(line, "gateway migrate ") {
			line, _, _ = strings.Cut(line, " > ")
			line, _, _ = strings.Cut(line, " &")
			cmds = append(cmds, line)
		}
	}
	if len(cmds) < 2 || !strings.HasPrefix(cmds[0], "gateway sim --seed-users 10000") {
		t.Fatalf("the flow's commands: %q", cmds)
	}
	for _, c := range cmds {
		args := strings.Fields(c)[1:]
		// Make the command stop right after its flags parse: an unusable
		// port for sim, a config that does not exist for migrate.
		if args[0] == "sim" {
			args = append(args, "--host", "256.0.0.1")
		} else {
			for i, a := range args {
				if a == "--config" {
					args[i+1] = filepath.Join(t.TempDir(), "missing.yaml")
				}
			}
		}
		args = slicesReplace(args, "users.jsonl", filepath.Join(t.TempDir(), "users.jsonl"))
		err := run(context.Background(), args, nil, io.Discard, io.Discard)
		if err == nil || strings.Contains(err.Error(), "usage") || strings.Contains(err.Error(), "flag provided but not defined") {
			t.Errorf("%s: %v", c, err)
		}
	}
}

func slicesReplace(s []string, old, new string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = v
		if v == old {
			out[i] = new
		}
	}
	return out
}
