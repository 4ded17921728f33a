package main

import (
	"bufio"
	"bytes"
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

	"golang.org/x/term"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/decode"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/links"
	"github.com/identity-gateway/identity-gateway/internal/upstream"
)

// migrateUser is one line of --users: the canonical id and, where no link
// is stored yet, the user's id at the source and destinations.
type migrateUser struct {
	ID        string            `json:"id"`
	VendorIDs map[string]string `json:"vendor_ids,omitempty"`
	// listed marks a user from the source's list (--all): its canonical
	// id is found when it is migrated (resolveListed).
	listed bool
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
	// inProgressWait is how long a user whose key an earlier, killed run
	// still holds is waited for (the store's lock_ttl and a margin).
	inProgressWait time.Duration
	// onDone, when set, is told of each finished user (tests stop a run
	// half-way through it).
	onDone func(n int)
	// audit records every user the run writes (nil: none), as the API
	// records every update; values is what it may keep of e-mail and names.
	audit  audit.Recorder
	values audit.ValuePolicy
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

// source hands run the users to migrate, one at a time, stopping at the
// first error each returns. It never holds them all: a users file is read
// line by line and a vendor's list page by page, so memory stays flat
// however many users there are.
type source func(ctx context.Context, each func(migrateUser) error) error

// errStopFeeding ends a source early when the run is cancelled.
var errStopFeeding = errors.New("migrate: stopped feeding users")

// run migrates the users of src that fall in m's shard, writing one report
// line per user to report as it finishes; total is how many users src
// will hand over in this shard, or -1 while unknown (setTotal tells it
// later). Nothing per user is kept: the tally holds counters and a
// bounded set of reasons.
func (m *migration) run(ctx context.Context, src source, total int, report io.Writer) (*tally, error) {
	plan := m.copyPlan()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		enc   = json.NewEncoder(report)
		start = time.Now()
		sum   = newTally(m.to)
		// reportErr is the report's first write error (a full disk): the
		// run goes on, the users are recorded in the store, and the
		// command fails at the end so the missing lines are not a surprise.
		reportErr error
	)
	p := &progress{w: m.progress, every: m.progressEvery, bar: m.bar, total: total, start: start}
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
				l := m.one(wctx, ctx.Done(), u, plan)
				mu.Lock()
				sum.add(l)
				if err := enc.Encode(l); err != nil && reportErr == nil {
					reportErr = err
				}
				n := sum.users
				p.report(n, sum.failedUsers)
				mu.Unlock()
				if m.onDone != nil {
					m.onDone(n)
				}
			}
		}()
	}
	fed := 0
	feedErr := src(ctx, func(u migrateUser) error {
		if !inShard(m.shardKey(u), m.shard, m.of) {
			return nil
		}
		select {
		case work <- u:
			fed++
			return nil
		case <-ctx.Done():
			return errStopFeeding
		}
	})
	close(work)
	if feedErr == nil {
		mu.Lock()
		p.setTotal(fed, sum.users, sum.failedUsers)
		mu.Unlock()
	}
	wg.Wait()
	p.finish(sum.users, sum.failedUsers)
	switch {
	case ctx.Err() != nil:
		return sum, ctx.Err()
	case feedErr != nil:
		return sum, fmt.Errorf("reading the users: %w", feedErr)
	case reportErr != nil:
		return sum, fmt.Errorf("writing the report: %w", reportErr)
	}
	return sum, nil
}

// shardKey is what --shard hashes: the canonical id from --users, the
// source's vendor id with --all (known before any link lookup, and the same
// in every run).
func (m *migration) shardKey(u migrateUser) string {
	if u.listed {
		return m.from + "/" + u.VendorIDs[m.from]
	}
	return u.ID
}

// progress draws the bar on a terminal or prints a line every `every`
// users otherwise. Its caller serialises the calls.
type progress struct {
	w     io.Writer
	every int
	bar   bool
	total int // -1: unknown yet (a vendor list still paging)
	start time.Time
	last  int       // done at the last line printed
	drawn time.Time // when the bar was last drawn
}

func (p *progress) setTotal(total, done, failed int) {
	if p.total == total {
		return
	}
	p.total = total
	if p.w != nil && p.bar {
		p.draw(done, failed)
	}
}

func (p *progress) report(done, failed int) {
	if p.w == nil || p.every <= 0 {
		return
	}
	switch {
	case p.bar:
		// Redrawn at most ten times a second: a fast run would otherwise
		// spend its time writing to the terminal.
		if done == p.total || time.Since(p.drawn) >= 100*time.Millisecond {
			p.draw(done, failed)
		}
	case done%p.every == 0 || done == p.total:
		p.draw(done, failed)
	}
}

// finish ends the bar's line, or prints the last count if no line showed
// it yet.
func (p *progress) finish(done, failed int) {
	switch {
	case p.w == nil || p.every <= 0:
	case p.bar:
		if p.last != done {
			p.draw(done, failed)
		}
		fmt.Fprintln(p.w)
	case p.last != done:
		p.draw(done, failed)
	}
}

func (p *progress) draw(done, failed int) {
	el := time.Since(p.start)
	rate := float64(done) / max(el.Seconds(), 1e-9)
	eta := "?"
	of := "?"
	if p.total >= 0 {
		of = strconv.Itoa(p.total)
		eta = (time.Duration(float64(p.total-done)/max(rate, 1e-9)) * time.Second).Round(time.Second).String()
	}
	p.last, p.drawn = done, time.Now()
	if !p.bar {
		fmt.Fprintf(p.w, "migrate: %d/%s users, %.1f users/s, ETA %s, %d failed\n", done, of, rate, eta, failed)
		return
	}
	// A terminal: one line redrawn in place.
	const width = 30
	filled := 0
	if p.total > 0 {
		filled = min(width, width*done/p.total)
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%s  %.1f users/s  ETA %s  %d failed ", strings.Repeat("#", filled),
		strings.Repeat(".", width-filled), done, of, rate, eta, failed)
}

// copyPlan is what a run copies: writes, the fields a destination takes
// (within --fields); reads, the source fields it asks for, which are those
// and e-mail and username: no destination may write them, but one with no
// link resolves its account by them (vendors.<name>.resolve), and the
// dispatcher skips them at every target (on_unsupported: skip). Asking
// only for these lets an adapter whose read takes several calls skip the
// ones no destination needs (Akana's user call, for names).
type copyPlan struct {
	writes map[canonical.Field]bool
	reads  []canonical.Field // never nil: nil asks for everything
}

func (m *migration) copyPlan() copyPlan {
	supported := map[canonical.Field]bool{}
	for _, t := range m.to {
		for f, s := range m.d.Capabilities()[t].Fields {
			if s.Supported {
				supported[f] = true
			}
		}
	}
	p := copyPlan{writes: map[canonical.Field]bool{}, reads: []canonical.Field{}}
	for _, f := range copyable {
		if m.fields != nil && !slices.Contains(m.fields, f) {
			continue
		}
		if supported[f] {
			p.writes[f] = true
		}
		if supported[f] || f == canonical.FieldEmail || f == canonical.FieldUsername {
			p.reads = append(p.reads, f)
		}
	}
	return p
}

// one migrates one user: read the source, copy what the destinations
// take, write through the dispatcher under a key derived from the run id
// and the user (a re-run replays it), then link the accounts.
//
// stop is the run's cancellation: ctx itself is not cancelled by it, so a
// user already started finishes.
func (m *migration) one(ctx context.Context, stop <-chan struct{}, u migrateUser, plan copyPlan) migrateLine {
	if u.listed {
		if err := m.resolveListed(ctx, &u); err != nil {
			return migrateLine{ID: m.from + "-" + u.VendorIDs[m.from], Status: "failed", Reason: err.Error()}
		}
	}
	l := migrateLine{ID: u.ID}
	if err := canonical.CheckID("id", u.ID); err != nil {
		l.Status, l.Reason = "failed", "invalid id: "+err.Error()
		return l
	}
	ctx = upstream.WithBulk(ctx)
	rd, err := m.d.Read(ctx, dispatch.ReadInput{Client: "migrate", UserID: u.ID, Targets: []string{m.from}, VendorIDs: u.VendorIDs, NoETag: true,
		Fields: plan.reads})
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
	for _, f := range plan.reads {
		v, ok := src.Snapshot.Fields[f]
		if !ok {
			continue
		}
		if s, isStr := v.Value.(string); isStr && s == "" {
			continue
		}
		if plan.writes[f] {
			l.Fields = append(l.Fields, f)
		}
		user[string(f)] = v.Value
	}
	if len(l.Fields) == 0 {
		l.Status, l.Reason = "skipped", "nothing to copy: the source holds none of the fields the destinations take"
		return l
	}
	body := map[string]any{"targets": m.to, "on_unsupported": "skip", "user": user}
	if ids := destIDs(u.VendorIDs, m.to); len(ids) > 0 {
		body["vendor_ids"] = ids
	}
	raw, _ := json.Marshal(body)
	req, err := decode.Request(raw, u.ID)
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
	if m.audit != nil && !m.dry {
		// As the API refuses an update it could not record, a user is not
		// written while the trail cannot take its record.
		if err := m.audit.Ready(ctx); err != nil {
			l.Status, l.Reason = "failed", string(canonical.CodeAuditUnavailable)+": the audit trail cannot record changes now; nothing was written"
			return l
		}
	}
	out, err := m.apply(ctx, stop, in)
	if err != nil {
		e := canonical.AsError(err)
		l.Status, l.Reason = "failed", string(e.Code)+": "+e.Message
		return l
	}
	l.Replayed = out.Replayed
	// A fresh run hands back the result itself; only a replay (a resumed
	// run's done users) has just the stored body to decode.
	res := out.Result
	if res == nil {
		res = new(result.Result)
		if err := json.Unmarshal(out.Body, res); err != nil {
			l.Status, l.Reason = "failed", "unreadable result"
			return l
		}
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
		if r.Status == result.StatusApplied && r.VendorID != "" {
			applied[t] = r.VendorID
		}
	}
	if m.audit != nil && !m.dry && !out.Replayed {
		m.record(ctx, in, src.VendorID, res, out.Status)
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

// record appends the audit record of one written user: what the API
// records for an update, under the run's own action, with the run id, the
// source and the user's id there.
func (m *migration) record(ctx context.Context, in dispatch.Input, sourceID string, res *result.Result, httpStatus int) {
	r := audit.Record{Action: audit.ActionMigrationItem, User: in.Request.UserID, Client: "migrate", AuthMethod: "cli",
		Status: string(res.Status), HTTPStatus: httpStatus, IdempotencyKey: in.Key, TraceID: res.TraceID,
		Detail: map[string]string{"run_id": m.runID, "from": m.from, "from_vendor_id": sourceID}}
	r.Fields, r.Values = audit.Changes(in.Request, m.values)
	r.Targets = make(map[string]audit.TargetOutcome, len(res.Results))
	for name, tr := range res.Results {
		o := audit.TargetOutcome{VendorID: tr.VendorID, Status: string(tr.Status)}
		if tr.Error != nil {
			o.Code = string(tr.Error.Code)
		}
		r.Targets[name] = o
	}
	m.audit.Record(context.WithoutCancel(ctx), r)
}

// apply writes in through the dispatcher. A key still claimed by an
// earlier run that was killed mid-user is in progress until its claim
// expires (idempotency.lock_ttl): the user is not failed but waited for, up
// to m.inProgressWait, and then verified and finished as the dispatcher
// finishes any interrupted key (the Verifier reads the vendor first, so
// nothing is written twice).
func (m *migration) apply(ctx context.Context, stop <-chan struct{}, in dispatch.Input) (dispatch.Output, error) {
	deadline := time.Now().Add(m.inProgressWait)
	for {
		out, err := m.d.Apply(ctx, in)
		e := canonical.AsError(err)
		if err == nil || e.Code != canonical.CodeIdempotencyInProgress || time.Now().After(deadline) {
			return out, err
		}
		t := time.NewTimer(max(e.RetryAfter, 100*time.Millisecond))
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return out, err
		}
	}
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

// maxReasons bounds the distinct failure reasons a tally counts; the rest
// are counted together, so a run whose every failure says something
// different still keeps a small summary.
const maxReasons = 100

// otherReasons is the bucket past maxReasons.
const otherReasons = "(other reasons)"

type tallyRow struct{ applied, planned, skipped, failed, replayed int }

// tally is a run's summary: per-target counters and the failure reasons,
// built as users finish.
type tally struct {
	to                 []string
	rows               map[string]*tallyRow
	reasons            map[string]int
	users, failedUsers int
}

func newTally(to []string) *tally {
	t := &tally{to: to, rows: map[string]*tallyRow{}, reasons: map[string]int{}}
	for _, n := range to {
		t.rows[n] = &tallyRow{}
	}
	return t
}

func (t *tally) reason(r string) {
	if _, ok := t.reasons[r]; !ok && len(t.reasons) >= maxReasons {
		r = otherReasons
	}
	t.reasons[r]++
}

// add counts one finished user.
func (t *tally) add(l migrateLine) {
	t.users++
	if l.Status == "failed" || l.Status == "partial" {
		t.failedUsers++
	}
	if len(l.Targets) == 0 {
		for _, n := range t.to {
			if l.Status == "skipped" {
				t.rows[n].skipped++
			} else {
				t.rows[n].failed++
			}
		}
		if l.Reason != "" {
			t.reason(l.Reason)
		}
		return
	}
	for n, o := range l.Targets {
		r := t.rows[n]
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
			t.reason(n + ": " + o.Code)
		}
	}
}

// failed reports whether any user failed (wholly or at some target).
func (t *tally) failed() bool { return t.failedUsers > 0 }

// write prints the per-target table (applied, planned, skipped, failed,
// replayed) and the five most frequent failure reasons.
func (t *tally) write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tAPPLIED\tPLANNED\tSKIPPED\tFAILED\tREPLAYED")
	for _, n := range t.to {
		r := t.rows[n]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", n, r.applied, r.planned, r.skipped, r.failed, r.replayed)
	}
	_ = tw.Flush()
	if len(t.reasons) == 0 {
		return
	}
	type kv struct {
		k string
		n int
	}
	var top []kv
	for k, n := range t.reasons {
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

// fileSource streams --users: one JSON object per line, read as the run
// takes them.
func fileSource(path string) source {
	return func(_ context.Context, each func(migrateUser) error) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return scanUsers(f, each)
	}
}

// scanUsers decodes --users lines into each, naming the first bad line.
func scanUsers(r io.Reader, each func(migrateUser) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var u migrateUser
		if err := json.Unmarshal(line, &u); err != nil || u.ID == "" {
			return fmt.Errorf("--users line %d: want {\"id\": ..., \"vendor_ids\": {...}}", n)
		}
		if err := each(u); err != nil {
			return err
		}
	}
	return sc.Err()
}

// countShard counts the users of src in shard i of n, checking every line
// before anything is written, so a bad line fails the run up front and the
// progress has a total from the start.
func countShard(ctx context.Context, src source, key func(migrateUser) string, i, n int) (int, error) {
	c := 0
	err := src(ctx, func(u migrateUser) error {
		if inShard(key(u), i, n) {
			c++
		}
		return nil
	})
	return c, err
}

// listSource enumerates the source vendor's users (--all). A listed user
// already linked keeps its canonical id; one not linked gets
// "<source>-<vendor id>", so every run of the same source names it the
// same way and a resume replays it under the same key.
func listSource(d *dispatch.Dispatcher, from string) source {
	return func(ctx context.Context, each func(migrateUser) error) error {
		return d.List(upstream.WithBulk(ctx), from, func(l adapters.Listed) error {
			return each(migrateUser{VendorIDs: map[string]string{from: l.VendorID}, listed: true})
		})
	}
}

// resolveListed gives a listed user its canonical id (see listSource).
func (m *migration) resolveListed(ctx context.Context, u *migrateUser) error {
	vid := u.VendorIDs[m.from]
	id, _, ok, err := m.d.Links().Reverse(ctx, m.from, vid)
	if err != nil {
		return fmt.Errorf("link store: %w", err)
	}
	if !ok {
		id = m.from + "-" + vid
	}
	u.ID = id
	return nil
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

const migrateUsage = "usage: gateway migrate --config FILE --from SOURCE --to T1,T2 (--users users.jsonl | --all) [--fields f1,f2] [--dry-run] [--run-id ID] [--shard i/N] [--concurrency N] [--report out.jsonl] [--progress-every N]"

// cmdMigrate copies users from one target to others, in-process.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	path := fs.String("config", "gateway.yaml", "the gateway config (vendors, idempotency store, links)")
	from := fs.String("from", "", "the source target")
	to := fs.String("to", "", "comma-separated destination targets")
	usersPath := fs.String("users", "", "JSONL of users: {\"id\": ..., \"vendor_ids\": {target: id}}")
	all := fs.Bool("all", false, "migrate every user the source lists (sources with a list call: frontier, commvault)")
	fields := fs.String("fields", "", "comma-separated canonical fields to copy (default: every field a destination takes)")
	dry := fs.Bool("dry-run", false, "show what would be written; write nothing")
	runID := fs.String("run-id", "", "the run's id: re-running with it resumes (default: derived from --from, --to and --users or --all)")
	shard := fs.String("shard", "", "i/N: take only the i-th of N stable hash shares of the users")
	conc := fs.Int("concurrency", 8, "users in flight at once")
	reportPath := fs.String("report", "", "write the per-user JSONL report here (default: none)")
	every := fs.Int("progress-every", 100, "when stderr is not a terminal, print a progress line every N users")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || (*usersPath == "") == !*all {
		return errors.New(migrateUsage)
	}
	si, sn, err := parseShard(*shard)
	if err != nil {
		return err
	}
	if *conc < 1 || *conc > 1024 {
		return errors.New("--concurrency: must be between 1 and 1024")
	}
	if *every < 1 {
		return errors.New("--progress-every: must be at least 1")
	}
	cfg, err := config.LoadFile(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	if *runID == "" {
		what := fmt.Sprintf("%x", fnvSum(*usersPath))
		if *all {
			what = "all"
		}
		*runID = fmt.Sprintf("%s-%s-%s", *from, strings.ReplaceAll(*to, ",", "+"), what)
	}
	// Every user's key is migrate/<run id>/<user>: a run id the key format
	// refuses would fail every user.
	if len(*runID) > 128 || !idempotency.ValidKey("migrate/"+*runID+"/u") {
		return errors.New("--run-id: must be 1 to 128 visible ASCII characters, no spaces")
	}
	if cfg.Idempotency.Store != "redis" && !*dry {
		fmt.Fprintln(stderr, "migrate: idempotency.store is memory: this run can resume only within this process; use idempotency.store: redis to resume after a kill")
	}
	g, err := build(ctx, cfg, buildOptions{LogOutput: io.Discard, FewCallers: true})
	if err != nil {
		return err
	}
	defer g.Shutdown(context.Background())
	m := &migration{d: g.dispatcher, from: *from, to: strings.Split(*to, ","), dry: *dry, runID: *runID, shard: si, of: sn,
		concurrency: *conc, progress: stderr, progressEvery: *every, bar: isTerminal(stderr),
		inProgressWait: cfg.Idempotency.LockTTL.D() + 5*time.Second, values: audit.ValuePolicy(cfg.Audit.Values)}
	if g.audit != nil {
		m.audit = g.audit
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
	src, total := fileSource(*usersPath), -1
	if *all {
		if !g.dispatcher.CanList(m.from) {
			return fmt.Errorf("--all: %s's adapter cannot list users (its vendor has no list call the gateway uses); pass --users users.jsonl", m.from)
		}
		src = listSource(g.dispatcher, m.from)
	} else if total, err = countShard(ctx, src, m.shardKey, si, sn); err != nil {
		return err
	}
	report := io.Discard
	var bw *bufio.Writer
	if *reportPath != "" {
		rf, err := os.Create(*reportPath)
		if err != nil {
			return err
		}
		defer rf.Close()
		bw = bufio.NewWriter(rf)
		report = bw
	}
	sum, runErr := m.run(ctx, src, total, report)
	if bw != nil {
		if err := bw.Flush(); err != nil && runErr == nil {
			runErr = fmt.Errorf("writing the report: %w", err)
		}
	}
	fmt.Fprintf(stdout, "run %s: %d users in this shard finished\n\n", *runID, sum.users)
	sum.write(stdout)
	switch {
	case runErr != nil && ctx.Err() != nil:
		return fmt.Errorf("migration stopped (%w); run again with --run-id %s to resume", runErr, *runID)
	case runErr != nil:
		return fmt.Errorf("migration stopped: %w; run again with --run-id %s to resume", runErr, *runID)
	case sum.failed():
		return errors.New("some users failed; see the report")
	}
	return nil
}

// isTerminal reports whether w is a terminal (not merely a character
// device: /dev/null is one too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
