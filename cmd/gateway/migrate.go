package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
	"github.com/identity-gateway/identity-gateway/internal/links"
	"github.com/identity-gateway/identity-gateway/internal/upstream"
)

// migrateUser is one line of --users: the canonical id and, where no link
// is stored yet, the user's id at the source and destinations.
type migrateUser struct {
	ID        string            `json:"id"`
	VendorIDs map[string]string `json:"vendor_ids,omitempty"`
}

// migrateLine is one line of the --report JSONL.
type migrateLine struct {
	ID       string                    `json:"id"`
	Status   string                    `json:"status"` // applied, planned, partial, failed, skipped
	Replayed bool                      `json:"replayed,omitempty"`
	Fields   []canonical.Field         `json:"fields,omitempty"`
	Reason   string                    `json:"reason,omitempty"`
	Targets  map[string]migrateOutcome `json:"targets,omitempty"`
}

type migrateOutcome struct {
	Status string `json:"status"`
	Code   string `json:"code,omitempty"`
}

// migration copies users from one target to others through a dispatcher.
type migration struct {
	d           *dispatch.Dispatcher
	from        string
	to          []string
	fields      []canonical.Field // nil: every field a destination supports
	dry         bool
	runID       string
	shard, of   int
	concurrency int
	// progress receives a line every progressEvery users (0: none).
	progress      io.Writer
	progressEvery int
	bar           bool // progress is a terminal: draw a bar
	// onDone, when set, is told of each finished user (tests stop a run
	// half-way through it).
	onDone func(n int)
}

// inShard reports whether id belongs to shard m.shard of m.of: a stable
// FNV-1a hash of the id, so every run splits the users the same way.
func inShard(id string, shard, of int) bool {
	if of <= 1 {
		return true
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32()%uint32(of)) == shard
}

// copyable are the canonical fields a read snapshot holds as plain values
// that an update takes as they are.
var copyable = []canonical.Field{canonical.FieldUsername, canonical.FieldEmail, canonical.FieldGivenName, canonical.FieldFamilyName,
	canonical.FieldDisplayName, canonical.FieldEnabled, canonical.FieldOTPEnabled, canonical.FieldPrincipalName, canonical.FieldAuthMethod}

// run migrates users, writing one report line per user to report; it
// returns the lines in finishing order.
func (m *migration) run(ctx context.Context, users []migrateUser, report io.Writer) ([]migrateLine, error) {
	var mine []migrateUser
	for _, u := range users {
		if inShard(u.ID, m.shard, m.of) {
			mine = append(mine, u)
		}
	}
	supported := map[canonical.Field]bool{}
	for _, t := range m.to {
		for f, s := range m.d.Capabilities()[t].Fields {
			if s.Supported {
				supported[f] = true
			}
		}
	}
	var (
		mu    sync.Mutex
		lines []migrateLine
		wg    sync.WaitGroup
		enc   = json.NewEncoder(report)
		start = time.Now()
		fails int
	)
	work := make(chan migrateUser)
	conc := max(1, m.concurrency)
	// A cancelled run (Ctrl-C, SIGTERM) starts no new user; users already
	// started finish and are recorded, so a resume never finds one half
	// written.
	wctx := context.WithoutCancel(ctx)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				l := m.one(wctx, u, supported)
				mu.Lock()
				lines = append(lines, l)
				if l.Status == "failed" || l.Status == "partial" {
					fails++
				}
				_ = enc.Encode(l)
				n := len(lines)
				if m.progress != nil && m.progressEvery > 0 && (n%m.progressEvery == 0 || n == len(mine)) {
					el := time.Since(start)
					rate := float64(n) / max(el.Seconds(), 1e-9)
					eta := time.Duration(float64(len(mine)-n)/max(rate, 1e-9)) * time.Second
					if m.bar {
						// A terminal: one line redrawn in place.
						const width = 30
						filled := width * n / max(len(mine), 1)
						fmt.Fprintf(m.progress, "\r[%s%s] %d/%d  %.1f users/s  ETA %s  %d failed ", strings.Repeat("#", filled),
							strings.Repeat(".", width-filled), n, len(mine), rate, eta.Round(time.Second), fails)
						if n == len(mine) {
							fmt.Fprintln(m.progress)
						}
					} else {
						fmt.Fprintf(m.progress, "migrate: %d/%d users, %.1f users/s, ETA %s, %d failed\n", n, len(mine), rate, eta.Round(time.Second), fails)
					}
				}
				mu.Unlock()
				if m.onDone != nil {
					m.onDone(n)
				}
			}
		}()
	}
feed:
	for _, u := range mine {
		select {
		case work <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return lines, ctx.Err()
}

// one migrates one user: read the source, copy what the destinations
// take, write through the dispatcher under a key derived from the run id
// and the user (a re-run replays it), then link the accounts.
func (m *migration) one(ctx context.Context, u migrateUser, supported map[canonical.Field]bool) migrateLine {
	l := migrateLine{ID: u.ID}
	if err := canonical.CheckID("id", u.ID); err != nil {
		l.Status, l.Reason = "failed", "invalid id: "+err.Error()
		return l
	}
	ctx = upstream.WithBulk(ctx)
	rd, err := m.d.Read(ctx, dispatch.ReadInput{Client: "migrate", UserID: u.ID, Targets: []string{m.from}, VendorIDs: u.VendorIDs})
	if err != nil {
		l.Status, l.Reason = "failed", "source: "+canonical.AsError(err).Message
		return l
	}
	src := rd.Results[m.from]
	if src.Status != dispatch.ReadOK || src.Snapshot == nil {
		l.Status, l.Reason = "failed", "source: "+string(src.Status)
		if src.Error != nil {
			l.Reason += ": " + string(src.Error.Code)
		}
		return l
	}
	user := map[string]any{}
	for _, f := range copyable {
		v, ok := src.Snapshot.Fields[f]
		if !ok || !supported[f] || (m.fields != nil && !slices.Contains(m.fields, f)) {
			continue
		}
		if s, isStr := v.Value.(string); isStr && s == "" {
			continue
		}
		user[string(f)] = v.Value
		l.Fields = append(l.Fields, f)
	}
	if len(user) == 0 {
		l.Status, l.Reason = "skipped", "nothing to copy: the source holds none of the fields the destinations take"
		return l
	}
	body := map[string]any{"targets": m.to, "on_unsupported": "skip", "user": user}
	if ids := destIDs(u.VendorIDs, m.to); len(ids) > 0 {
		body["vendor_ids"] = ids
	}
	raw, _ := json.Marshal(body)
	req, err := canonical.Decode(raw, u.ID)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		l.Status, l.Reason = "failed", "mapping: "+canonical.AsError(err).Message
		return l
	}
	in := dispatch.Input{Client: "migrate", Method: http.MethodPatch, Path: "/v1/users/" + u.ID, Request: req, DryRun: m.dry,
		Key: "migrate/" + m.runID + "/" + u.ID}
	if len(in.Key) > 255 {
		in.Key = "migrate/" + m.runID + "/" + strconv.FormatUint(uint64(fnvSum(u.ID)), 16)
	}
	out, err := m.d.Apply(ctx, in)
	if err != nil {
		e := canonical.AsError(err)
		l.Status, l.Reason = "failed", string(e.Code)+": "+e.Message
		return l
	}
	l.Replayed = out.Replayed
	var res canonical.Result
	if err := json.Unmarshal(out.Body, &res); err != nil {
		l.Status, l.Reason = "failed", "unreadable result"
		return l
	}
	l.Status = string(res.Status)
	l.Targets = map[string]migrateOutcome{}
	applied := map[string]string{}
	for t, r := range res.Results {
		o := migrateOutcome{Status: string(r.Status)}
		if r.Error != nil {
			o.Code = string(r.Error.Code)
		}
		l.Targets[t] = o
		if r.Status == canonical.StatusApplied && r.VendorID != "" {
			applied[t] = r.VendorID
		}
	}
	if !m.dry && len(applied) > 0 {
		if id := src.VendorID; id != "" {
			applied[m.from] = id
		}
		if _, err := m.d.Links().Put(context.WithoutCancel(ctx), u.ID, links.Change{Links: applied, Source: links.SourceMigration, Client: "migrate"}); err != nil {
			l.Reason = "written, but linking failed: " + err.Error()
		}
	}
	return l
}

func fnvSum(s string) uint32 { h := fnv.New32a(); _, _ = h.Write([]byte(s)); return h.Sum32() }

func destIDs(ids map[string]string, to []string) map[string]string {
	out := map[string]string{}
	for _, t := range to {
		if v, ok := ids[t]; ok {
			out[t] = v
		}
	}
	return out
}

// summarize writes the per-target table: applied, skipped, failed and the
// most frequent failure reasons. It reports whether anything failed.
func summarize(w io.Writer, lines []migrateLine, to []string) bool {
	type row struct{ applied, planned, skipped, failed, replayed int }
	rows := map[string]*row{}
	for _, t := range to {
		rows[t] = &row{}
	}
	reasons := map[string]int{}
	failed := false
	for _, l := range lines {
		if l.Status == "failed" || l.Status == "partial" {
			failed = true
		}
		if len(l.Targets) == 0 {
			for _, t := range to {
				switch l.Status {
				case "skipped":
					rows[t].skipped++
				default:
					rows[t].failed++
				}
			}
			if l.Reason != "" {
				reasons[l.Reason]++
			}
			continue
		}
		for t, o := range l.Targets {
			r := rows[t]
			if r == nil {
				continue
			}
			if l.Replayed {
				r.replayed++
			}
			switch o.Status {
			case "applied":
				r.applied++
			case "planned":
				r.planned++
			case "skipped":
				r.skipped++
			default:
				r.failed++
				reasons[t+": "+o.Code]++
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tAPPLIED\tPLANNED\tSKIPPED\tFAILED\tREPLAYED")
	for _, t := range to {
		r := rows[t]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", t, r.applied, r.planned, r.skipped, r.failed, r.replayed)
	}
	_ = tw.Flush()
	if len(reasons) > 0 {
		type kv struct {
			k string
			n int
		}
		var top []kv
		for k, n := range reasons {
			top = append(top, kv{k, n})
		}
		sort.Slice(top, func(i, j int) bool { return top[i].n > top[j].n || (top[i].n == top[j].n && top[i].k < top[j].k) })
		fmt.Fprintln(w, "\ntop reasons:")
		for i, r := range top {
			if i == 5 {
				break
			}
			fmt.Fprintf(w, "  %5d  %s\n", r.n, clipCell(r.k, 120))
		}
	}
	return failed
}

// readUsers reads --users: one JSON object per line.
func readUsers(r io.Reader) ([]migrateUser, error) {
	var out []migrateUser
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var u migrateUser
		if err := json.Unmarshal([]byte(line), &u); err != nil || u.ID == "" {
			return nil, fmt.Errorf("--users line %d: want {\"id\": ..., \"vendor_ids\": {...}}", n)
		}
		out = append(out, u)
	}
	return out, sc.Err()
}

func parseShard(s string) (int, int, error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, errors.New("--shard: want i/N with 0 <= i < N")
	}
	return i, n, nil
}

// cmdMigrate copies users from one target to others, in-process.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	path := fs.String("config", "gateway.yaml", "the gateway config (vendors, idempotency store, links)")
	from := fs.String("from", "", "the source target")
	to := fs.String("to", "", "comma-separated destination targets")
	usersPath := fs.String("users", "", "JSONL of users: {\"id\": ..., \"vendor_ids\": {target: id}}")
	fields := fs.String("fields", "", "comma-separated canonical fields to copy (default: every field a destination takes)")
	dry := fs.Bool("dry-run", false, "show what would be written; write nothing")
	runID := fs.String("run-id", "", "the run's id: re-running with it resumes (default: derived from --from, --to and --users)")
	shard := fs.String("shard", "", "i/N: take only the i-th of N stable hash shares of the users")
	conc := fs.Int("concurrency", 8, "users in flight at once")
	reportPath := fs.String("report", "", "write the per-user JSONL report here (default: none)")
	every := fs.Int("progress-every", 100, "print a progress line every N users")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || *usersPath == "" {
		return errors.New("usage: gateway migrate --config FILE --from SOURCE --to T1,T2 --users users.jsonl [--fields f1,f2] [--dry-run] [--run-id ID] [--shard i/N] [--concurrency N] [--report out.jsonl]")
	}
	si, sn, err := parseShard(*shard)
	if err != nil {
		return err
	}
	if *conc < 1 || *conc > 1024 {
		return errors.New("--concurrency: must be between 1 and 1024")
	}
	f, err := os.Open(*usersPath)
	if err != nil {
		return err
	}
	users, err := readUsers(f)
	f.Close()
	if err != nil {
		return err
	}
	cfg, err := config.LoadFile(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	if *runID == "" {
		*runID = fmt.Sprintf("%s-%s-%x", *from, strings.ReplaceAll(*to, ",", "+"), fnvSum(*usersPath))
	}
	if cfg.Idempotency.Store != "redis" && !*dry {
		fmt.Fprintln(stderr, "migrate: idempotency.store is memory: this run can resume only within this process; use idempotency.store: redis to resume after a kill")
	}
	g, err := build(ctx, cfg, buildOptions{LogOutput: io.Discard})
	if err != nil {
		return err
	}
	defer g.Shutdown(context.Background())
	m := &migration{d: g.dispatcher, from: *from, to: strings.Split(*to, ","), dry: *dry, runID: *runID, shard: si, of: sn,
		concurrency: *conc, progress: stderr, progressEvery: *every, bar: isTerminal(stderr)}
	if m.bar {
		m.progressEvery = 1
	}
	if *fields != "" {
		for _, s := range strings.Split(*fields, ",") {
			m.fields = append(m.fields, canonical.Field(s))
		}
	}
	for _, t := range append([]string{m.from}, m.to...) {
		if !slices.Contains(g.dispatcher.Targets(), t) {
			return fmt.Errorf("target %q is not configured (configured: %s)", t, strings.Join(g.dispatcher.Targets(), ", "))
		}
	}
	report := io.Discard
	if *reportPath != "" {
		rf, err := os.Create(*reportPath)
		if err != nil {
			return err
		}
		defer rf.Close()
		bw := bufio.NewWriter(rf)
		defer bw.Flush()
		report = bw
	}
	lines, runErr := m.run(ctx, users, report)
	fmt.Fprintf(stdout, "run %s: %d users in this shard finished\n\n", *runID, len(lines))
	failed := summarize(stdout, lines, m.to)
	switch {
	case runErr != nil:
		return fmt.Errorf("migration stopped (%w); run again with --run-id %s to resume", runErr, *runID)
	case failed:
		return errors.New("some users failed; see the report")
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
