package audit

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// AppendJSON appends r's JSON encoding to b: the bytes json.Marshal(r)
// returns, without reflection and without allocating beyond b's growth. It
// fails where json.Marshal fails (a time json cannot encode: a year outside
// [0,9999] or a zone offset of 24 hours or more), with json.Marshal's error;
// b is then not extended.
//
// Every update records one Record; json.Marshal of it was about 1.7% of a
// loaded gateway's CPU (BenchmarkRecordJSON). The encoding follows Record's
// json tags by hand: a field added to Record or TargetOutcome must be added
// here too (TestRecordAppendJSONMatchesMarshal fails until it is).
func (r *Record) AppendJSON(b []byte) ([]byte, error) {
	if r == nil {
		return append(b, "null"...), nil
	}
	n := len(b)
	out, ok := r.appendFields(append(b, '{'))
	if ok {
		return out, nil
	}
	// json.Marshal fails on this record: let it say why, in its own words.
	// (Were it to succeed after all, its bytes are the answer.)
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b[:n], raw...), nil
}

// appendFields appends r's fields and the closing brace (the encoding after
// its opening brace); ok is false when r.Time has no JSON encoding.
func (r *Record) appendFields(b []byte) (_ []byte, ok bool) {
	b = append(b, `"id":`...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, `,"time":`...)
	if b, ok = appendTime(b, r.Time); !ok {
		return b, false
	}
	b = append(b, `,"action":`...)
	b = appendString(b, r.Action)
	b = append(b, `,"user":`...)
	b = appendString(b, r.User)
	b = append(b, `,"client":`...)
	b = appendString(b, r.Client)
	b = append(b, `,"auth_method":`...)
	b = appendString(b, r.AuthMethod)
	if len(r.Fields) > 0 {
		b = append(b, `,"fields":[`...)
		for i, f := range r.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f)
		}
		b = append(b, ']')
	}
	if len(r.Values) > 0 {
		b = append(b, `,"values":`...)
		b = appendStringMap(b, r.Values)
	}
	if len(r.Targets) > 0 {
		b = append(b, `,"targets":`...)
		b = appendTargets(b, r.Targets)
	}
	b = append(b, `,"status":`...)
	b = appendString(b, r.Status)
	if r.HTTPStatus != 0 {
		b = append(b, `,"http_status":`...)
		b = strconv.AppendInt(b, int64(r.HTTPStatus), 10)
	}
	if r.DryRun {
		b = append(b, `,"dry_run":true`...)
	}
	if r.IdempotencyKey != "" {
		b = append(b, `,"idempotency_key":`...)
		b = appendString(b, r.IdempotencyKey)
	}
	if r.TraceID != "" {
		b = append(b, `,"trace_id":`...)
		b = appendString(b, r.TraceID)
	}
	if len(r.Detail) > 0 {
		b = append(b, `,"detail":`...)
		b = appendStringMap(b, r.Detail)
	}
	return append(b, '}'), true
}

// appendTarget appends one TargetOutcome as json.Marshal encodes it.
func appendTarget(b []byte, t TargetOutcome) []byte {
	b = append(b, '{')
	if t.VendorID != "" {
		b = append(b, `"vendor_id":`...)
		b = appendString(b, t.VendorID)
		b = append(b, ',')
	}
	b = append(b, `"status":`...)
	b = appendString(b, t.Status)
	if t.Code != "" {
		b = append(b, `,"code":`...)
		b = appendString(b, t.Code)
	}
	return append(b, '}')
}

// appendTime appends t as time.Time.MarshalJSON does: quoted RFC 3339 with
// nanoseconds (trailing zeros trimmed), which AppendFormat(RFC3339Nano)
// writes with the same code. ok is false where MarshalJSON fails: the year
// is not four digits, or the zone's hours are not in [0,23] (the checks of
// time's appendStrictRFC3339, made on the same bytes).
func appendTime(b []byte, t time.Time) (_ []byte, ok bool) {
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	if len(b) < n0+5 || b[n0+4] != '-' { // year must be exactly 4 digits wide
		return b, false
	}
	if b[len(b)-1] != 'Z' {
		c := b[len(b)-len("Z07:00")]
		h := b[len(b)-len("07:00"):]
		if ('0' <= c && c <= '9') || 10*(h[0]-'0')+(h[1]-'0') >= 24 {
			return b, false
		}
	}
	return append(b, '"'), true
}

// smallMap is how many map entries are sorted on the stack.
const smallMap = 8

// appendStringMap appends m (not empty) with its keys in byte order, as
// json.Marshal sorts them (by the key itself, before escaping).
func appendStringMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	if len(m) == 1 {
		for k, v := range m {
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, v)
		}
		return append(b, '}')
	}
	type kv struct{ k, v string }
	var buf [smallMap]kv
	s := buf[:0]
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	slices.SortFunc(s, func(x, y kv) int { return strings.Compare(x.k, y.k) })
	for i, e := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e.k)
		b = append(b, ':')
		b = appendString(b, e.v)
	}
	return append(b, '}')
}

// appendTargets is appendStringMap for Targets.
func appendTargets(b []byte, m map[string]TargetOutcome) []byte {
	b = append(b, '{')
	if len(m) == 1 {
		for k, v := range m {
			b = appendString(b, k)
			b = append(b, ':')
			b = appendTarget(b, v)
		}
		return append(b, '}')
	}
	var buf [smallMap]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // strings compare bytewise, as strings.Compare
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendTarget(b, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// jsonSafe holds, for each ASCII byte, whether encoding/json writes it as it
// is with HTML escaping on (its default): all but the control characters,
// '"', '\\', '<', '>' and '&'.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// appendString appends s quoted as encoding/json does by default: '"' and
// '\\' backslashed; \b \f \n \r \t by name and the other control
// characters, '<', '>' and '&' as \u00XX; each byte of invalid UTF-8 as
// \ufffd; U+2028 and U+2029 as \u2028 and \u2029; the rest as it is.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
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
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
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
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
