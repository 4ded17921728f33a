package httpapi

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// fakeSCIM answers 200 with the caller's name, and renders errors with a
// marker so the test sees they went through WriteError.
type fakeSCIM struct{}

func (fakeSCIM) Routes(r fiber.Router) {
	r.Get("/ServiceProviderConfig", func(c *fiber.Ctx) error {
		who, _ := SCIMCaller(c)
		return c.SendString(who.Name)
	})
}

func (fakeSCIM) WriteError(c *fiber.Ctx, err error) error {
	return c.Status(canonical.AsError(err).Code.HTTPStatus()).JSON(fiber.Map{"scim": true, "status": canonical.AsError(err).Code.HTTPStatus()})
}

// TestSCIMNeedsThePermission: /scim/v2 takes the same bearer keys, needs
// the scim permission, and every error there (401, 403, 404) is rendered
// by the SCIM handler, not as problem+json.
func TestSCIMNeedsThePermission(t *testing.T) {
	_, do := newApp(t, Options{SCIM: fakeSCIM{}, Clients: []Client{
		{Name: "okta", KeyHash: sha256.Sum256([]byte("okta-key")), Permissions: []string{"scim"}},
		{Name: "hr", KeyHash: sha256.Sum256([]byte("hr-key"))},
	}})
	for _, tc := range []struct {
		name, path, key string
		status          int
		body            string
	}{
		{"permitted", "/scim/v2/ServiceProviderConfig", "okta-key", 200, "okta"},
		{"no scim permission", "/scim/v2/ServiceProviderConfig", "hr-key", 403, ""},
		{"no key", "/scim/v2/ServiceProviderConfig", "", 401, ""},
		{"unknown route", "/scim/v2/Groups", "okta-key", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			resp := do(req)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tc.status)
			}
			if tc.body != "" {
				if string(b) != tc.body {
					t.Errorf("body %s, want %s", b, tc.body)
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil || m["scim"] != true {
				t.Errorf("error body %s not rendered by the SCIM handler", b)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}
