package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/decode"
	"github.com/identity-gateway/identity-gateway/internal/sortedkeys"
)

// prepare does every check that needs no vendor call and builds one plan per
// target. Order matters for the status a client sees: 400 (shape), then 403
// (ACL), then 404/409 (addressing: not_linked, ambiguous_link, conflict),
// then 400 (each target's own constraints), then 422 (unsupported).
func (d *Dispatcher) prepare(ctx context.Context, in Input) ([]plan, map[string][]canonical.Field, error) {
	req := &in.Request // read only: a copy was 488 bytes moved per update
	names := req.Targets
	if len(names) == 0 {
		names = d.o.DefaultTargets
	}
	if len(names) == 0 {
		return nil, nil, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "no targets named and no default targets configured",
			Fields: []canonical.FieldError{{Field: "targets", Message: "is required"}}}
	}
	var fe canonical.FieldErrors
	for i, n := range names {
		if _, ok := d.targets[n]; !ok {
			if s := decode.Suggest(n, d.names); s != "" {
				fe.Add(fmt.Sprintf("targets[%d]", i), "unknown target %q; did you mean %s?", n, s)
			} else {
				fe.Add(fmt.Sprintf("targets[%d]", i), "unknown target %q (configured: %v)", n, d.names)
			}
		}
	}
	for _, n := range sortedkeys.Of(req.VendorIDs) {
		if _, ok := d.targets[n]; !ok {
			fe.Add("vendor_ids."+n, "unknown target%s", didYouMean(n, d.names))
		}
	}
	for _, n := range sortedkeys.Of(req.Extensions) {
		if !slices.Contains(names, n) {
			fe.Add("extensions."+n, "extensions for a vendor that is not a target of this request")
		}
	}
	if err := fe.Err("invalid request"); err != nil {
		return nil, nil, err
	}

	// ACL: a target or field the client may not touch is 403, naming it.
	var denied []canonical.FieldError
	if in.AllowedTargets != nil {
		for i, n := range names {
			if !slices.Contains(in.AllowedTargets, n) {
				denied = append(denied, canonical.FieldError{Field: fmt.Sprintf("targets[%d]", i), Target: n, Message: "this client may not write this target"})
			}
		}
	}
	if in.AllowedFields != nil {
		for _, f := range req.User.Fields() {
			if !slices.Contains(in.AllowedFields, string(f)) {
				denied = append(denied, canonical.FieldError{Field: f.Path(), Message: "this client may not change this field"})
			}
		}
		// An extension field is allowed by its full path,
		// extensions.<vendor>.<name>, in the client's fields list.
		for _, vendor := range sortedkeys.Of(req.Extensions) {
			for _, k := range sortedkeys.Of(req.Extensions[vendor]) {
				if p := "extensions." + vendor + "." + k; !slices.Contains(in.AllowedFields, p) {
					denied = append(denied, canonical.FieldError{Field: p, Target: vendor, Message: "this client may not send this extension field"})
				}
			}
		}
	}
	if len(denied) > 0 {
		return nil, nil, &canonical.Error{Code: canonical.CodeForbidden, Message: "the client is not allowed to make this change", Fields: denied}
	}

	addrs, err := d.address(ctx, in, names)
	if err != nil {
		return nil, nil, err
	}
	var (
		// A plan holds a whole Update: sized once, not grown per target.
		plans       = make([]plan, 0, len(names))
		unsupported []canonical.FieldError
		skipped     = map[string][]canonical.Field{}
		refuse      = req.OnUnsupported != canonical.PolicySkip // unsupported fields fail the update
	)
	for i, n := range names {
		t := d.targets[n]
		caps := t.caps
		op := adapters.Op{UserID: addrs[i].id, PassThrough: in.PassThrough[n]}
		if ext := req.Extensions[n]; len(ext) > 0 {
			op.Extensions = make(map[string]json.RawMessage, len(ext))
			for _, k := range sortedkeys.Of(ext) {
				if !caps.AllowsExtension(k) {
					fe.Add("extensions."+n+"."+k, "not an allowed extension field for %s (allowed: %v)%s", n, caps.Extensions, didYouMean(k, caps.Extensions))
					continue
				}
				op.Extensions[k] = ext[k]
			}
		}
		uns := caps.Unsupported(&req.User)
		op.Update = req.User.Without(fieldsOf(uns)...)
		if pf, ok := t.Adapter.(adapters.Preflighter); ok {
			vals, err := pf.Preflight(op)
			if err != nil {
				e := canonical.AsError(err)
				if e.Code != canonical.CodeInvalidRequest || len(e.Fields) == 0 {
					fe = append(fe, canonical.FieldError{Field: "vendor_ids." + n, Target: n, Message: e.Message})
				}
				for _, f := range e.Fields {
					if f.Target == "" {
						f.Target = n
					}
					fe = append(fe, f)
				}
			}
			uns = append(uns, vals...)
			op.Update = op.Update.Without(fieldsOf(vals)...)
		}
		if len(uns) > 0 {
			// Sized once: appended one by one, the list grew (and the map
			// entry was rewritten) per field on every update that skips.
			fs := make([]canonical.Field, 0, len(uns))
			for _, u := range uns {
				if refuse {
					// Built only for the refusal: with on_unsupported: skip
					// it was built and dropped.
					unsupported = append(unsupported, canonical.FieldError{Field: u.Field.Path(), Target: n, Message: u.Reason})
				}
				if !slices.Contains(fs, u.Field) {
					fs = append(fs, u.Field)
				}
			}
			slices.SortFunc(fs, func(a, b canonical.Field) int { return fieldIndex(a) - fieldIndex(b) })
			skipped[n] = fs
		}
		plans = append(plans, plan{target: t, op: op, skip: op.Update.IsEmpty() && len(op.Extensions) == 0, addr: addrs[i]})
	}
	if err := fe.Err("the request cannot be applied to its targets"); err != nil {
		return nil, nil, err
	}
	if len(unsupported) > 0 {
		return nil, nil, &canonical.Error{Code: canonical.CodeUnsupportedField,
			Message: "some targets cannot take some fields; nothing was written (send on_unsupported: skip to write the rest)", Fields: unsupported}
	}
	return plans, skipped, nil
}

// didYouMean is "; did you mean <nearest>?" when a candidate is close to
// name, else "". Only error paths call it.
func didYouMean(name string, candidates []string) string {
	if s := decode.Suggest(name, candidates); s != "" {
		return "; did you mean " + s + "?"
	}
	return ""
}

func fieldsOf(us []canonical.Unsupported) []canonical.Field {
	out := make([]canonical.Field, len(us))
	for i, u := range us {
		out[i] = u.Field
	}
	return out
}

func fieldIndex(f canonical.Field) int {
	return slices.Index(canonical.AllFields(), f)
}
