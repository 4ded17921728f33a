package audit

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical/jsonenc"
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
	// (Were it to succeed after all, its bytes are the answer.) It is given
	// a copy: given r, it would make every caller's record escape to the
	// heap, this rare path or not.
	raw, err := json.Marshal(*r)
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
	b = jsonenc.AppendString(b, r.Action)
	b = append(b, `,"user":`...)
	b = jsonenc.AppendString(b, r.User)
	b = append(b, `,"client":`...)
	b = jsonenc.AppendString(b, r.Client)
	b = append(b, `,"auth_method":`...)
	b = jsonenc.AppendString(b, r.AuthMethod)
	if len(r.Fields) > 0 {
		b = append(b, `,"fields":[`...)
		for i, f := range r.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, f)
		}
		b = append(b, ']')
	}
	if len(r.Values) > 0 {
		b = append(b, `,"values":`...)
		b = appendObject(b, r.Values)
	}
	if len(r.Targets) > 0 {
		b = append(b, `,"targets":`...)
		b = appendObject(b, r.Targets)
	}
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, r.Status)
	if r.HTTPStatus != 0 {
		b = append(b, `,"http_status":`...)
		b = strconv.AppendInt(b, int64(r.HTTPStatus), 10)
	}
	if r.DryRun {
		b = append(b, `,"dry_run":true`...)
	}
	if r.IdempotencyKey != "" {
		b = append(b, `,"idempotency_key":`...)
		b = jsonenc.AppendString(b, r.IdempotencyKey)
	}
	if r.TraceID != "" {
		b = append(b, `,"trace_id":`...)
		b = jsonenc.AppendString(b, r.TraceID)
	}
	if len(r.Detail) > 0 {
		b = append(b, `,"detail":`...)
		b = appendObject(b, r.Detail)
	}
	return append(b, '}'), true
}

// appendTarget appends one TargetOutcome as json.Marshal encodes it.
func appendTarget(b []byte, t TargetOutcome) []byte {
	b = append(b, '{')
	if t.VendorID != "" {
		b = append(b, `"vendor_id":`...)
		b = jsonenc.AppendString(b, t.VendorID)
		b = append(b, ',')
	}
	b = append(b, `"status":`...)
	b = jsonenc.AppendString(b, t.Status)
	if t.Code != "" {
		b = append(b, `,"code":`...)
		b = jsonenc.AppendString(b, t.Code)
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

// appendObject appends m (not empty) as json.Marshal does: its keys
// sorted, each value as a string or as appendTarget writes it. The loop is
// written out rather than given to jsonenc.AppendObject as a func value:
// through one, b escapes, and MemoryStore.Append's stack buffer with it (a
// 1 KB heap allocation per update; TestMemoryAppendAllocations).
func appendObject[V string | TargetOutcome](b []byte, m map[string]V) []byte {
	var buf [8]string
	b = append(b, '{')
	for i, k := range jsonenc.SortedKeys(m, buf[:0]) {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		switch v := any(m[k]).(type) {
		case string:
			b = jsonenc.AppendString(b, v)
		case TargetOutcome:
			b = appendTarget(b, v)
		}
	}
	return append(b, '}')
}
