package scim

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// state is a SCIM user as canonical values: what an identity provider
// wants, or what the targets hold.
type state struct {
	ExternalID string
	// Fields holds the default-mapped fields: strings, and a bool for
	// enabled.
	Fields map[canonical.Field]any
	// Meta holds mapped metadata keys; Ext mapped extension fields by
	// vendor.
	Meta map[string]any
	Ext  map[string]map[string]any
	// Password is write-only: set only when the request carries one.
	Password string
	// Held holds the attributes the gateway keeps itself (see heldPaths),
	// by SCIM path; nil in a state that says nothing about them.
	Held map[string]string
}

func (s state) userName() string { v, _ := s.Fields[canonical.FieldUsername].(string); return v }
func (s state) email() string    { v, _ := s.Fields[canonical.FieldEmail].(string); return v }

// lookup finds a member of a JSON object case-insensitively (SCIM
// attribute names are case-insensitive, RFC 7643 §2.1).
func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func lookupKey(m map[string]any, key string) string {
	if _, ok := m[key]; ok {
		return key
	}
	for k := range m {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return key
}

// boolValue reads a SCIM boolean; Entra sends "True" and "False" strings.
func boolValue(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		switch strings.ToLower(b) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func stringValue(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case json.Number:
		return s.String(), true
	case bool:
		return fmt.Sprint(s), true
	case map[string]any: // a complex value such as manager: its value
		if inner, ok := lookup(s, "value"); ok {
			return stringValue(inner)
		}
	}
	return "", false
}

// primaryEmail is the primary e-mail, else the first.
func primaryEmail(v any) (string, bool) {
	list, ok := v.([]any)
	if !ok {
		return "", false
	}
	first := ""
	for _, it := range list {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		val, _ := lookup(m, "value")
		s, ok := val.(string)
		if !ok || s == "" {
			continue
		}
		if p, ok := lookup(m, "primary"); ok {
			if b, _ := boolValue(p); b {
				return s, true
			}
		}
		if first == "" {
			first = s
		}
	}
	return first, first != ""
}

// getPath reads an attribute (core or in a schema extension; one dot
// allowed: name.givenName) from a resource document.
func getPath(doc map[string]any, urn, attr string) (any, bool) {
	obj := doc
	if urn != "" && urn != SchemaUser {
		ext, ok := lookup(doc, urn)
		if !ok {
			return nil, false
		}
		if obj, ok = ext.(map[string]any); !ok {
			return nil, false
		}
	}
	parts := strings.SplitN(attr, ".", 2)
	v, ok := lookup(obj, parts[0])
	if !ok || len(parts) == 1 {
		return v, ok
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	return lookup(m, parts[1])
}

// parseUser maps a SCIM User document onto canonical values. Attributes
// the gateway does not map are ignored (RFC 7644 §3.3).
func (h *Handler) parseUser(doc map[string]any) (state, *Error) {
	s := state{Fields: map[canonical.Field]any{}, Meta: map[string]any{}, Ext: map[string]map[string]any{}}
	str := func(f canonical.Field, urn, attr string) *Error {
		v, ok := getPath(doc, urn, attr)
		if !ok || v == nil {
			return nil
		}
		sv, ok := v.(string)
		if !ok {
			return errorf(400, "invalidValue", attr+" must be a string")
		}
		if sv != "" {
			s.Fields[f] = sv
		}
		return nil
	}
	for _, e := range []*Error{
		str(canonical.FieldUsername, "", "userName"),
		str(canonical.FieldGivenName, "", "name.givenName"),
		str(canonical.FieldFamilyName, "", "name.familyName"),
		str(canonical.FieldDisplayName, "", "displayName"),
	} {
		if e != nil {
			return s, e
		}
	}
	held, e := h.parseHeld(doc)
	if e != nil {
		return s, e
	}
	s.Held = held
	if v, ok := lookup(doc, "externalId"); ok && v != nil {
		sv, ok := v.(string)
		if !ok {
			return s, errorf(400, "invalidValue", "externalId must be a string")
		}
		s.ExternalID = sv
	}
	if v, ok := lookup(doc, "emails"); ok && v != nil {
		if _, isList := v.([]any); !isList {
			return s, errorf(400, "invalidValue", "emails must be an array")
		}
		if e, ok := primaryEmail(v); ok {
			s.Fields[canonical.FieldEmail] = e
		}
	}
	if v, ok := lookup(doc, "active"); ok && v != nil {
		b, ok := boolValue(v)
		if !ok {
			return s, errorf(400, "invalidValue", `active must be a boolean (or the string "True" or "False")`)
		}
		s.Fields[canonical.FieldEnabled] = b
	}
	if v, ok := lookup(doc, "password"); ok && v != nil {
		if p, ok := v.(string); ok {
			s.Password = p
		}
	}
	for _, m := range h.mappings {
		v, ok := getPath(doc, m.urn, m.attr)
		if !ok || v == nil {
			continue
		}
		sv, ok := stringValue(v)
		if !ok {
			return s, errorf(400, "invalidValue", m.scimPath+" must be a string")
		}
		if m.metaKey != "" {
			s.Meta[m.metaKey] = sv
		} else {
			if s.Ext[m.vendor] == nil {
				s.Ext[m.vendor] = map[string]any{}
			}
			s.Ext[m.vendor][m.extKey] = sv
		}
	}
	return s, nil
}

// resource renders a state as a SCIM User.
func (h *Handler) resource(id string, s state) map[string]any {
	doc := map[string]any{"schemas": []string{SchemaUser}, "id": id,
		"meta": map[string]any{"resourceType": "User", "location": h.base + "/Users/" + id}}
	if s.ExternalID != "" {
		doc["externalId"] = s.ExternalID
	}
	if v, ok := s.Fields[canonical.FieldUsername]; ok {
		doc["userName"] = v
	}
	name := map[string]any{}
	if v, ok := s.Fields[canonical.FieldGivenName]; ok {
		name["givenName"] = v
	}
	if v, ok := s.Fields[canonical.FieldFamilyName]; ok {
		name["familyName"] = v
	}
	if len(name) > 0 {
		doc["name"] = name
	}
	if v, ok := s.Fields[canonical.FieldDisplayName]; ok {
		doc["displayName"] = v
	}
	if v, ok := s.Fields[canonical.FieldEmail]; ok {
		doc["emails"] = []any{map[string]any{"value": v, "type": "work", "primary": true}}
	}
	if v, ok := s.Fields[canonical.FieldEnabled]; ok {
		doc["active"] = v
	}
	renderHeld(doc, s.Held)
	for _, m := range h.mappings {
		var v any
		var ok bool
		if m.metaKey != "" {
			v, ok = s.Meta[m.metaKey]
		} else {
			v, ok = s.Ext[m.vendor][m.extKey]
		}
		if !ok {
			continue
		}
		obj := doc
		if m.urn != "" && m.urn != SchemaUser {
			ext, _ := doc[m.urn].(map[string]any)
			if ext == nil {
				ext = map[string]any{}
				doc[m.urn] = ext
				doc["schemas"] = append(doc["schemas"].([]string), m.urn)
			}
			obj = ext
		}
		parts := strings.SplitN(m.attr, ".", 2)
		if len(parts) == 2 {
			inner, _ := obj[parts[0]].(map[string]any)
			if inner == nil {
				inner = map[string]any{}
				obj[parts[0]] = inner
			}
			inner[parts[1]] = v
		} else if parts[0] == "manager" {
			obj["manager"] = map[string]any{"value": v}
		} else {
			obj[parts[0]] = v
		}
	}
	return doc
}

// merge lays want over have: a replace keeps what it does not name.
func merge(have, want state) state {
	out := state{ExternalID: have.ExternalID, Fields: maps.Clone(have.Fields), Meta: maps.Clone(have.Meta), Ext: map[string]map[string]any{}}
	if out.Fields == nil {
		out.Fields = map[canonical.Field]any{}
	}
	if out.Meta == nil {
		out.Meta = map[string]any{}
	}
	for v, m := range have.Ext {
		out.Ext[v] = maps.Clone(m)
	}
	if want.ExternalID != "" {
		out.ExternalID = want.ExternalID
	}
	out.Held = have.Held
	if want.Held != nil {
		// A request's held attributes replace the kept ones whole: they
		// are the gateway's own, so there is no target value to keep.
		out.Held = want.Held
	}
	maps.Copy(out.Fields, want.Fields)
	maps.Copy(out.Meta, want.Meta)
	for v, m := range want.Ext {
		if out.Ext[v] == nil {
			out.Ext[v] = map[string]any{}
		}
		maps.Copy(out.Ext[v], m)
	}
	return out
}

// project applies attributes / excludedAttributes (RFC 7644 §3.4.2.5) to a
// resource: id, schemas and meta are always returned.
func project(doc map[string]any, attributes, excluded []string) map[string]any {
	if len(attributes) == 0 && len(excluded) == 0 {
		return doc
	}
	always := []string{"id", "schemas", "meta"}
	out := map[string]any{}
	if len(attributes) > 0 {
		for _, k := range always {
			if v, ok := doc[k]; ok {
				out[k] = v
			}
		}
		for _, a := range attributes {
			if isSchemaURN(a) {
				if v, ok := doc[lookupKey(doc, a)]; ok {
					out[lookupKey(doc, a)] = v
				}
				continue
			}
			urn, attr := splitURN(a)
			src := doc
			if urn != "" && urn != SchemaUser {
				ext, _ := doc[urn].(map[string]any)
				if ext == nil {
					continue
				}
				dst, _ := out[urn].(map[string]any)
				if dst == nil {
					dst = map[string]any{}
					out[urn] = dst
				}
				copyAttr(ext, dst, attr)
				continue
			}
			copyAttr(src, out, attr)
		}
		return out
	}
	maps.Copy(out, doc)
	for _, a := range excluded {
		if isSchemaURN(a) {
			delete(out, lookupKey(out, a))
			continue
		}
		urn, attr := splitURN(a)
		if urn != "" && urn != SchemaUser {
			if ext, ok := out[lookupKey(out, urn)].(map[string]any); ok {
				ext = maps.Clone(ext)
				delete(ext, lookupKey(ext, attr))
				out[lookupKey(out, urn)] = ext
			}
			continue
		}
		parts := strings.SplitN(attr, ".", 2)
		k := lookupKey(out, parts[0])
		if slices.Contains(always, k) {
			continue
		}
		if len(parts) == 1 {
			delete(out, k)
			continue
		}
		if m, ok := out[k].(map[string]any); ok {
			m = maps.Clone(m)
			delete(m, lookupKey(m, parts[1]))
			out[k] = m
		}
	}
	return out
}

func copyAttr(src, dst map[string]any, attr string) {
	parts := strings.SplitN(attr, ".", 2)
	k := lookupKey(src, parts[0])
	v, ok := src[k]
	if !ok {
		return
	}
	if len(parts) == 1 {
		dst[k] = v
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	sk := lookupKey(m, parts[1])
	sv, ok := m[sk]
	if !ok {
		return
	}
	inner, _ := dst[k].(map[string]any)
	if inner == nil {
		inner = map[string]any{}
		dst[k] = inner
	}
	inner[sk] = sv
}
