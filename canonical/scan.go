package canonical

import (
	"encoding/json"
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
