package scim

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// serviceProviderConfig describes exactly what this endpoint implements
// (RFC 7643 §5): PATCH yes; Bulk with its limits; filter with its maximum;
// no sort, no ETags, no password change through SCIM's own endpoint; bearer
// tokens.
func (h *Handler) serviceProviderConfig(c *fiber.Ctx) error {
	return h.send(c, 200, map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/identity-gateway/identity-gateway#scim-20",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": true, "maxOperations": h.cfg.MaxBulkOperations, "maxPayloadSize": h.bodyLimit},
		"filter":           map[string]any{"supported": true, "maxResults": h.cfg.MaxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": false},
		"authenticationSchemes": []map[string]any{{
			"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
			"description": "A gateway client's API key, or an OIDC access token with the idgw:scim scope, in Authorization: Bearer; the client needs the scim permission.",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": h.base + "/ServiceProviderConfig"},
	})
}

func (h *Handler) resourceTypeUser() map[string]any {
	return map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
		"id":       "User",
		"name":     "User",
		"endpoint": "/Users",
		"schema":   SchemaUser,
		"schemaExtensions": []map[string]any{
			{"schema": SchemaEnterpris, "required": false},
		},
		"meta": map[string]any{"resourceType": "ResourceType", "location": h.base + "/ResourceTypes/User"},
	}
}

func (h *Handler) resourceTypes(c *fiber.Ctx) error {
	return h.send(c, 200, listResponse([]any{h.resourceTypeUser()}, 1, 1))
}

func (h *Handler) resourceType(c *fiber.Ctx) error {
	if c.Params("id") != "User" {
		return errorf(404, "", "no such resource type: only User is served")
	}
	return h.send(c, 200, h.resourceTypeUser())
}

func attr(name, typ string, multi bool, extra map[string]any) map[string]any {
	a := map[string]any{"name": name, "type": typ, "multiValued": multi, "required": false, "caseExact": false,
		"mutability": "readWrite", "returned": "default", "uniqueness": "none"}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

func sub(attrs ...map[string]any) map[string]any { return map[string]any{"subAttributes": attrs} }

// schemas lists the attributes the gateway maps; everything else an
// identity provider sends is accepted and ignored (RFC 7644 §3.3 lets a
// service provider drop attributes it does not support).
func (h *Handler) schemas() []map[string]any {
	user := []map[string]any{
		attr("id", "string", false, map[string]any{"mutability": "readOnly", "returned": "always", "uniqueness": "server", "caseExact": true}),
		attr("externalId", "string", false, map[string]any{"caseExact": true}),
		attr("userName", "string", false, map[string]any{"required": true, "uniqueness": "server"}),
		attr("name", "complex", false, sub(attr("givenName", "string", false, nil), attr("familyName", "string", false, nil), attr("formatted", "string", false, nil))),
		attr("displayName", "string", false, nil),
		attr("emails", "complex", true, sub(attr("value", "string", false, nil), attr("type", "string", false, map[string]any{"canonicalValues": []string{"work", "home", "other"}}), attr("primary", "boolean", false, nil))),
		attr("active", "boolean", false, nil),
		attr("password", "string", false, map[string]any{"mutability": "writeOnly", "returned": "never"}),
	}
	var ent []map[string]any
	for _, m := range h.mappings {
		if m.urn == SchemaEnterpris {
			ent = append(ent, attr(m.attr, "string", false, nil))
		} else if m.urn == "" || m.urn == SchemaUser {
			user = append(user, attr(m.attr, "string", false, nil))
		}
	}
	out := []map[string]any{{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
		"id":      SchemaUser, "name": "User", "description": "User Account", "attributes": user,
		"meta": map[string]any{"resourceType": "Schema", "location": h.base + "/Schemas/" + SchemaUser},
	}}
	if ent != nil {
		out = append(out, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
			"id":      SchemaEnterpris, "name": "EnterpriseUser", "description": "Enterprise User (the attributes scim.attributes maps)", "attributes": ent,
			"meta": map[string]any{"resourceType": "Schema", "location": h.base + "/Schemas/" + SchemaEnterpris},
		})
	}
	return out
}

func (h *Handler) schemaList(c *fiber.Ctx) error {
	s := h.schemas()
	items := make([]any, len(s))
	for i := range s {
		items[i] = s[i]
	}
	return h.send(c, 200, listResponse(items, len(items), 1))
}

func (h *Handler) schemaByID(c *fiber.Ctx) error {
	id := c.Params("id")
	for _, s := range h.schemas() {
		if strings.EqualFold(s["id"].(string), id) {
			return h.send(c, 200, s)
		}
	}
	return errorf(404, "", "no such schema")
}

func listResponse(items []any, total, start int) map[string]any {
	if items == nil {
		items = []any{}
	}
	return map[string]any{"schemas": []string{SchemaList}, "totalResults": total, "startIndex": start,
		"itemsPerPage": len(items), "Resources": items}
}
