package httpapi

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/httpapi/scim"
)

// SCIMRoutes is the SCIM 2.0 front door (internal/httpapi/scim), mounted under
// /scim/v2 behind authentication and the scim permission. Errors on its
// paths, the gateway's own included, are rendered by WriteError as SCIM
// error bodies.
type SCIMRoutes interface {
	Routes(r fiber.Router)
	WriteError(c *fiber.Ctx, err error) error
}

// SCIMCaller is the authenticated client of a request under /scim/v2 as
// the SCIM handler needs it (name, ACL, authentication method); ok is
// false before authentication. It is scim.Options.Caller, so the wiring
// never handles Fiber types.
func SCIMCaller(c *fiber.Ctx) (scim.Caller, bool) {
	cl, _ := c.Locals(clientKey).(*Client)
	if cl == nil {
		return scim.Caller{}, false
	}
	method, _ := c.Locals(authMethodKey).(string)
	return scim.Caller{Name: cl.Name, AuthMethod: method, AllowedTargets: cl.Targets, AllowedFields: cl.Fields}, true
}

func (s *server) scimAllowed(c *fiber.Ctx) error {
	cl, _ := c.Locals(clientKey).(*Client)
	if cl == nil {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "not authenticated"}
	}
	if !hasPermission(cl, "scim") {
		return &canonical.Error{Code: canonical.CodeForbidden, Message: "this client may not use SCIM (it needs the scim permission)"}
	}
	return c.Next()
}

func (s *server) mountSCIM(app *fiber.App, rateLimit fiber.Handler) {
	h := []fiber.Handler{s.authenticate, s.scimAllowed}
	if rateLimit != nil {
		h = append(h, rateLimit)
	}
	s.o.SCIM.Routes(app.Group("/scim/v2", h...))
}

func isSCIMPath(p string) bool { return p == "/scim/v2" || strings.HasPrefix(p, "/scim/v2/") }
