package scim

import (
	"encoding/json"
	"regexp"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// matches evaluates a filter against one JSON object (a resource, or an
// element of a multi-valued attribute in a value path). String
// comparisons ignore case except for id and externalId (RFC 7643 §2.2,
// caseExact).
func matches(obj map[string]any, e filter.Expression) bool {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return matches(obj, x.Left) && matches(obj, x.Right)
		}
		return matches(obj, x.Left) || matches(obj, x.Right)
	case *filter.NotExpression:
		return !matches(obj, x.Expression)
	case *filter.ValuePath:
		v, _ := valueAt(obj, x.AttributePath, false)
		for _, it := range asList(v) {
			if m, ok := it.(map[string]any); ok && matches(m, x.ValueFilter) {
				return true
			}
		}
		return false
	case *filter.AttributeExpression:
		v, ok := valueAt(obj, x.AttributePath, true)
		if x.Operator == filter.PR {
			return ok && v != nil
		}
		for _, it := range asList(v) {
			if compare(it, x.Operator, x.CompareValue, exact(x.AttributePath.AttributeName)) {
				return true
			}
		}
	}
	return false
}

func exact(attr string) bool {
	return strings.EqualFold(attr, "id") || strings.EqualFold(attr, "externalId")
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if l, ok := v.([]map[string]any); ok {
		out := make([]any, len(l))
		for i := range l {
			out[i] = l[i]
		}
		return out
	}
	return []any{v}
}

// valueAt reads attr[.sub] from obj; on a multi-valued attribute the
// sub-attribute of every element is returned as a list. An attribute of a
// multi-valued complex attribute with no sub-attribute means its values
// (emails eq "x" is emails.value eq "x") when flat is true.
func valueAt(obj map[string]any, p filter.AttributePath, flat bool) (any, bool) {
	src := obj
	if p.URIPrefix != nil && !strings.EqualFold(*p.URIPrefix, SchemaUser) {
		ext, _ := lookup(obj, *p.URIPrefix)
		m, ok := ext.(map[string]any)
		if !ok {
			return nil, false
		}
		src = m
	}
	v, ok := lookup(src, p.AttributeName)
	if !ok {
		return nil, false
	}
	sub := p.SubAttributeName()
	if sub == "" && flat {
		sub = "value"
		if _, isList := v.([]any); !isList {
			if m, isObj := v.(map[string]any); isObj {
				return lookup(m, sub)
			}
			return v, true
		}
	} else if sub == "" {
		return v, true
	}
	switch x := v.(type) {
	case map[string]any:
		return lookup(x, sub)
	case []any:
		var out []any
		for _, it := range x {
			if m, ok := it.(map[string]any); ok {
				if sv, ok := lookup(m, sub); ok {
					out = append(out, sv)
				}
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

func compare(have any, op filter.CompareOperator, want any, caseExact bool) bool {
	if hb, ok := boolValue(have); ok {
		if _, isStr := have.(string); !isStr {
			wb, ok := want.(bool)
			switch op {
			case filter.EQ:
				return ok && hb == wb
			case filter.NE:
				return !ok || hb != wb
			}
			return false
		}
	}
	hs, ok1 := stringValue(have)
	ws, ok2 := want.(string)
	if !ok2 {
		if n, ok := want.(json.Number); ok {
			ws, ok2 = n.String(), true
		}
		if b, ok := want.(bool); ok {
			ws, ok2 = map[bool]string{true: "true", false: "false"}[b], true
		}
	}
	if !ok1 || !ok2 {
		return op == filter.NE
	}
	if !caseExact {
		hs, ws = strings.ToLower(hs), strings.ToLower(ws)
	}
	switch op {
	case filter.EQ:
		return hs == ws
	case filter.NE:
		return hs != ws
	case filter.CO:
		return strings.Contains(hs, ws)
	case filter.SW:
		return strings.HasPrefix(hs, ws)
	case filter.EW:
		return strings.HasSuffix(hs, ws)
	case filter.GT:
		return hs > ws
	case filter.GE:
		return hs >= ws
	case filter.LT:
		return hs < ws
	case filter.LE:
		return hs <= ws
	}
	return false
}

// valueEq finds value eq "x" in a value filter, alone or on either side
// of an and (emails[type eq "work" and value eq "x"]).
func valueEq(e filter.Expression) (string, bool) {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		if x.Operator == filter.EQ && strings.EqualFold(x.AttributePath.AttributeName, "value") {
			s, ok := x.CompareValue.(string)
			return s, ok
		}
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			if s, ok := valueEq(x.Left); ok {
				return s, true
			}
			return valueEq(x.Right)
		}
	}
	return "", false
}

// entraValuePath matches a comparison on a sub-attribute of a value path,
// emails[type eq "work"].value eq "x": Entra sends it (its SCIM tutorial
// names it as the query for e-mail uniqueness), but RFC 7644's filter
// grammar has no such form, and the parser refuses it.
var entraValuePath = regexp.MustCompile(`(?i)\b([a-z][\w:.-]*)\[([^\[\]]+)\]\.([a-z]\w*)\s+(eq|ne|co|sw|ew|gt|lt|ge|le)\s+("(?:[^"\\]|\\.)*"|true|false|null|-?[\d.]+)`)

// parseFilter parses a filter, first rewriting Entra's value-path
// comparisons into the equivalent RFC form: attr[f].sub op v is
// attr[f and sub op v]. The parser takes no parentheses inside a value
// filter, so an f holding "or" (where and would bind tighter) is left for
// the parser to refuse.
func parseFilter(raw string) (filter.Expression, error) {
	raw = entraValuePath.ReplaceAllStringFunc(raw, func(m string) string {
		p := entraValuePath.FindStringSubmatch(m)
		if strings.Contains(strings.ToLower(p[2]), " or ") {
			return m
		}
		return p[1] + "[" + p[2] + " and " + p[3] + " " + p[4] + " " + p[5] + "]"
	})
	return filter.ParseFilter([]byte(raw))
}

// maxEchoedFilter bounds how much of a bad filter an error echoes: the
// query string may be kilobytes long.
const maxEchoedFilter = 200

// filterError is the 400 for a filter that does not parse. It names the
// filter and the grammar instead of passing the parser's message on: that
// one speaks of the parser's own rules ("expected op.Or or[func func ...]")
// and may cut a multi-byte character in half, which tells an identity
// provider's admin nothing.
func filterError(raw string) *Error {
	shown := raw
	if len(shown) > maxEchoedFilter {
		shown = strings.ToValidUTF8(shown[:maxEchoedFilter], "") + "..."
	}
	return errorf(400, "invalidFilter", "the filter "+quote(shown)+
		` does not parse: expected RFC 7644 section 3.4.2.2 syntax, such as userName eq "jane@example.com"`)
}

// index is a lookup the link store can answer: an eq on an indexed
// attribute.
type index struct {
	kind  string // id, userName, externalId, email
	value string
}

// indexed finds the lookups that bound a filter's matches: an eq on id,
// userName, externalId or emails.value, combined with and (either side
// bounds it) and or (both sides must). ok is false when the filter names
// no such bound (or there is no filter): the listing is then evaluated on
// every known user, up to max_results of them.
func indexed(e filter.Expression) ([]index, bool) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, lok := indexed(x.Left)
		r, rok := indexed(x.Right)
		if x.Operator == filter.AND {
			switch {
			case lok:
				return l, true
			case rok:
				return r, true
			}
			return nil, false
		}
		if lok && rok {
			return append(l, r...), true
		}
		return nil, false
	case *filter.ValuePath:
		if strings.EqualFold(x.AttributePath.AttributeName, "emails") {
			if s, ok := valueEq(x.ValueFilter); ok {
				return []index{{"email", s}}, true
			}
		}
	case *filter.AttributeExpression:
		if x.Operator != filter.EQ {
			return nil, false
		}
		s, ok := x.CompareValue.(string)
		if !ok {
			return nil, false
		}
		if x.AttributePath.URIPrefix != nil && !strings.EqualFold(*x.AttributePath.URIPrefix, SchemaUser) {
			return nil, false
		}
		name, sub := x.AttributePath.AttributeName, x.AttributePath.SubAttributeName()
		switch {
		case strings.EqualFold(name, "id") && sub == "":
			return []index{{"id", s}}, true
		case strings.EqualFold(name, "userName") && sub == "":
			return []index{{"userName", s}}, true
		case strings.EqualFold(name, "externalId") && sub == "":
			return []index{{"externalId", s}}, true
		case strings.EqualFold(name, "emails") && (sub == "" || strings.EqualFold(sub, "value")):
			return []index{{"email", s}}, true
		}
	}
	return nil, false
}
