package dispatch

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// CanCreate reports whether target's adapter can create users
// (adapters.Creator).
func (d *Dispatcher) CanCreate(target string) bool {
	t, ok := d.targets[target]
	if !ok {
		return false
	}
	_, ok = t.Adapter.(adapters.Creator)
	return ok
}

// Create makes userID's account at target with the adapter's create call
// (the SCIM front door's POST /Users, for a user no account resolves to),
// through the target's Doer under its deadline, and links the new account
// to userID (source api, client). The new vendor id and the calls made
// come back; a vendor refusal is an error carrying a *canonical.Error.
func (d *Dispatcher) Create(ctx context.Context, client, target, userID string, u canonical.Update) (string, []result.CallSummary, error) {
	t, ok := d.targets[target]
	if !ok {
		return "", nil, fmt.Errorf("dispatch: unknown target %q", target)
	}
	cr, ok := t.Adapter.(adapters.Creator)
	if !ok {
		return "", nil, &canonical.Error{Code: canonical.CodeUnsupportedField, Message: target + "'s API cannot create users"}
	}
	ctx, span := d.o.Tracer.Start(ctx, "create "+target, trace.WithAttributes(attribute.String("gateway.vendor", target)))
	defer span.End()
	cctx, cancel := context.WithTimeout(ctx, t.Deadline)
	defer cancel()
	rec := &recorder{next: t.Doer}
	id, err := cr.Create(cctx, rec, u)
	calls, _ := rec.summary()
	if err != nil {
		e := canonical.AsError(err)
		if e.Code == canonical.CodeInternal && cctx.Err() != nil {
			e = &canonical.Error{Code: canonical.CodeUpstreamTimeout, Message: "the target's deadline passed"}
		}
		span.SetStatus(codes.Error, string(e.Code))
		return "", calls, e
	}
	_, err = d.links.Put(ctx, userID, links.Change{Links: map[string]string{target: id}, Source: links.SourceAPI, Client: client})
	var ce *links.ConflictError
	switch {
	case errors.As(err, &ce):
		return id, calls, &canonical.Error{Code: canonical.CodeConflict, Message: fmt.Sprintf("the new %s account %s is already linked to %q", target, id, ce.Owner)}
	case err != nil:
		return id, calls, &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "the account was created (" + id + "), but the link store is unavailable"}
	}
	d.observeLink(ctx, target, "created")
	return id, calls, nil
}

// CanDelete reports whether target's adapter can delete users
// (adapters.Deleter).
func (d *Dispatcher) CanDelete(target string) bool {
	t, ok := d.targets[target]
	if !ok {
		return false
	}
	_, ok = t.Adapter.(adapters.Deleter)
	return ok
}

// Delete removes userID's account at target permanently with the
// adapter's delete call (SCIM DELETE when config allows hard deletes),
// addressed by the stored link, and then removes the link. An account
// the vendor no longer has counts as deleted.
func (d *Dispatcher) Delete(ctx context.Context, target, userID string) (string, error) {
	t, ok := d.targets[target]
	if !ok {
		return "", fmt.Errorf("dispatch: unknown target %q", target)
	}
	del, ok := t.Adapter.(adapters.Deleter)
	if !ok {
		return "", &canonical.Error{Code: canonical.CodeUnsupportedField, Message: target + "'s API cannot delete users"}
	}
	rec, err := d.links.Get(ctx, userID)
	if err != nil {
		return "", &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "the link store is unavailable"}
	}
	l, ok := rec.Links[target]
	if !ok {
		return "", &canonical.Error{Code: canonical.CodeNotLinked, Message: fmt.Sprintf("%q has no %s account linked", userID, target)}
	}
	ctx, span := d.o.Tracer.Start(ctx, "delete "+target, trace.WithAttributes(attribute.String("gateway.vendor", target)))
	defer span.End()
	dctx, cancel := context.WithTimeout(ctx, t.Deadline)
	defer cancel()
	if err := del.Delete(dctx, &recorder{next: t.Doer}, l.VendorID); err != nil {
		e := canonical.AsError(err)
		if e.Code != canonical.CodeNotFound {
			if e.Code == canonical.CodeInternal && dctx.Err() != nil {
				e = &canonical.Error{Code: canonical.CodeUpstreamTimeout, Message: "the target's deadline passed"}
			}
			span.SetStatus(codes.Error, string(e.Code))
			return l.VendorID, e
		}
	}
	if _, err := d.links.Delete(ctx, userID, target); err != nil {
		return l.VendorID, &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "the account was deleted, but the link store is unavailable"}
	}
	return l.VendorID, nil
}
