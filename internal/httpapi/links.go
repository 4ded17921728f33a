package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// linkRoutes adds the identity-link API under the links permission:
//
//	GET    /v1/users/{id}/links           the id's links and attributes
//	PUT    /v1/users/{id}/links           set one or more links (all or none)
//	DELETE /v1/users/{id}/links/{target}  remove one link
//	GET    /v1/links?target=T&vendor_id=V which canonical id owns an account
func (s *server) linkRoutes(v1 fiber.Router, rateLimit fiber.Handler) {
	h := []fiber.Handler{strictQuery, s.linksAllowed}
	if rateLimit != nil {
		h = []fiber.Handler{strictQuery, rateLimit, s.linksAllowed}
	}
	v1.Get("/users/:id/links", append(h, s.getLinks)...)
	v1.Put("/users/:id/links", append(h, s.putLinks)...)
	v1.Delete("/users/:id/links/:target", append(h, s.deleteLink)...)
	v1.Get("/links", append(h, s.reverseLink)...)
}

func (s *server) linksAllowed(c *fiber.Ctx) error {
	cl, _ := c.Locals(clientKey).(*Client)
	if cl == nil {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "not authenticated"}
	}
	if !hasPermission(cl, "links") {
		return &canonical.Error{Code: canonical.CodeForbidden, Message: "this client may not use the links API (it needs the links permission)"}
	}
	return c.Next()
}

// pathID reads and checks the {id} segment.
func pathID(c *fiber.Ctx) (string, error) {
	id := strings.Clone(c.Params("id"))
	if err := canonical.CheckID("id", id); err != nil {
		return "", err
	}
	return id, nil
}

// mayWrite applies the client's target ACL to link changes: a client links
// only accounts at targets it may write.
func mayWrite(c *fiber.Ctx, field, target string) error {
	cl, _ := c.Locals(clientKey).(*Client)
	if cl != nil && cl.Targets != nil && !slices.Contains(cl.Targets, target) {
		return &canonical.Error{Code: canonical.CodeForbidden, Message: "the client is not allowed to make this change",
			Fields: []canonical.FieldError{{Field: field, Target: target, Message: "this client may not write this target"}}}
	}
	return nil
}

func (s *server) getLinks(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	r, err := s.o.Dispatcher.Links().Get(c.UserContext(), id)
	if err != nil {
		return s.linkStoreError(c, err)
	}
	return c.JSON(r)
}

// linksBody is PUT /v1/users/{id}/links.
type linksBody struct {
	Links map[string]string `json:"links"`
	// Source is api (default) or migration; config and resolved links are
	// made by the gateway itself.
	Source     string            `json:"source"`
	Attributes *links.Attributes `json:"attributes"`
}

func (s *server) putLinks(c *fiber.Ctx) error {
	if err := checkJSON(c.Get(fiber.HeaderContentType)); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in linksBody
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "the body must be one JSON object {links, source, attributes}",
			Fields: []canonical.FieldError{{Field: bodyField, Message: jsonProblem(err)}}}
	}
	var fe canonical.FieldErrors
	src := links.Source(in.Source)
	switch src {
	case "":
		src = links.SourceAPI
	case links.SourceAPI, links.SourceMigration:
	default:
		fe.Add("source", "must be api or migration")
	}
	var attrs links.Attributes
	if in.Attributes != nil {
		attrs = *in.Attributes
		if len(attrs.Email) > links.MaxIDLength || len(attrs.Username) > links.MaxIDLength {
			fe.Add("attributes", "values must be at most %d bytes", links.MaxIDLength)
		}
	}
	if len(in.Links) == 0 && attrs.IsZero() {
		fe.Add("links", "name at least one target (or set attributes)")
	}
	targets := make([]string, 0, len(in.Links))
	for t := range in.Links {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		field := "links." + t
		if !slices.Contains(s.o.Dispatcher.Targets(), t) {
			fe.Add(field, "unknown target (configured: %v)", s.o.Dispatcher.Targets())
			continue
		}
		if err := canonical.CheckID(field, in.Links[t]); err != nil {
			fe = append(fe, canonical.AsError(err).Fields...)
			continue
		}
		if err := s.o.Dispatcher.CheckVendorID(t, in.Links[t]); err != nil {
			fe = append(fe, canonical.FieldError{Field: field, Target: t, Message: err.Error()})
		}
	}
	if err := fe.Err("invalid links"); err != nil {
		return err
	}
	for _, t := range targets {
		if err := mayWrite(c, "links."+t, t); err != nil {
			return err
		}
	}
	cl, _ := c.Locals(clientKey).(*Client)
	if err := s.auditReady(c); err != nil {
		return err
	}
	r, err := s.o.Dispatcher.Links().Put(c.UserContext(), id, links.Change{Links: in.Links, Source: src, Client: cl.Name, Attributes: attrs})
	var ce *links.ConflictError
	switch {
	case errors.As(err, &ce):
		if s.o.LinkObserver != nil {
			s.o.LinkObserver.Link(c.UserContext(), ce.Target, "conflict")
		}
		return &canonical.Error{Code: canonical.CodeConflict, Message: fmt.Sprintf("the %s account is already linked to %q; nothing was changed", ce.Target, ce.Owner),
			Fields: []canonical.FieldError{{Field: "links." + ce.Target, Target: ce.Target, Message: fmt.Sprintf("already linked to %q", ce.Owner)}}}
	case errors.Is(err, links.ErrInvalid):
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: err.Error()}
	case err != nil:
		return s.linkStoreError(c, err)
	}
	outcomes := make(map[string]audit.TargetOutcome, len(targets))
	for _, t := range targets {
		outcomes[t] = audit.TargetOutcome{VendorID: in.Links[t], Status: "linked"}
	}
	s.auditLink(c, cl, audit.ActionLinkCreate, id, outcomes, map[string]string{"source": string(src)})
	return c.JSON(r)
}

// auditLink appends a links-API change to the audit trail (after the change;
// auditReady ran before it).
func (s *server) auditLink(c *fiber.Ctx, cl *Client, action, id string, targets map[string]audit.TargetOutcome, detail map[string]string) {
	if s.o.Audit == nil || cl == nil {
		return
	}
	method, _ := c.Locals(authMethodKey).(string)
	r := audit.Record{Action: action, User: id, Client: cl.Name, AuthMethod: method, Targets: targets, Status: "applied",
		HTTPStatus: c.Response().StatusCode(), Detail: detail}
	if sc := trace.SpanContextFromContext(c.UserContext()); sc.HasTraceID() {
		r.TraceID = sc.TraceID().String()
	}
	s.o.Audit.Record(c.UserContext(), r)
}

func (s *server) deleteLink(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	target := strings.Clone(c.Params("target"))
	if !slices.Contains(s.o.Dispatcher.Targets(), target) {
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "unknown target",
			Fields: []canonical.FieldError{{Field: "target", Message: fmt.Sprintf("unknown target (configured: %v)", s.o.Dispatcher.Targets())}}}
	}
	if err := mayWrite(c, "target", target); err != nil {
		return err
	}
	if err := s.auditReady(c); err != nil {
		return err
	}
	ok, err := s.o.Dispatcher.Links().Delete(c.UserContext(), id, target)
	if err != nil {
		return s.linkStoreError(c, err)
	}
	if !ok {
		return &canonical.Error{Code: canonical.CodeNotLinked, Message: fmt.Sprintf("%q has no %s link", id, target)}
	}
	cl, _ := c.Locals(clientKey).(*Client)
	c.Status(http.StatusNoContent)
	s.auditLink(c, cl, audit.ActionLinkDelete, id, map[string]audit.TargetOutcome{target: {Status: "unlinked"}}, nil)
	return nil
}

// reverseDoc is GET /v1/links.
type reverseDoc struct {
	ID       string     `json:"id"`
	Target   string     `json:"target"`
	VendorID string     `json:"vendor_id"`
	Link     links.Link `json:"link"`
}

func (s *server) reverseLink(c *fiber.Ctx) error {
	target, vid := strings.Clone(c.Query("target")), strings.Clone(c.Query("vendor_id"))
	var fe canonical.FieldErrors
	if !slices.Contains(s.o.Dispatcher.Targets(), target) {
		fe.Add("target", "must name a configured target (%v)", s.o.Dispatcher.Targets())
	}
	if vid == "" || len(vid) > links.MaxIDLength {
		fe.Add("vendor_id", "is required (at most %d bytes)", links.MaxIDLength)
	}
	if err := fe.Err("invalid query"); err != nil {
		return err
	}
	id, l, ok, err := s.o.Dispatcher.Links().Reverse(c.UserContext(), target, vid)
	if err != nil {
		return s.linkStoreError(c, err)
	}
	if !ok {
		return &canonical.Error{Code: canonical.CodeNotLinked, Message: fmt.Sprintf("no canonical id is linked to this %s account", target)}
	}
	return c.JSON(reverseDoc{ID: id, Target: target, VendorID: vid, Link: l})
}

// linkStoreError logs the store's error (which may name hosts) and answers
// a retryable 502 without it.
func (s *server) linkStoreError(c *fiber.Ctx, err error) error {
	s.o.Logger.ErrorContext(c.UserContext(), "links: store unavailable", "err", err)
	return &canonical.Error{Code: canonical.CodeUpstreamUnavailable, Message: "the link store is unavailable", RetryAfter: time.Second}
}

// jsonProblem says what is wrong with a body without echoing it.
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	switch {
	case err == nil:
		return "must hold exactly one JSON object"
	case errors.As(err, &ute):
		return "member " + ute.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "is not valid JSON"
}
