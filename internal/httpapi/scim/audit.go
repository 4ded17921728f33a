package scim

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/audit"
)

// auditActions names each SCIM write in the audit trail.
var auditActions = map[string]string{"POST": "scim.create", "PUT": "scim.replace", "PATCH": "scim.patch", "DELETE": "scim.delete"}

// auditReady fails a write before anything is written when the trail
// could not record it, as PATCH /v1/users/{id} does.
func (h *Handler) auditReady(ctx context.Context) error {
	if h.audit == nil {
		return nil
	}
	if err := h.audit.Ready(ctx); err != nil {
		return &Error{Status: 503, Detail: "the audit trail cannot record changes now; nothing was written", RetryAfter: 5}
	}
	return nil
}

// record appends one SCIM write: the fields applied anywhere, the values
// the policy keeps (never a password), and every target's outcome.
func (h *Handler) record(ctx context.Context, cl Caller, method, id string, want state, results map[string]TargetResult, err error) {
	if h.audit == nil {
		return
	}
	if err == nil && !slices.ContainsFunc(slices.Collect(maps.Values(results)), func(tr TargetResult) bool { return tr.Status != "unchanged" && tr.Status != "skipped" }) {
		// Nothing was written (a resend, or a change no target takes):
		// like an idempotent replay, it is not recorded again.
		return
	}
	r := audit.Record{Action: auditActions[method], User: id, Client: cl.Name, AuthMethod: cl.AuthMethod,
		Status: "applied", HTTPStatus: map[string]int{"POST": 201, "DELETE": 204}[method], Targets: map[string]audit.TargetOutcome{}}
	if r.HTTPStatus == 0 {
		r.HTTPStatus = 200
	}
	var se *Error
	if errors.As(err, &se) {
		r.Status, r.HTTPStatus = "failed", se.Status
	}
	for t, tr := range results {
		o := audit.TargetOutcome{VendorID: tr.VendorID, Status: tr.Status}
		if tr.Error != nil {
			o.Code = string(tr.Error.Code)
			if r.Status == "applied" {
				r.Status = "partial"
			}
		}
		r.Targets[t] = o
		for _, f := range tr.Applied {
			if !slices.Contains(r.Fields, string(f)) {
				r.Fields = append(r.Fields, string(f))
			}
		}
	}
	slices.Sort(r.Fields)
	values := map[string]string{}
	for _, f := range r.Fields {
		switch v := want.Fields[canonical.Field(f)].(type) {
		case string:
			if pv, ok := h.auditValues.Value(v); ok {
				values[f] = pv
			}
		case bool:
			values[f] = strconv.FormatBool(v)
		}
	}
	if len(values) > 0 {
		r.Values = values
	}
	h.audit.Record(ctx, r)
}
