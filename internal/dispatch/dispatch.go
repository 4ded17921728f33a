package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/accountlock"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// Target is one configured vendor target.
type Target struct {
	Name    string
	Adapter adapters.Adapter
	// Doer sends calls to the vendor (the resilience stack).
	Doer adapters.Doer
	// Deadline bounds the whole target: every call and retry.
	Deadline time.Duration
	// PassThroughHeader names the request header carrying a caller's own
	// credential for this vendor; empty when the vendor has none.
	PassThroughHeader string
	// State reports the breaker state for traces; optional.
	State func() string
	// Resolve is how a target with no link is resolved: ResolveOff (or
	// empty), ResolveEmail or ResolveUsername; the adapter must then be an
	// adapters.Resolver.
	Resolve string

	caps adapters.Capabilities // cached at New: capabilities never change
	// spanName names the update's span for this target, made once rather
	// than concatenated on every update.
	spanName string
	took     *expectation // how long its recent runs took; made at New
}

// Observer receives per-target and idempotency outcomes for metrics.
type Observer interface {
	Target(ctx context.Context, vendor, status string, d time.Duration)
	Idempotency(ctx context.Context, outcome string)
}

// Options configures a Dispatcher.
type Options struct {
	// Users maps a canonical user id to its vendor ids (static identity
	// links); it seeds a memory link store when Links is nil.
	Users map[string]map[string]string
	// Links is the identity-link store (see address.go for the rule).
	Links links.Store
	// LinkObserver receives link outcomes for metrics; optional.
	LinkObserver LinkObserver
	// DefaultTargets are used when a request names none.
	DefaultTargets []string
	// Guard is the idempotency guard; nil disables Idempotency-Key handling.
	Guard *idempotency.Guard
	// RequireKey rejects updates without an Idempotency-Key.
	RequireKey bool
	Tracer     trace.Tracer
	Logger     *slog.Logger
	Observer   Observer
	// Locks serialises read-modify-write updates per vendor account (issue
	// 26); nil takes no locks. LockWait bounds the wait for one (default
	// 10s), after which the target fails with account_busy.
	Locks    Locker
	LockWait time.Duration
}

// Dispatcher is safe for concurrent use.
type Dispatcher struct {
	// By pointer: a plan and every lookup would otherwise copy the whole
	// Target, its capabilities included, on every update.
	targets map[string]*Target
	names   []string
	o       Options
	workers *workers
	links   links.Store
}

// New validates the targets and options.
func New(targets []Target, o Options) (*Dispatcher, error) {
	d := &Dispatcher{targets: make(map[string]*Target, len(targets)), o: o, workers: newWorkers(256, 10*time.Second)}
	for _, t := range targets {
		if t.Name == "" || t.Adapter == nil || t.Doer == nil {
			return nil, fmt.Errorf("dispatch: target %q needs a name, an adapter and a doer", t.Name)
		}
		if _, dup := d.targets[t.Name]; dup {
			return nil, fmt.Errorf("dispatch: target %q configured twice", t.Name)
		}
		if t.Deadline <= 0 {
			t.Deadline = 15 * time.Second
		}
		t.caps = t.Adapter.Capabilities()
		t.spanName = "target " + t.Name
		t.took = new(expectation)
		d.targets[t.Name] = &t
		d.names = append(d.names, t.Name)
	}
	sort.Strings(d.names)
	for _, n := range o.DefaultTargets {
		if _, ok := d.targets[n]; !ok {
			return nil, fmt.Errorf("dispatch: default target %q is not configured", n)
		}
	}
	d.links = o.Links
	if d.links == nil {
		m := links.NewMemoryStore(nil)
		if err := links.Seed(context.Background(), m, o.Users); err != nil {
			return nil, fmt.Errorf("dispatch: %w", err)
		}
		d.links = m
	}
	if d.o.Tracer == nil {
		d.o.Tracer = noop.NewTracerProvider().Tracer("dispatch")
	}
	if d.o.Logger == nil {
		d.o.Logger = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

// Links is the identity-link store updates are addressed through.
func (d *Dispatcher) Links() links.Store { return d.links }

// Targets lists the configured target names, sorted.
func (d *Dispatcher) Targets() []string { return slices.Clone(d.names) }

// PassThroughHeaders maps target -> the request header carrying a caller's
// credential, for targets that accept one.
func (d *Dispatcher) PassThroughHeaders() map[string]string {
	out := map[string]string{}
	for n, t := range d.targets {
		if t.PassThroughHeader != "" {
			out[n] = t.PassThroughHeader
		}
	}
	return out
}

// Capabilities is the field-support matrix, one column per target.
func (d *Dispatcher) Capabilities() map[string]adapters.Capabilities {
	out := make(map[string]adapters.Capabilities, len(d.targets))
	for n, t := range d.targets {
		out[n] = t.caps.Complete()
	}
	return out
}

// Input is one update as the HTTP layer hands it over. Every value is owned
// by the Input (nothing points into a reused request buffer).
type Input struct {
	// Client is the authenticated client; it scopes idempotency keys.
	Client string
	// AllowedTargets and AllowedFields are the client's ACL; nil allows all.
	AllowedTargets []string
	AllowedFields  []string
	// Key is the Idempotency-Key, empty when absent.
	Key string
	// Method and Path feed the idempotency fingerprint.
	Method, Path string
	Request      canonical.Request
	DryRun       bool
	// PassThrough holds callers' credentials by target.
	PassThrough map[string]canonical.Secret
	// IfMatch is the If-Match header: the update applies only where every
	// target it writes still reads as the ETag says (read.go).
	IfMatch string
}

// Output is the response to write.
type Output struct {
	Status     int
	RetryAfter time.Duration
	// Body is the JSON result.
	Body []byte
	// Replayed marks a stored response answered again.
	Replayed bool
	// Result is the decoded result (nil on a verbatim replay).
	Result *result.Result
	// Idempotency is the key outcome: none, miss, replay, resume, bypass.
	Idempotency string
}

// plan is one target's share of the update.
type plan struct {
	target *Target
	op     adapters.Op
	skip   bool // nothing left to change after skipping
	addr   address
}

// Apply runs the update. Rejections before any vendor call come back as an
// error carrying a *canonical.Error; vendor outcomes are in the Output.
func (d *Dispatcher) Apply(ctx context.Context, in Input) (Output, error) {
	plans, skipped, err := d.prepare(ctx, in) // plan
	if err != nil {
		return Output{}, err
	}
	ticket, out, done, err := d.begin(ctx, in, plans) // begin (idempotency)
	if done || err != nil {
		return out, err
	}
	res := d.fanOut(ctx, in, plans, skipped, ticket) // fan out
	return d.finish(ctx, res, ticket, out)           // record, finish
}

// begin claims the request's idempotency key (keyed, non-dry requests) and
// checks If-Match. done is true when out is the whole answer: a replay of
// the key's stored result.
func (d *Dispatcher) begin(ctx context.Context, in Input, plans []plan) (ticket *idempotency.Ticket, out Output, done bool, err error) {
	out = Output{Idempotency: "none"}
	if !in.DryRun && d.o.Guard != nil {
		if in.Key == "" && d.o.RequireKey {
			return nil, Output{}, false, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "an Idempotency-Key header is required",
				Fields: []canonical.FieldError{{Field: "Idempotency-Key", Message: "is required"}}}
		}
		if in.Key != "" {
			// The claim records when this run will have finished (its longest
			// target deadline), so a repeat meanwhile is told that, not the
			// lock TTL.
			t, err := d.o.Guard.BeginUntil(ctx, in.Client, in.Key, idempotency.Fingerprint(in.Method, in.Path, in.Request), runUntil(plans))
			if err != nil {
				return nil, Output{}, false, d.idemError(ctx, err)
			}
			if t.Replay != nil {
				d.observe(ctx, "replay")
				return nil, Output{Status: t.Replay.Status, RetryAfter: t.Replay.RetryAfter, Body: t.Replay.Body,
					Replayed: true, Idempotency: "replay"}, true, nil
			}
			ticket = t
			switch {
			case t.Bypass:
				out.Idempotency = "bypass"
			case len(t.Prior) > 0:
				out.Idempotency = "resume"
			default:
				out.Idempotency = "miss"
			}
			d.observe(ctx, out.Idempotency)
		}
	}

	if in.IfMatch != "" {
		prior := func(n string) bool { _, ok := ticket.PriorFor(n); return ok }
		if err := d.checkIfMatch(ctx, in.IfMatch, in.Request.UserID, plans, prior); err != nil {
			if ticket != nil {
				// Nothing was written: the key is free for a retry.
				if aerr := ticket.Abandon(context.WithoutCancel(ctx)); aerr != nil {
					d.o.Logger.WarnContext(ctx, "idempotency: releasing the key failed", "err", aerr)
				}
			}
			return nil, Output{}, false, err
		}
	}
	return ticket, out, false, nil
}

// fanOut runs every plan that is neither skipped nor already applied by an
// earlier run of the key, concurrently, and gathers one result per target.
func (d *Dispatcher) fanOut(ctx context.Context, in Input, plans []plan, skipped map[string][]canonical.Field, ticket *idempotency.Ticket) *result.Result {
	res := &result.Result{ID: in.Request.UserID, DryRun: in.DryRun, Results: make(map[string]result.Target, len(plans)),
		SkippedFields: skipped}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		res.TraceID = sc.TraceID().String()
	}
	// The targets run concurrently, one on this goroutine and the others
	// on workers. This goroutine, already running, takes the target
	// expected to take longest (see expectation): that target's calls are the
	// update's critical path, and a worker may wait for a CPU before its
	// first call. Without estimates the last target runs here.
	running, inline := pick(plans, ticket)
	var (
		mu sync.Mutex
		wg sync.WaitGroup
		// unfinished counts the running targets down as they finish. The
		// last one is recorded by Finish, which follows at once, as a lone
		// target is, instead of by a Save of its own just before it: with
		// the Redis store, one round trip fewer on the critical path.
		unfinished atomic.Int32
	)
	unfinished.Store(int32(running))
	// The workers get a pointer into plans and the flags they need, not
	// copies of a plan and of in: captured, those moved to the heap on
	// every update.
	dry, verify := in.DryRun, ticket != nil && ticket.Uncertain
	work := func(p *plan) {
		tr := d.run(ctx, *p, dry, verify, len(skipped[p.target.Name]))
		if unfinished.Add(-1) > 0 && ticket != nil && tr.Status == result.StatusApplied {
			// Recorded as soon as it applies, so a crash before Finish
			// still never writes this target twice. The last target to
			// finish shares a lone target's window until Finish: a run
			// that dies in it leaves the target unrecorded, and the retry
			// verifies it at the vendor instead of writing it again.
			if err := ticket.Applied(context.WithoutCancel(ctx), p.target.Name, tr); err != nil {
				d.o.Logger.WarnContext(ctx, "idempotency: recording an applied target failed", "target", p.target.Name, "err", err)
			}
		}
		mu.Lock()
		res.Results[p.target.Name] = tr
		mu.Unlock()
	}
	for i := range plans {
		p := &plans[i]
		if ticket != nil && ticket.Prior != nil {
			if prior, ok := ticket.Prior[p.target.Name]; ok {
				prior.Replayed = true
				res.Results[p.target.Name] = prior
				continue
			}
		}
		if p.skip {
			tr := result.Target{Status: result.StatusSkipped, VendorID: p.op.UserID}
			if p.addr.rec != nil {
				tr.Calls, tr.Attempts = p.addr.rec.summary()
			}
			res.Results[p.target.Name] = tr
			continue
		}
		if i == inline {
			continue // after the workers have theirs
		}
		wg.Add(1)
		d.workers.Go(func() {
			defer wg.Done()
			work(p)
		})
	}
	if inline >= 0 {
		work(&plans[inline])
	}
	wg.Wait()

	return res
}

// pick counts the plans that will run (neither recorded by an earlier run
// nor left with nothing to change) and picks the one the fan-out runs on
// its own goroutine: the one expected to take longest, the last of equals;
// -1 when none runs.
func pick(plans []plan, ticket *idempotency.Ticket) (running, inline int) {
	inline, longest := -1, time.Duration(-1)
	for i := range plans {
		p := &plans[i]
		if _, prior := ticket.PriorFor(p.target.Name); prior || p.skip {
			continue
		}
		running++
		if e := p.target.took.expected(); e >= longest {
			inline, longest = i, e
		}
	}
	return running, inline
}

// finish merges the results into the answer and records it under the key.
func (d *Dispatcher) finish(ctx context.Context, res *result.Result, ticket *idempotency.Ticket, out Output) (Output, error) {
	status, retry := res.Finish()
	body, err := res.AppendJSON(nil)
	if err != nil {
		return Output{}, fmt.Errorf("dispatch: encode result: %w", err)
	}
	out.Status, out.RetryAfter, out.Body, out.Result = status, retry, body, res
	if ticket != nil {
		// A fully applied record keeps only its body (Ticket.Finish), so
		// the per-target results are gathered only for one that is not.
		var applied map[string]result.Target
		if !idempotency.FullyApplied(status) {
			applied = make(map[string]result.Target, len(res.Results))
			for n, r := range res.Results {
				if r.Status == result.StatusApplied || r.Status == result.StatusSkipped {
					applied[n] = r
				}
			}
		}
		if err := ticket.Finish(context.WithoutCancel(ctx), status, body, retry, applied); err != nil {
			d.o.Logger.WarnContext(ctx, "idempotency: storing the result failed", "err", err)
		}
	}
	return out, nil
}

// runUntil is when a run of plans will have finished at the latest: its
// targets run concurrently, each within its own deadline.
func runUntil(plans []plan) time.Time {
	var longest time.Duration
	for _, p := range plans {
		longest = max(longest, p.target.Deadline)
	}
	return time.Now().Add(longest)
}

func (d *Dispatcher) observe(ctx context.Context, outcome string) {
	if d.o.Observer != nil {
		d.o.Observer.Idempotency(ctx, outcome)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("gateway.idempotency", outcome))
}

func (d *Dispatcher) idemError(ctx context.Context, err error) error {
	var ip *idempotency.InProgressError
	switch {
	case errors.Is(err, idempotency.ErrInvalidKey):
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "invalid Idempotency-Key",
			Fields: []canonical.FieldError{{Field: "Idempotency-Key", Message: "must be 1 to 255 visible ASCII characters"}}}
	case errors.As(err, &ip):
		d.observe(ctx, "conflict")
		return &canonical.Error{Code: canonical.CodeIdempotencyInProgress, Message: "a request with this Idempotency-Key is in progress",
			RetryAfter: max(ip.RetryAfter, time.Second)}
	case errors.Is(err, idempotency.ErrInProgress):
		d.observe(ctx, "conflict")
		return &canonical.Error{Code: canonical.CodeIdempotencyInProgress, Message: "a request with this Idempotency-Key is in progress", RetryAfter: time.Second}
	case errors.Is(err, idempotency.ErrKeyReused):
		d.observe(ctx, "mismatch")
		return &canonical.Error{Code: canonical.CodeIdempotencyKeyReused, Message: "this Idempotency-Key was used with a different request"}
	case errors.Is(err, idempotency.ErrStoreReset):
		// The store lost its records: a key it no longer knows may have
		// applied already, so nothing keyed runs until the hold ends.
		d.observe(ctx, "unavailable")
		d.o.Logger.ErrorContext(ctx, "idempotency store lost its records; keyed request refused", "err", err)
		retry := time.Second
		var re *idempotency.ResetError
		if errors.As(err, &re) {
			retry = max(time.Until(re.Until), time.Second)
		}
		return &canonical.Error{Code: canonical.CodeIdempotencyUnavailable, RetryAfter: retry,
			Message: "the idempotency store lost its records (Redis restarted without persistence, or was flushed); keyed requests are refused for a while rather than risk writing twice; the update was not applied"}
	default:
		d.observe(ctx, "unavailable")
		d.o.Logger.ErrorContext(ctx, "idempotency store unavailable", "err", err)
		return &canonical.Error{Code: canonical.CodeIdempotencyUnavailable, Message: "the idempotency store is unavailable; the update was not applied",
			RetryAfter: time.Second}
	}
}

// run applies one target under its deadline and turns the outcome into a
// TargetResult.
func (d *Dispatcher) run(ctx context.Context, p plan, dry, verify bool, skippedCount int) result.Target {
	start := time.Now()
	// The span's attributes are set once, at the end: each SetAttributes
	// call grows the span's slice, and every attribute is encoded again in
	// the export. The skipped-field count and the dry-run flag are only set
	// when they say something (not 0, true).
	ctx, span := d.o.Tracer.Start(ctx, p.target.spanName)
	defer span.End()
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, attribute.String("gateway.vendor", p.target.Name), attribute.String("gateway.link_source", p.addr.source))
	if skippedCount > 0 {
		attrs = append(attrs, attribute.Int("gateway.skipped_fields", skippedCount))
	}
	if dry {
		attrs = append(attrs, attribute.Bool("gateway.dry_run", true))
	}
	// The account lock (when the update reads and writes back a whole
	// object) is taken before the deadline starts and released after the
	// last call; dry runs write nothing and take none.
	var (
		held accountlock.Held
		lerr *canonical.Error
	)
	if !dry {
		held, lerr = d.lockAccount(ctx, p)
	}
	if held != nil {
		defer held.Release(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, p.target.Deadline)
	defer cancel()

	rec := p.addr.rec // the resolution's calls come first
	if rec == nil {
		rec = &recorder{next: p.target.Doer, dry: dry}
	}
	var do adapters.Doer = rec
	if held != nil {
		do = lockedDoer{next: rec, held: held}
	}
	if v, ok := p.target.Adapter.(adapters.Verifier); ok && verify && !dry && lerr == nil {
		// An earlier run may have been cut off after the vendor applied this
		// target: read before writing, so a retry never writes it twice.
		if done, err := v.Verify(ctx, do, p.op); err == nil && done {
			took := time.Since(start)
			p.target.took.observe(took)
			tr := result.Target{Status: result.StatusApplied, VendorID: p.op.UserID, Verified: true,
				Applied: p.op.Update.Fields(), DurationMS: took.Milliseconds()}
			tr.Calls, tr.Attempts = rec.summary()
			span.SetAttributes(append(attrs, attribute.String("gateway.outcome", "verified"))...)
			return tr
		}
	}
	var (
		outcome adapters.Outcome
		err     error
	)
	if lerr != nil {
		err = lerr
	} else {
		outcome, err = p.target.Adapter.Apply(ctx, do, p.op)
	}
	tr := result.Target{VendorID: p.op.UserID, DurationMS: time.Since(start).Milliseconds()}
	tr.Calls, tr.Attempts = rec.summary()
	if err != nil {
		e := canonical.AsError(err)
		if e.Code == canonical.CodeInternal && ctx.Err() != nil {
			e = &canonical.Error{Code: canonical.CodeUpstreamTimeout, Message: "the target's deadline passed"}
		}
		if e.Code == canonical.CodeInternal {
			d.o.Logger.ErrorContext(ctx, "adapter failed without an outcome code", "target", p.target.Name, "err", err)
		}
		e = callerRefusal(e, p)
		tr.Status = result.StatusFailed
		tr.Error = result.NewErrorBody(e)
		span.SetStatus(codes.Error, string(e.Code))
		attrs = append(attrs, attribute.String("gateway.error_code", string(e.Code)))
	} else {
		tr.Status = result.StatusApplied
		if dry {
			tr.Status = result.StatusPlanned
		}
		if outcome.VendorID != "" {
			tr.VendorID = outcome.VendorID
		}
		tr.Applied = outcome.Applied
	}
	attrs = append(attrs, attribute.String("gateway.outcome", string(tr.Status)), attribute.Int("gateway.attempts", tr.Attempts))
	if p.target.State != nil {
		attrs = append(attrs, attribute.String("gateway.breaker_state", p.target.State()))
	}
	span.SetAttributes(attrs...)
	took := time.Since(start)
	p.target.took.observe(took)
	if d.o.Observer != nil {
		d.o.Observer.Target(ctx, p.target.Name, string(tr.Status), took)
	}
	return tr
}
