package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// getUser is GET /v1/users/{id}?targets=a,b&vendor_ids.<target>=<id>: the
// user as every addressed target shows it, the drift between them and the
// ETag for If-Match. Reads go through the dispatcher (breakers, retries,
// deadlines, traces) and are never stored as idempotent responses.
func (s *server) getUser(c *fiber.Ctx) error {
	cl, _ := c.Locals(clientKey).(*Client)
	if cl == nil {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "not authenticated"}
	}
	id := strings.Clone(c.Params("id"))
	in := dispatch.ReadInput{Client: cl.Name, AllowedTargets: cl.Targets, UserID: id}
	var fe canonical.FieldErrors
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		key, val := string(k), string(v)
		switch {
		case key == "targets":
			for _, t := range strings.Split(val, ",") {
				if t = strings.TrimSpace(t); t == "" {
					fe.Add("targets", "must be a comma-separated list of target names")
					continue
				}
				in.Targets = append(in.Targets, t)
			}
		case strings.HasPrefix(key, "vendor_ids."):
			target := strings.TrimPrefix(key, "vendor_ids.")
			if val == "" || target == "" {
				fe.Add(key, "must name a target and a non-empty vendor id")
				return
			}
			if _, dup := in.VendorIDs[target]; dup {
				fe.Add(key, "given twice")
				return
			}
			if in.VendorIDs == nil {
				in.VendorIDs = map[string]string{}
			}
			in.VendorIDs[target] = val
		default:
			if !printableASCII(key) {
				key = "query"
			}
			fe.Add(key, "unknown query parameter (targets and vendor_ids.<target> are accepted)")
		}
	})
	if err := fe.Err("invalid query"); err != nil {
		return err
	}
	// The path id, target names and vendor ids follow the same rules as in
	// an update.
	check := canonical.Request{UserID: id, Targets: in.Targets, VendorIDs: in.VendorIDs, OnUnsupported: canonical.PolicyReject}
	if err := check.Validate(); err != nil {
		e := canonical.AsError(err)
		var bad canonical.FieldErrors
		for _, f := range e.Fields {
			if f.Field != "user" { // a read changes nothing, so "must change a field" does not apply
				bad = append(bad, f)
			}
		}
		if err := bad.Err("invalid request"); err != nil {
			return err
		}
	}
	in.PassThrough = s.passThroughOf(c)
	res, err := s.o.Dispatcher.Read(c.UserContext(), in)
	if err != nil {
		return err
	}
	body, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("httpapi: encode read: %w", err)
	}
	c.Set(fiber.HeaderETag, res.ETag)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(readStatus(res)).Send(body)
}

// readStatus is 200 unless every target failed: then the targets' shared
// error status, else 502, as for an update.
func readStatus(res dispatch.ReadResult) int {
	status := 0
	for _, r := range res.Results {
		if r.Status != dispatch.ReadFailed || r.Error == nil {
			return http.StatusOK
		}
		switch s := r.Error.Code.HTTPStatus(); {
		case status == 0:
			status = s
		case status != s:
			status = http.StatusBadGateway
		}
	}
	if status == 0 {
		return http.StatusOK
	}
	return status
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}
