package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/sortedkeys"
)

// ReadInput is one GET /v1/users/{id} as the HTTP layer hands it over.
type ReadInput struct {
	// Client is the authenticated client; AllowedTargets its target ACL
	// (nil allows all).
	Client         string
	AllowedTargets []string
	// UserID is the canonical id ({id} in the path).
	UserID string
	// Targets to read; empty means the default targets (else every
	// configured one) that the client may read.
	Targets []string
	// VendorIDs maps a target to the user's id there, as in an update.
	VendorIDs map[string]string
	// PassThrough holds callers' credentials by target.
	PassThrough map[string]canonical.Secret
	// Fields are the fields the caller will use (nil: all): adapters may
	// skip vendor calls that read none of them (adapters.Op.Fields).
	Fields []canonical.Field
	// NoETag leaves ReadResult.ETag empty: a reader that copies the
	// snapshot (gateway migrate) never writes it back with If-Match.
	NoETag bool
}

// ReadStatus is one target's read outcome.
type ReadStatus string

// Read outcomes.
const (
	// ReadOK: the vendor showed the user; the snapshot holds it.
	ReadOK ReadStatus = "ok"
	// ReadNotFound: the vendor's own "no such user" signal (Frontier's also
	// covers disabled users: its GET hides them).
	ReadNotFound ReadStatus = "not_found"
	// ReadNotLinked: no vendor id is known for the user at this target (no
	// vendor_ids, no static link, and the canonical id is not one).
	ReadNotLinked ReadStatus = "not_linked"
	// ReadFailed: the read failed; the error says why.
	ReadFailed ReadStatus = "failed"
)

// TargetRead is one target's view of the user.
type TargetRead struct {
	Status     ReadStatus           `json:"status"`
	VendorID   string               `json:"vendor_id,omitempty"`
	Snapshot   *adapters.Snapshot   `json:"snapshot,omitempty"`
	Error      *result.ErrorBody    `json:"error,omitempty"`
	Attempts   int                  `json:"attempts"`
	DurationMS int64                `json:"duration_ms"`
	Calls      []result.CallSummary `json:"calls,omitempty"`
}

// DriftField is one canonical field whose normalised values differ between
// the targets that read it.
type DriftField struct {
	Field canonical.Field `json:"field"`
	// Values maps each target that read the field to its normalised value.
	Values map[string]any `json:"values"`
}

// ReadResult is the response body of GET /v1/users/{id}.
type ReadResult struct {
	ID string `json:"id"`
	// Consistent is true when no field drifts.
	Consistent bool                  `json:"consistent"`
	Drift      []DriftField          `json:"drift"`
	Results    map[string]TargetRead `json:"results"`
	// ETag is the canonical user's entity tag (also sent as the ETag
	// header), for If-Match on PATCH.
	ETag    string `json:"etag"`
	TraceID string `json:"trace_id,omitempty"`
}

// DriftObserver is implemented by an Observer that counts drifting fields
// (gateway_drift_fields_total).
type DriftObserver interface {
	Drift(ctx context.Context, field, targets string)
}

// Read reads the user at every addressed target concurrently, through each
// target's Doer (the same breaker, retries and deadline as writes) and
// traced the same way, and reports per-target views, drift and the ETag.
// A read is never stored as an idempotent response. Rejections before any
// vendor call (unknown targets, the client's ACL) come back as an error.
func (d *Dispatcher) Read(ctx context.Context, in ReadInput) (ReadResult, error) {
	names, err := d.readTargets(in)
	if err != nil {
		return ReadResult{}, err
	}
	res := ReadResult{ID: in.UserID, Results: make(map[string]TargetRead, len(names)), Drift: []DriftField{}}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		res.TraceID = sc.TraceID().String()
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for i, n := range names {
		if i == len(names)-1 {
			// The last target (or the only one) is read on this
			// goroutine, which would otherwise only wait, as fanOut does.
			tr := d.readOne(ctx, in, n)
			mu.Lock()
			res.Results[n] = tr
			mu.Unlock()
			break
		}
		wg.Add(1)
		d.workers.Go(func() {
			defer wg.Done()
			tr := d.readOne(ctx, in, n)
			mu.Lock()
			res.Results[n] = tr
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Drift = drift(names, res.Results)
	res.Consistent = len(res.Drift) == 0
	if !in.NoETag {
		res.ETag = etag(names, res.Results)
	}
	obs, _ := d.o.Observer.(DriftObserver)
	for _, df := range res.Drift {
		if obs != nil {
			obs.Drift(ctx, string(df.Field), strings.Join(sortedkeys.Of(df.Values), ","))
		}
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("gateway.drift_fields", len(res.Drift)))
	return res, nil
}

// readTargets checks the named targets and the client's ACL. Unnamed, the
// targets are the defaults (else all) the client may read.
func (d *Dispatcher) readTargets(in ReadInput) ([]string, error) {
	var fe canonical.FieldErrors
	for i, n := range in.Targets {
		if _, ok := d.targets[n]; !ok {
			fe.Add(fmt.Sprintf("targets[%d]", i), "unknown target %q (configured: %v)", n, d.names)
		}
	}
	for _, n := range sortedkeys.Of(in.VendorIDs) {
		if _, ok := d.targets[n]; !ok {
			fe.Add("vendor_ids."+n, "unknown target")
		}
	}
	if err := fe.Err("invalid request"); err != nil {
		return nil, err
	}
	names := slices.Clone(in.Targets)
	if len(names) > 0 {
		var denied []canonical.FieldError
		for i, n := range names {
			if in.AllowedTargets != nil && !slices.Contains(in.AllowedTargets, n) {
				denied = append(denied, canonical.FieldError{Field: fmt.Sprintf("targets[%d]", i), Target: n, Message: "this client may not read this target"})
			}
		}
		if len(denied) > 0 {
			return nil, &canonical.Error{Code: canonical.CodeForbidden, Message: "the client is not allowed to read these targets", Fields: denied}
		}
	} else {
		from := d.o.DefaultTargets
		if len(from) == 0 {
			from = d.names
		}
		for _, n := range from {
			if in.AllowedTargets == nil || slices.Contains(in.AllowedTargets, n) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, &canonical.Error{Code: canonical.CodeForbidden, Message: "the client may read none of the default targets"}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// readOne reads one target under its deadline, in its own span. The vendor
// id comes from the same addressing rule as updates (vendor_ids, the stored
// link, then resolution by the id's remembered attributes), so reads and
// writes address the same vendor user; a target it cannot address is
// not_linked (or failed, for an ambiguous match or a store outage).
func (d *Dispatcher) readOne(ctx context.Context, in ReadInput, name string) TargetRead {
	t := d.targets[name]
	addrs, err := d.address(ctx, Input{Client: in.Client, Request: canonical.Request{UserID: in.UserID, VendorIDs: in.VendorIDs},
		PassThrough: in.PassThrough}, []string{name})
	if err != nil {
		e := canonical.AsError(err)
		if e.Code == canonical.CodeNotLinked {
			msg := e.Message
			if len(e.Fields) > 0 {
				msg = e.Fields[0].Message
			}
			return TargetRead{Status: ReadNotLinked, Error: &result.ErrorBody{Code: canonical.CodeNotLinked, Message: msg}}
		}
		return TargetRead{Status: ReadFailed, Error: result.NewErrorBody(e)}
	}
	op := adapters.Op{UserID: addrs[0].id, PassThrough: in.PassThrough[name], Fields: in.Fields}
	if pf, ok := t.Adapter.(adapters.Preflighter); ok {
		// Only the id's shape and the credential are checked: the op
		// carries no update.
		if _, err := pf.Preflight(op); err != nil {
			return TargetRead{Status: ReadFailed, VendorID: op.UserID, Error: result.NewErrorBody(canonical.AsError(err))}
		}
	}
	return d.read(ctx, t, op)
}

// namesVendorID reports whether a Preflight error is about the vendor id.
func namesVendorID(e *canonical.Error) bool {
	for _, f := range e.Fields {
		if strings.HasPrefix(f.Field, "vendor_ids.") {
			return true
		}
	}
	return false
}

// read runs the adapter's Read through the target's Doer.
func (d *Dispatcher) read(ctx context.Context, t *Target, op adapters.Op) TargetRead {
	start := time.Now()
	ctx, span := d.o.Tracer.Start(ctx, "read "+t.Name, trace.WithAttributes(attribute.String("gateway.vendor", t.Name)))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, t.Deadline)
	defer cancel()
	tr := TargetRead{VendorID: op.UserID}
	r, ok := t.Adapter.(adapters.Reader)
	if !ok {
		tr.Status = ReadFailed
		tr.Error = &result.ErrorBody{Code: canonical.CodeUnsupportedField, Message: t.Name + "'s adapter cannot read users"}
		return tr
	}
	rec := &recorder{next: t.Doer}
	snap, err := r.Read(ctx, rec, op)
	tr.Calls, tr.Attempts = rec.summary()
	tr.DurationMS = time.Since(start).Milliseconds()
	switch {
	case err == nil:
		delete(snap.Fields, canonical.FieldPassword) // never, whatever an adapter returns
		if snap.Fields == nil {
			snap.Fields = map[canonical.Field]adapters.Value{}
		}
		tr.Status = ReadOK
		if snap.VendorID != "" {
			tr.VendorID = snap.VendorID
		}
		tr.Snapshot = &snap
	default:
		e := canonical.AsError(err)
		if e.Code == canonical.CodeInternal && ctx.Err() != nil {
			e = &canonical.Error{Code: canonical.CodeUpstreamTimeout, Message: "the target's deadline passed"}
		}
		tr.Status = ReadFailed
		if e.Code == canonical.CodeNotFound {
			tr.Status = ReadNotFound
		} else {
			span.SetStatus(codes.Error, string(e.Code))
			span.SetAttributes(attribute.String("gateway.error_code", string(e.Code)))
		}
		tr.Error = result.NewErrorBody(e)
	}
	attrs := []attribute.KeyValue{attribute.String("gateway.outcome", string(tr.Status)), attribute.Int("gateway.attempts", tr.Attempts)}
	if t.State != nil {
		attrs = append(attrs, attribute.String("gateway.breaker_state", t.State()))
	}
	span.SetAttributes(attrs...)
	return tr
}

// drift lists, in canonical field order, every field whose normalised
// values differ between the targets that read it.
func drift(names []string, results map[string]TargetRead) []DriftField {
	out := []DriftField{}
	if len(names) < 2 {
		return out // drift is between targets
	}
	for _, f := range canonical.AllFields() {
		vals := map[string]any{}
		distinct := map[string]bool{}
		for _, n := range names {
			r := results[n]
			if r.Status != ReadOK || r.Snapshot == nil {
				continue
			}
			v, ok := r.Snapshot.Fields[f]
			if !ok {
				continue
			}
			nv := Normalize(f, v.Value)
			b, _ := json.Marshal(nv)
			vals[n] = nv
			distinct[string(b)] = true
		}
		if len(distinct) > 1 {
			out = append(out, DriftField{Field: f, Values: vals})
		}
	}
	return out
}

// Normalize is the form values are compared in: e-mail addresses trimmed
// and lower-cased, names and other strings trimmed, notifications and
// groups as sorted sets (groups and plans by lower-cased name, #id when
// nameless), avatars by their SHA-256, metadata as plain JSON.
func Normalize(f canonical.Field, v any) any {
	switch x := v.(type) {
	case string:
		if f == canonical.FieldEmail {
			return strings.ToLower(strings.TrimSpace(x))
		}
		return strings.TrimSpace(x)
	case []string:
		out := slices.Clone(x)
		slices.Sort(out)
		return slices.Compact(out)
	case []adapters.RefValue:
		out := make([]string, 0, len(x))
		for _, r := range x {
			out = append(out, refKey(r))
		}
		slices.Sort(out)
		return slices.Compact(out)
	case adapters.RefValue:
		return refKey(x)
	case adapters.AvatarValue:
		return x.SHA256
	case canonical.Metadata:
		var out any
		b, _ := json.Marshal(x)
		_ = json.Unmarshal(b, &out)
		return out
	}
	return v
}

func refKey(r adapters.RefValue) string {
	if r.Name != "" {
		return strings.ToLower(strings.TrimSpace(r.Name))
	}
	if r.ID != nil {
		return fmt.Sprintf("#%d", *r.ID)
	}
	return ""
}

// targetDigest is what a target contributes to the ETag: its read status
// and, when read, every field's value as the vendor showed it (not
// normalised: a change of letter case is a change). Call logs, timings,
// `from` annotations and vendor versions are left out: Frontier's
// updated_at moves on every PUT, even one that changed nothing.
func targetDigest(r TargetRead) string {
	h := sha256.New()
	h.Write([]byte(r.Status))
	if r.Snapshot != nil {
		vals := make(map[canonical.Field]any, len(r.Snapshot.Fields))
		for f, v := range r.Snapshot.Fields {
			vals[f] = []any{v.Value, v.Unmapped}
		}
		b, _ := json.Marshal(vals) // map keys are sorted: the encoding is stable
		h.Write([]byte{0})
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// etagPrefix versions the ETag's layout.
const etagPrefix = "u1"

// etag is the canonical user's entity tag over the addressed targets:
// "u1~<target>=<digest>~..." in target order, quoted. It names each target
// so a failed If-Match can say which targets changed.
func etag(names []string, results map[string]TargetRead) string {
	var b strings.Builder
	b.WriteString(`"` + etagPrefix)
	for _, n := range names {
		b.WriteString("~" + n + "=" + targetDigest(results[n]))
	}
	b.WriteString(`"`)
	return b.String()
}

// parseETag reads an ETag of etag's form (W/ weak tags are refused: If-Match
// compares strongly); ok is false for anything else.
func parseETag(s string) (map[string]string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, false
	}
	parts := strings.Split(s[1:len(s)-1], "~")
	if parts[0] != etagPrefix {
		return nil, false
	}
	out := make(map[string]string, len(parts)-1)
	for _, p := range parts[1:] {
		n, dg, ok := strings.Cut(p, "=")
		if !ok || n == "" || dg == "" {
			return nil, false
		}
		out[n] = dg
	}
	return out, true
}

// checkIfMatch reads every target the update will write (not those a
// resumed run already applied) and compares each with the caller's ETag,
// before anything is written. A target the ETag does not cover counts as
// changed. Vendors offer no compare-and-swap: a write by someone else
// between this read and the write is not detected.
func (d *Dispatcher) checkIfMatch(ctx context.Context, ifMatch string, userID string, plans []plan, prior func(string) bool) error {
	if strings.TrimSpace(ifMatch) == "*" {
		return nil
	}
	// If-Match may list several tags.
	var tags []map[string]string
	for _, s := range splitTags(ifMatch) {
		if m, ok := parseETag(s); ok {
			tags = append(tags, m)
		}
	}
	var check []plan
	for _, p := range plans {
		if !p.skip && !prior(p.target.Name) {
			check = append(check, p)
		}
	}
	reads := make([]TargetRead, len(check))
	var wg sync.WaitGroup
	for i, p := range check {
		wg.Add(1)
		d.workers.Go(func() {
			defer wg.Done()
			reads[i] = d.read(ctx, p.target, adapters.Op{UserID: p.op.UserID, PassThrough: p.op.PassThrough})
		})
	}
	wg.Wait()
	for i, p := range check {
		if r := reads[i]; r.Status == ReadFailed {
			return &canonical.Error{Code: r.Error.Code, Message: "If-Match could not be checked at " + p.target.Name + ": " + r.Error.Message + "; nothing was written",
				VendorStatus: r.Error.VendorStatus, RetryAfter: time.Duration(r.Error.RetryAfter) * time.Second}
		}
	}
	// The update applies when one listed tag matches at every target; when
	// none does, the tag closest to matching names the targets that changed.
	var changed []canonical.FieldError
	for j, m := range append(tags, map[string]string{}) {
		var diff []canonical.FieldError
		for i, p := range check {
			switch got := m[p.target.Name]; {
			case got == "":
				diff = append(diff, canonical.FieldError{Field: "If-Match", Target: p.target.Name,
					Message: "not covered by the ETag (GET the user with this target among targets)"})
			case got != targetDigest(reads[i]):
				diff = append(diff, canonical.FieldError{Field: "If-Match", Target: p.target.Name, Message: "changed since the ETag was issued"})
			}
		}
		if len(diff) == 0 && j < len(tags) {
			return nil
		}
		if changed == nil || len(diff) < len(changed) {
			changed = diff
		}
	}
	if len(changed) > 0 {
		var ts []string
		for _, c := range changed {
			ts = append(ts, c.Target)
		}
		return &canonical.Error{Code: canonical.CodePreconditionFailed,
			Message: fmt.Sprintf("user %s changed at %s since the ETag was issued; nothing was written", userID, strings.Join(ts, ", ")), Fields: changed}
	}
	return nil
}

// splitTags splits an If-Match list on commas outside quotes.
func splitTags(s string) []string {
	var out []string
	in, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			in = !in
		case ',':
			if !in {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}
