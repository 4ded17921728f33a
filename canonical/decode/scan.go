package decode

import (
	"encoding/json"
	"unicode/utf8"
)

// The decoder walks a body that json.Valid has already accepted, so these
// scanners split objects and arrays into raw members by byte offsets, with
// no per-level json.Decoder and no copies: members are sub-slices of the
// body. Keys without escapes are taken as they are; escaped keys go through
// encoding/json.

// skipWS returns the index of the first non-space byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at i.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}

// stringEnd returns the index just past the string starting at i (b[i] == '"').
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// members calls fn for each key and raw value of the object raw (valid
// JSON, starting with '{'), in document order.
func members(raw []byte, fn func(key string, v json.RawMessage)) {
	i := skipWS(raw, 1)
	for i < len(raw) && raw[i] != '}' {
		ke := stringEnd(raw, i)
		key := keyString(raw[i:ke])
		i = skipWS(raw, ke)
		i = skipWS(raw, i+1) // past ':'
		ve := valueEnd(raw, i)
		fn(key, json.RawMessage(raw[i:ve]))
		i = skipWS(raw, ve)
		if i < len(raw) && raw[i] == ',' {
			i = skipWS(raw, i+1)
		}
	}
}

// elements calls fn for each raw element of the array raw (valid JSON,
// starting with '[').
func elements(raw []byte, fn func(v json.RawMessage)) {
	i := skipWS(raw, 1)
	for i < len(raw) && raw[i] != ']' {
		ve := valueEnd(raw, i)
		fn(json.RawMessage(raw[i:ve]))
		i = skipWS(raw, ve)
		if i < len(raw) && raw[i] == ',' {
			i = skipWS(raw, i+1)
		}
	}
}

func keyString(q []byte) string {
	// The request's own keys come back as constants: a switch on
	// string(bytes) does not allocate, a conversion to keep does.
	switch string(q[1 : len(q)-1]) {
	case "targets":
		return "targets"
	case "vendor_ids":
		return "vendor_ids"
	case "on_unsupported":
		return "on_unsupported"
	case "user":
		return "user"
	case "extensions":
		return "extensions"
	case "op":
		return "op"
	case "items":
		return "items"
	case "id":
		return "id"
	case "name":
		return "name"
	case "new":
		return "new"
	case "current":
		return "current"
	case "content_type":
		return "content_type"
	case "data":
		return "data"
	case "username":
		return "username"
	case "email":
		return "email"
	case "given_name":
		return "given_name"
	case "family_name":
		return "family_name"
	case "display_name":
		return "display_name"
	case "enabled":
		return "enabled"
	case "otp_enabled":
		return "otp_enabled"
	case "notifications":
		return "notifications"
	case "avatar":
		return "avatar"
	case "groups":
		return "groups"
	case "password":
		return "password"
	case "metadata":
		return "metadata"
	case "principal_name":
		return "principal_name"
	case "auth_method":
		return "auth_method"
	case "plan":
		return "plan"
	}
	for _, c := range q[1 : len(q)-1] {
		if c == '\\' {
			var s string
			if json.Unmarshal(q, &s) == nil {
				return s
			}
			break
		}
	}
	return string(q[1 : len(q)-1])
}

// literalProblem checks one JSON string literal (quotes included, already
// accepted by json.Valid) and says what is wrong with it, or "". A \u
// escape of a lone surrogate is invalid Unicode (encoding/json would store
// U+FFFD in its place, changing the value unseen), and a control character
// (C0, DEL, C1, U+2028, U+2029), raw or escaped, is refused in every string,
// secrets included. It allocates nothing.
func literalProblem(lit []byte) string {
	const control = "must not contain control characters"
	for i := 1; i < len(lit)-1; i++ {
		c := lit[i]
		switch {
		case c == '\\':
			i++
			switch lit[i] {
			case 'b', 'f', 'n', 'r', 't':
				return control
			case 'u':
				r := hex4(lit[i+1 : i+5])
				i += 4
				switch {
				case r >= 0xD800 && r < 0xDC00:
					// A high surrogate must be followed by an escaped low one.
					if i+6 < len(lit) && lit[i+1] == '\\' && lit[i+2] == 'u' {
						if lo := hex4(lit[i+3 : i+7]); lo >= 0xDC00 && lo < 0xE000 {
							i += 6
							continue
						}
					}
					return "must be valid Unicode (a \\u escape names a lone surrogate)"
				case r >= 0xDC00 && r < 0xE000:
					return "must be valid Unicode (a \\u escape names a lone surrogate)"
				case isControlRune(r):
					return control
				}
			}
		case c == 0x7f:
			return control
		case c >= 0x80:
			r, size := utf8.DecodeRune(lit[i:])
			if isControlRune(r) {
				return control
			}
			i += size - 1
		}
	}
	return ""
}

// isControlRune matches what Validate's hasControl refuses.
func isControlRune(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\u2028' || r == '\u2029'
}

// hex4 reads four hex digits (json.Valid has checked them).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// stringsProblem checks every string literal (keys included) in the JSON
// value raw with literalProblem.
func stringsProblem(raw []byte) string {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		end := stringEnd(raw, i)
		if msg := literalProblem(raw[i:end]); msg != "" {
			return msg
		}
		i = end - 1
	}
	return ""
}
