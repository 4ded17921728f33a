package httpapi

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// AuditTrail is the audit trail as the HTTP API uses it (audit.Trail).
type AuditTrail interface {
	audit.Recorder
	Queryable() bool
	Query(ctx context.Context, q audit.Query) (audit.Page, error)
}

// auditReady fails fast, before anything is written, when the trail could
// not record the change.
func (s *server) auditReady(c *fiber.Ctx) error {
	if s.o.Audit == nil {
		return nil
	}
	if err := s.o.Audit.Ready(c.UserContext()); err != nil {
		return &canonical.Error{Code: canonical.CodeAuditUnavailable, Message: "the audit trail cannot record changes now; nothing was written",
			RetryAfter: 5 * time.Second}
	}
	return nil
}

// auditWrite appends the outcome of an update or dry run. A verbatim replay
// wrote nothing and is not recorded again.
func (s *server) auditWrite(c *fiber.Ctx, cl *Client, in dispatch.Input, out *dispatch.Output) {
	method, _ := c.Locals(authMethodKey).(string)
	s.auditRecord(c.UserContext(), method, cl, in, out)
}

// auditRecord is auditWrite without the request (a batch item runs after
// its handler returned).
func (s *server) auditRecord(ctx context.Context, method string, cl *Client, in dispatch.Input, out *dispatch.Output) {
	if s.o.Audit == nil || out.Replayed || out.Result == nil {
		return
	}
	r := audit.Record{
		Action: audit.ActionUserUpdate, User: in.Request.UserID, Client: cl.Name, AuthMethod: method,
		Status: string(out.Result.Status), HTTPStatus: out.Status, DryRun: in.DryRun, IdempotencyKey: in.Key,
		TraceID: out.Result.TraceID,
	}
	if in.DryRun {
		r.Action = audit.ActionUserDryRun
	}
	if r.TraceID == "" {
		r.TraceID = traceIDOf(ctx)
	}
	r.Fields, r.Values = audit.Changes(in.Request, s.o.AuditValues)
	if len(out.Result.Results) > 0 {
		r.Targets = make(map[string]audit.TargetOutcome, len(out.Result.Results))
		for name, tr := range out.Result.Results {
			o := audit.TargetOutcome{VendorID: tr.VendorID, Status: string(tr.Status)}
			if tr.Error != nil {
				o.Code = string(tr.Error.Code)
			}
			r.Targets[name] = o
		}
	}
	s.o.Audit.Record(ctx, r)
}

// getAudit is GET /v1/audit?user=&client=&since=&until=&limit=&cursor=.
func (s *server) getAudit(c *fiber.Ctx) error {
	cl, _ := c.Locals(clientKey).(*Client)
	if !hasPermission(cl, "audit") {
		return &canonical.Error{Code: canonical.CodeForbidden, Message: "this client lacks the audit permission (clients[].permissions: [audit], or the idgw:audit scope)"}
	}
	args := c.Request().URI().QueryArgs()
	q := audit.Query{User: string(args.Peek("user")), Client: string(args.Peek("client")), Cursor: string(args.Peek("cursor"))}
	var fe canonical.FieldErrors
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v := args.Peek(name); len(v) > 0 {
			t, err := time.Parse(time.RFC3339, string(v))
			if err != nil {
				fe.Add(name, "must be an RFC 3339 time like 2026-12-01T00:00:00Z")
				continue
			}
			*dst = t
		}
	}
	if v := args.Peek("limit"); args.Has("limit") {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > audit.MaxLimit {
			fe.Add("limit", "must be an integer from 1 to %d", audit.MaxLimit)
		}
		q.Limit = n
	}
	if len(fe) == 0 && !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		fe.Add("since", "must be before until")
	}
	if len(fe) > 0 {
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "invalid audit query", Fields: fe}
	}
	p, err := s.o.Audit.Query(c.UserContext(), q)
	if errors.Is(err, audit.ErrBadCursor) {
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "invalid audit query",
			Fields: []canonical.FieldError{{Field: "cursor", Message: "is not a cursor this API returned"}}}
	}
	if err != nil {
		s.o.Logger.ErrorContext(c.UserContext(), "audit query failed", "err", err)
		return &canonical.Error{Code: canonical.CodeAuditUnavailable, Message: "the audit trail cannot be read now", RetryAfter: 5 * time.Second}
	}
	return c.JSON(p)
}
