package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// LinkObserver receives identity-link outcomes for metrics: per target,
// request, hit, resolved, miss, ambiguous, conflict or error.
type LinkObserver interface {
	Link(ctx context.Context, target, outcome string)
}

// The resolve settings of a target.
const (
	ResolveOff      = "off"
	ResolveEmail    = adapters.ResolveByEmail
	ResolveUsername = adapters.ResolveByUsername
)

// address is how one target's vendor id was found.
type address struct {
	id string
	// source is "request" (vendor_ids), a stored link's source (config,
	// api, resolved, migration), or "resolved" for a fresh resolution.
	source string
	// rec holds the resolution's calls, which the target's result lists
	// before its own; nil when nothing was resolved.
	rec *recorder
}

// SourceRequest is the link source of an id given in the request's vendor_ids.
const SourceRequest = "request"

// Address is the one addressing rule, applied to every target of every
// update, in this order:
//
//  1. the request's vendor_ids.<target>;
//  2. the stored link of the path id at the target (links.Store);
//  3. resolution: when the target has resolve: email|username and its
//     adapter is a Resolver, the vendor is searched by the attribute (the
//     one remembered for the id, else the request's user.email or
//     user.username); exactly one match is stored as a link (source
//     resolved; not in a dry run) and used.
//
// A target none of these addresses fails the whole update before any write:
// 404 not_linked (no match, or nothing to resolve by), 409 ambiguous_link
// (several matches, their ids listed) or 409 conflict (the match is linked
// to another canonical id), each naming its target. Ids found here are then
// checked for their vendor's shape by Preflight, as given ids always were.
//
// The addresses come back in names' order: a slice of a few 40-byte
// entries where a map took a 456-byte table per update.
func (d *Dispatcher) address(ctx context.Context, in Input, names []string) ([]address, error) {
	req := &in.Request // read only
	out := make([]address, len(names))
	var (
		rec     *stored
		fails   []canonical.FieldError
		codes   []canonical.Code
		storeUp = true
	)
	fail := func(target string, code canonical.Code, msg string) {
		fails = append(fails, canonical.FieldError{Field: "vendor_ids." + target, Target: target, Message: msg})
		codes = append(codes, code)
	}
	for i, n := range names {
		if id, ok := req.VendorIDs[n]; ok {
			out[i] = address{id: id, source: SourceRequest}
			d.observeLink(ctx, n, "request")
			continue
		}
		if rec == nil && storeUp {
			r, err := d.stored(ctx, req.UserID, names, req.VendorIDs)
			if err != nil {
				d.o.Logger.ErrorContext(ctx, "links: store unavailable", "err", err)
				storeUp = false
			} else {
				rec = r
			}
		}
		if !storeUp {
			d.observeLink(ctx, n, "error")
			fail(n, canonical.CodeUpstreamUnavailable, "the link store is unavailable, and the request names no vendor_ids."+n)
			continue
		}
		if l, ok := rec.link(n); ok {
			out[i] = address{id: l.VendorID, source: string(l.Source)}
			d.observeLink(ctx, n, "hit")
			continue
		}
		a, code, msg := d.resolve(ctx, in, n, rec.attrs)
		if code != "" {
			fail(n, code, msg)
			continue
		}
		out[i] = a
	}
	if len(fails) == 0 {
		return out, nil
	}
	return nil, &canonical.Error{Code: addressCode(codes), RetryAfter: retryFor(codes),
		Message: "some targets cannot be addressed; nothing was written", Fields: fails}
}

// stored is what address reads of the path id's link record: its links
// at the targets the request names no vendor id for, and its attributes
// (resolution's fallback).
type stored struct {
	links []namedLink
	attrs links.Attributes
}

type namedLink struct {
	target string
	link   links.Link
}

func (s *stored) link(target string) (links.Link, bool) {
	for _, l := range s.links {
		if l.target == target {
			return l.link, true
		}
	}
	return links.Link{}, false
}

// stored reads id's links at the names given no vendor id in ids, and its
// attributes.
func (d *Dispatcher) stored(ctx context.Context, id string, names []string, ids map[string]string) (*stored, error) {
	s := &stored{}
	pick := func(r *links.Record) {
		s.attrs = r.Attributes
		for _, n := range names {
			if _, given := ids[n]; given {
				continue
			}
			if l, ok := r.Links[n]; ok {
				s.links = append(s.links, namedLink{target: n, link: l})
			}
		}
	}
	// The memory store shows its record without copying it: Get copies the
	// whole record, its map and held value, so a caller cannot change the
	// store's, which on every update cost more than the few links read out
	// of it. Only the store itself: a type wrapping it may have replaced
	// Get (a test's failing store does), and View would go around that.
	if m, ok := d.links.(*links.MemoryStore); ok {
		return s, m.View(ctx, id, pick)
	}
	r, err := d.links.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	pick(&r)
	return s, nil
}

// addressCode picks one status for several targets' failures: a vendor or
// store failure first (retrying may help), then conflict, ambiguous_link,
// not_linked.
func addressCode(codes []canonical.Code) canonical.Code {
	for _, c := range codes {
		switch c {
		case canonical.CodeNotLinked, canonical.CodeAmbiguousLink, canonical.CodeConflict:
		default:
			return c
		}
	}
	for _, want := range []canonical.Code{canonical.CodeConflict, canonical.CodeAmbiguousLink} {
		if slices.Contains(codes, want) {
			return want
		}
	}
	return canonical.CodeNotLinked
}

func retryFor(codes []canonical.Code) time.Duration {
	switch addressCode(codes) {
	case canonical.CodeUpstreamUnavailable, canonical.CodeCircuitOpen, canonical.CodeUpstreamTimeout, canonical.CodeRateLimited:
		return time.Second
	}
	return 0
}

// resolve is step 3 of the rule for one target with no link.
func (d *Dispatcher) resolve(ctx context.Context, in Input, n string, attrs links.Attributes) (address, canonical.Code, string) {
	t := d.targets[n]
	uid := in.Request.UserID
	notLinked := fmt.Sprintf("%q is not linked to any %s account (no vendor_ids.%s, no stored link", uid, n, n)
	resolver, ok := t.Adapter.(adapters.Resolver)
	if t.Resolve == "" || t.Resolve == ResolveOff || !ok {
		d.observeLink(ctx, n, "miss")
		return address{}, canonical.CodeNotLinked, notLinked + ", and resolution is off for this target)"
	}
	by := t.Resolve
	value := attrs.Get(by)
	if value == "" {
		value = requestAttribute(in.Request.User, by)
	}
	if value == "" {
		d.observeLink(ctx, n, "miss")
		return address{}, canonical.CodeNotLinked, notLinked + fmt.Sprintf(", and no %s to resolve by: send user.%s or link it)", by, by)
	}
	rctx, cancel := context.WithTimeout(adapters.WithPassThrough(ctx, in.PassThrough[n]), t.Deadline)
	defer cancel()
	r := &recorder{next: t.Doer, dry: in.DryRun}
	ids, err := resolver.Resolve(rctx, r, by, value)
	if err != nil {
		e := canonical.AsError(err)
		if e.Code == canonical.CodeInternal && rctx.Err() != nil {
			e = &canonical.Error{Code: canonical.CodeUpstreamTimeout, Message: "the target's deadline passed"}
		}
		d.observeLink(ctx, n, "error")
		return address{}, e.Code, "resolving the account by " + by + " failed: " + e.Message
	}
	switch len(ids) {
	case 0:
		d.observeLink(ctx, n, "miss")
		return address{}, canonical.CodeNotLinked, notLinked + fmt.Sprintf(", and no %s account has this %s)", n, by)
	case 1:
	default:
		d.observeLink(ctx, n, "ambiguous")
		return address{}, canonical.CodeAmbiguousLink, fmt.Sprintf("%d %s accounts have this %s: %s; link one with PUT /v1/users/%s/links",
			len(ids), n, by, strings.Join(ids, ", "), uid)
	}
	if !in.DryRun {
		attrs := links.Attributes{}
		switch by {
		case ResolveEmail:
			attrs.Email = value
		case ResolveUsername:
			attrs.Username = value
		}
		_, err := d.links.Put(ctx, uid, links.Change{Links: map[string]string{n: ids[0]}, Source: links.SourceResolved, Client: in.Client, Attributes: attrs})
		var ce *links.ConflictError
		switch {
		case errors.As(err, &ce):
			d.observeLink(ctx, n, "conflict")
			return address{}, canonical.CodeConflict, fmt.Sprintf("the %s account %s found by %s is already linked to %q", n, ids[0], by, ce.Owner)
		case err != nil:
			d.o.Logger.ErrorContext(ctx, "links: storing a resolved link failed", "target", n, "err", err)
			d.observeLink(ctx, n, "error")
			return address{}, canonical.CodeUpstreamUnavailable, "the account was found, but the link store is unavailable"
		}
	}
	d.observeLink(ctx, n, "resolved")
	return address{id: ids[0], source: string(links.SourceResolved), rec: r}, "", ""
}

func requestAttribute(u canonical.Update, by string) string {
	switch by {
	case ResolveEmail:
		if u.Email.Set {
			return u.Email.V
		}
	case ResolveUsername:
		if u.Username.Set {
			return u.Username.V
		}
	}
	return ""
}

func (d *Dispatcher) observeLink(ctx context.Context, target, outcome string) {
	if d.o.LinkObserver != nil {
		d.o.LinkObserver.Link(ctx, target, outcome)
	}
}

// CheckVendorID checks id's shape for target the way an update would
// (the adapter's Preflight), for the links API: nil when it is fine, else
// the adapter's message. An unknown target is an error too.
func (d *Dispatcher) CheckVendorID(target, id string) error {
	t, ok := d.targets[target]
	if !ok {
		return fmt.Errorf("unknown target %q (configured: %v)", target, d.names)
	}
	pf, ok := t.Adapter.(adapters.Preflighter)
	if !ok {
		return nil
	}
	_, err := pf.Preflight(adapters.Op{UserID: id})
	if err == nil {
		return nil
	}
	for _, f := range canonical.AsError(err).Fields {
		if f.Field == "vendor_ids."+target {
			return errors.New(f.Message)
		}
	}
	return nil
}
