package scim

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// heldPaths are the SCIM User attributes the gateway keeps with the
// identity link (links.Record.Held), because neither Frontier nor
// Commvault holds them: without them a GET would not answer what the
// POST or PUT before it answered (Okta's SCIM 2.0 test reads name back).
// Three of them map onto canonical fields: a target that holds such a
// field wins on reads, and the kept value fills in only where none does.
// Secrets (password) are never kept.
var heldPaths = []string{
	"name.formatted", "name.familyName", "name.givenName", "name.middleName",
	"name.honorificPrefix", "name.honorificSuffix",
	"displayName", "nickName", "title", "userType",
	"preferredLanguage", "locale", "timezone", "profileUrl",
}

// heldCanonical names the held paths that are canonical fields too.
var heldCanonical = map[string]canonical.Field{
	"name.givenName":  canonical.FieldGivenName,
	"name.familyName": canonical.FieldFamilyName,
	"displayName":     canonical.FieldDisplayName,
}

// heldFormat versions the stored object, so a later gateway can read
// what an earlier one wrote.
const heldFormat = 1

type heldDoc struct {
	V     int               `json:"v"`
	Attrs map[string]string `json:"attrs"`
}

// encodeHeld is the links.Change.Held value for attrs: an empty object
// clears what is kept.
func encodeHeld(attrs map[string]string) json.RawMessage {
	if len(attrs) == 0 {
		return json.RawMessage(`{}`)
	}
	b, _ := json.Marshal(heldDoc{V: heldFormat, Attrs: attrs}) // strings only: cannot fail
	return b
}

// decodeHeld reads a stored object; one it cannot read (a newer format)
// is ignored rather than served wrong.
func decodeHeld(raw json.RawMessage) map[string]string {
	if raw == nil {
		return nil
	}
	var d heldDoc
	if json.Unmarshal(raw, &d) != nil || d.V != heldFormat {
		return nil
	}
	return d.Attrs
}

// sameHeld reports whether the stored object already holds attrs.
func sameHeld(raw json.RawMessage, attrs map[string]string) bool {
	have := decodeHeld(raw)
	if len(have) == 0 && len(attrs) == 0 {
		return true
	}
	return maps.Equal(have, attrs)
}

// heldByMapping reports whether scim.attributes maps the core attribute
// path, which then is not held (the mapping decides where it goes).
func (h *Handler) heldByMapping(path string) bool {
	return slices.ContainsFunc(h.mappings, func(m mapping) bool {
		return (m.urn == "" || m.urn == SchemaUser) && strings.EqualFold(m.attr, path)
	})
}

// parseHeld reads the held attributes of a request document.
func (h *Handler) parseHeld(doc map[string]any) (map[string]string, *Error) {
	out := map[string]string{}
	for _, p := range heldPaths {
		if h.heldByMapping(p) {
			continue
		}
		v, ok := getPath(doc, "", p)
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, errorf(400, "invalidValue", p+" must be a string")
		}
		if s != "" {
			out[p] = s
		}
	}
	if n := len(encodeHeld(out)); n > links.MaxHeldBytes {
		// Refused here, naming the attributes, rather than by the link
		// store after the targets were written.
		return nil, errorf(400, "invalidValue", fmt.Sprintf("the attributes the gateway keeps (%s) take %d bytes, more than %d", strings.Join(heldPaths, ", "), n, links.MaxHeldBytes))
	}
	return out, nil
}

// renderHeld adds the held attributes the document does not have yet (a
// target's value, rendered before, wins).
func renderHeld(doc map[string]any, attrs map[string]string) {
	for _, p := range heldPaths {
		v, ok := attrs[p]
		if !ok {
			continue
		}
		top, subAttr, dotted := strings.Cut(p, ".")
		if !dotted {
			if _, has := doc[top]; !has {
				doc[top] = v
			}
			continue
		}
		inner, _ := doc[top].(map[string]any)
		if inner == nil {
			inner = map[string]any{}
			doc[top] = inner
		}
		if _, has := inner[subAttr]; !has {
			inner[subAttr] = v
		}
	}
}

// heldAsPrev is cur with the held values of canonical fields no target
// showed filled in, as the "before" of a write: a PATCH or PUT that
// leaves a kept name as it is does not report it skipped again at every
// target that cannot hold it, while a changed one still is.
func heldAsPrev(cur state) state {
	out := cur
	out.Fields = maps.Clone(cur.Fields)
	if out.Fields == nil {
		out.Fields = map[canonical.Field]any{}
	}
	for p, f := range heldCanonical {
		if _, ok := out.Fields[f]; ok {
			continue
		}
		if v, ok := cur.Held[p]; ok {
			out.Fields[f] = v
		}
	}
	return out
}
