package scim

import (
	"encoding/json"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// patchOp is one RFC 7644 §3.5.2 operation. Op is matched
// case-insensitively: Entra sends "Replace" and "Add".
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

// applyPatch applies ops to a resource document in place.
func applyPatch(doc map[string]any, ops []patchOp) *Error {
	if len(ops) == 0 {
		return errorf(400, "invalidValue", "Operations must hold at least one operation")
	}
	for i, op := range ops {
		var val any
		if len(op.Value) > 0 {
			v, err := decodeValue(op.Value)
			if err != nil {
				return errorf(400, "invalidSyntax", "Operations["+itoa(i)+"].value is not JSON")
			}
			val = v
		}
		kind := strings.ToLower(op.Op)
		switch kind {
		case "add", "replace", "remove":
		default:
			return errorf(400, "invalidSyntax", "Operations["+itoa(i)+"].op must be add, replace or remove")
		}
		if op.Path == "" {
			if kind == "remove" {
				return errorf(400, "noTarget", "Operations["+itoa(i)+"]: remove needs a path")
			}
			obj, ok := val.(map[string]any)
			if !ok {
				return errorf(400, "invalidValue", "Operations["+itoa(i)+"]: with no path, value must be an object")
			}
			// Keys may be attribute names, dotted paths (name.givenName) or
			// URN-qualified paths (Entra), or a whole extension object.
			for k, v := range obj {
				if ext, ok := v.(map[string]any); ok && strings.HasPrefix(strings.ToLower(k), "urn:") && isSchemaURN(k) {
					for ek, ev := range ext {
						if e := setPath(doc, kind, k+":"+ek, ev); e != nil {
							return e
						}
					}
					continue
				}
				if e := setPath(doc, kind, k, v); e != nil {
					return e
				}
			}
			continue
		}
		if kind == "remove" {
			if e := removePath(doc, op.Path); e != nil {
				return e
			}
			continue
		}
		if e := setPath(doc, kind, op.Path, val); e != nil {
			return e
		}
	}
	return nil
}

func isSchemaURN(s string) bool {
	for _, k := range knownSchemas {
		if strings.EqualFold(k, s) {
			return true
		}
	}
	return false
}

func itoa(i int) string { return strconv.Itoa(i) }

func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// target resolves a path to the object holding the attribute, creating
// parents for add and replace.
func container(doc map[string]any, p filter.Path, create bool) (map[string]any, string) {
	obj := doc
	if p.AttributePath.URIPrefix != nil && !strings.EqualFold(*p.AttributePath.URIPrefix, SchemaUser) {
		urn := *p.AttributePath.URIPrefix
		k := lookupKey(doc, urn)
		ext, _ := doc[k].(map[string]any)
		if ext == nil {
			if !create {
				return nil, ""
			}
			ext = map[string]any{}
			doc[urn] = ext
		}
		obj = ext
	}
	return obj, lookupKey(obj, p.AttributePath.AttributeName)
}

func parsePath(raw string) (filter.Path, *Error) {
	p, err := filter.ParsePath([]byte(raw))
	if err != nil {
		return p, errorf(400, "invalidPath", "invalid path "+quote(raw))
	}
	return p, nil
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// setPath is add or replace at path (RFC 7644 §3.5.2.1, §3.5.2.3).
func setPath(doc map[string]any, kind, raw string, val any) *Error {
	p, e := parsePath(raw)
	if e != nil {
		return e
	}
	obj, key := container(doc, p, true)
	attrSub := p.AttributePath.SubAttributeName()
	if p.ValueExpression == nil {
		if attrSub != "" {
			inner, _ := obj[key].(map[string]any)
			if inner == nil {
				inner = map[string]any{}
				obj[key] = inner
			}
			inner[lookupKey(inner, attrSub)] = val
			return nil
		}
		// add to a multi-valued attribute appends (RFC 7644 §3.5.2.1).
		if list, ok := obj[key].([]any); ok && kind == "add" {
			if more, ok := val.([]any); ok {
				obj[key] = append(list, more...)
				return nil
			}
		}
		if old, ok := obj[key].(map[string]any); ok && kind == "add" {
			if more, ok := val.(map[string]any); ok {
				for k, v := range more {
					old[lookupKey(old, k)] = v
				}
				return nil
			}
		}
		obj[key] = val
		return nil
	}
	// A value filter: emails[type eq "work"].value.
	list, _ := obj[key].([]any)
	sub := p.SubAttributeName()
	matched := false
	for i, it := range list {
		m, ok := it.(map[string]any)
		if !ok || !matches(m, p.ValueExpression) {
			continue
		}
		matched = true
		if sub == "" {
			if nv, ok := val.(map[string]any); ok {
				for k, v := range nv {
					m[lookupKey(m, k)] = v
				}
			} else {
				list[i] = val
			}
		} else {
			m[lookupKey(m, sub)] = val
		}
	}
	if !matched {
		// Entra replaces emails[type eq "work"].value on a user with no
		// work address: the element the filter describes is added.
		m := map[string]any{}
		if ae, ok := p.ValueExpression.(*filter.AttributeExpression); ok && ae.Operator == filter.EQ {
			m[ae.AttributePath.AttributeName] = ae.CompareValue
		}
		if sub != "" {
			m[sub] = val
		} else if nv, ok := val.(map[string]any); ok {
			for k, v := range nv {
				m[k] = v
			}
		}
		list = append(list, m)
	}
	obj[key] = list
	return nil
}

// removePath is remove (RFC 7644 §3.5.2.2).
func removePath(doc map[string]any, raw string) *Error {
	p, e := parsePath(raw)
	if e != nil {
		return e
	}
	obj, key := container(doc, p, false)
	if obj == nil {
		return nil
	}
	if p.ValueExpression == nil {
		if sub := p.AttributePath.SubAttributeName(); sub != "" {
			if inner, ok := obj[key].(map[string]any); ok {
				delete(inner, lookupKey(inner, sub))
			}
			return nil
		}
		delete(obj, key)
		return nil
	}
	list, _ := obj[key].([]any)
	sub := p.SubAttributeName()
	var keep []any
	for _, it := range list {
		m, ok := it.(map[string]any)
		if ok && matches(m, p.ValueExpression) {
			if sub != "" {
				delete(m, lookupKey(m, sub))
				keep = append(keep, m)
			}
			continue
		}
		keep = append(keep, it)
	}
	if len(keep) == 0 {
		delete(obj, key)
	} else {
		obj[key] = keep
	}
	return nil
}
