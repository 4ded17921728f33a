// Package jsonenc holds the pieces of encoding/json's output that the
// gateway's hand-written encoders (result.Result, audit.Record) share, so
// that each writes exactly the bytes json.Marshal would: a string quoted
// and escaped as json.Marshal escapes it, and map keys in its order.
package jsonenc

import (
	"slices"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// safe holds, for each ASCII byte, whether encoding/json writes it as it is
// with HTML escaping on (json.Marshal's default): all but the control
// characters, '"', '\\', '<', '>' and '&'.
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// AppendString appends s quoted as json.Marshal quotes a string: '"' and
// '\\' backslashed; \b \f \n \r \t by name and the other control
// characters, '<', '>' and '&' as \u00XX; each byte of invalid UTF-8 as
// \ufffd; U+2028 and U+2029 as \u2028 and \u2029; the rest as it is.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// SortedKeys appends m's keys to keys in the order json.Marshal writes
// them: by the key string, byte by byte, before any escaping. A caller
// passes a small array's slice, so that a map of a few keys needs no
// allocation.
func SortedKeys[V any](m map[string]V, keys []string) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// AppendObject appends m as json.Marshal writes a map with string keys:
// the keys in SortedKeys order, each value written by value. A map of up to
// eight keys is sorted without allocating. On value's error it returns b
// as it was given and the error.
func AppendObject[V any](b []byte, m map[string]V, value func([]byte, V) ([]byte, error)) ([]byte, error) {
	n := len(b)
	var buf [8]string
	b = append(b, '{')
	for i, k := range SortedKeys(m, buf[:0]) {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = value(b, m[k]); err != nil {
			return b[:n], err
		}
	}
	return append(b, '}'), nil
}
