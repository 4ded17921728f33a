package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// The SCIM message schemas (RFC 7644 §3.12, §3.4.2, §3.5.2, §3.7).
const (
	SchemaError     = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaList      = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatchOp   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaBulkReq   = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	SchemaBulkResp  = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	SchemaUser      = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaEnterpris = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	// SchemaGateway is this gateway's extension on a User response: the
	// per-target results of the write that produced it.
	SchemaGateway = "urn:identity-gateway:scim:extension:2.0:Result"
)

var knownSchemas = []string{SchemaEnterpris, SchemaUser, SchemaGateway}

// MediaType is the SCIM media type (RFC 7644 §3.1).
const MediaType = "application/scim+json"

// Error is a SCIM error (RFC 7644 §3.12). It is also an error, so handlers
// can return it.
type Error struct {
	Status   int    `json:"-"`
	ScimType string `json:"-"`
	Detail   string `json:"-"`
	// Targets holds per-target results when a fan-out failed.
	Targets map[string]TargetResult `json:"-"`
	// RetryAfter in seconds, 0 for none.
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string { return e.Detail }

func (e *Error) body() map[string]any {
	b := map[string]any{"schemas": []string{SchemaError}, "status": strconv.Itoa(e.Status), "detail": e.Detail}
	if e.ScimType != "" {
		b["scimType"] = e.ScimType
	}
	if e.Targets != nil {
		b[SchemaGateway] = map[string]any{"targets": e.Targets}
	}
	return b
}

func errorf(status int, scimType, detail string) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: detail}
}

// fromCanonical maps a gateway error (authentication, ACL, dispatcher
// refusals) onto a SCIM error.
func fromCanonical(e *canonical.Error) *Error {
	out := &Error{Status: e.Code.HTTPStatus(), Detail: e.Message}
	for _, f := range e.Fields {
		out.Detail += "; " + f.Field + ": " + f.Message
	}
	switch e.Code {
	case canonical.CodeInvalidRequest:
		out.ScimType = "invalidValue"
	case canonical.CodeConflict, canonical.CodeAmbiguousLink:
		out.ScimType = "uniqueness"
	}
	if e.RetryAfter > 0 {
		out.RetryAfter = problem.RetryAfterSeconds(e.RetryAfter)
	}
	return out
}

// WriteError renders err as a SCIM error body. The HTTP layer calls it
// for every error under /scim/v2, its own included (401, 403, 404, 405,
// 413), so an identity provider always gets the SCIM shape.
func WriteError(c *fiber.Ctx, err error) error {
	var e *Error
	switch v := err.(type) {
	case *Error:
		e = v
	case *canonical.Error:
		e = fromCanonical(v)
	case *fiber.Error:
		e = errorf(v.Code, "", v.Message)
	default:
		if ce := canonical.AsError(err); ce.Code != canonical.CodeInternal {
			e = fromCanonical(ce)
		} else {
			e = errorf(http.StatusInternalServerError, "", "internal error")
		}
	}
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(e.RetryAfter))
	}
	b, _ := json.Marshal(e.body())
	c.Set(fiber.HeaderContentType, MediaType)
	return c.Status(e.Status).Send(b)
}

// storeRefusal maps the link store's refusal of a new user. A value the
// store refuses (a userName or externalId too long, or holding a control
// character) is the identity provider's 400, in its own attribute names
// rather than the store's ("vendor id of scim:userName"); anything else,
// such as the store being down, is not the caller's fault and stays an
// error (500), its text kept out of the answer.
func storeRefusal(err error) error {
	if !errors.Is(err, links.ErrInvalid) {
		return fmt.Errorf("scim: store the new user: %w", err)
	}
	reason := strings.TrimPrefix(err.Error(), links.ErrInvalid.Error()+": ")
	reason = strings.ReplaceAll(reason, "vendor id of scim:", "")
	return errorf(400, "invalidValue", "the user cannot be stored: "+reason)
}
