package result

import (
	"encoding/json"
	"strconv"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/jsonenc"
)

// AppendJSON appends r's JSON encoding to b and returns the extended slice.
//
// It is kept for speed: the dispatcher encodes every update's result, and
// encoding/json's reflection cost about 2% of the gateway's CPU
// (BenchmarkEncodeResult against BenchmarkAppendJSON). Its output is byte
// for byte what json.Marshal(r) gives (the tests compare both on fixed,
// random and fuzzed results), so a field added to Result or one of the
// types below must be added here too, in declaration order, with the same
// omitempty rules.
//
// The only error is that of a dry run's CallSummary.Body that is not valid
// JSON; json.Marshal fails on it, with the same error, and so does this.
// On error it returns b as it was given (its length and contents).
func (r *Result) AppendJSON(b []byte) ([]byte, error) {
	if r == nil {
		return append(b, "null"...), nil
	}
	orig := len(b)
	// Grow once to about the final size rather than doubling from nothing:
	// the growth was most of the cost, and the body is kept (idempotency
	// records) so it should not be much larger than needed either.
	// (Not slices.Grow: under the race detector it allocates twice.)
	if n := r.sizeHint(); cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, r.ID)
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, string(r.Status))
	if r.DryRun {
		b = append(b, `,"dry_run":true`...)
	}
	b = append(b, `,"results":`...)
	if r.Results == nil {
		b = append(b, "null"...)
	} else {
		var err error
		if b, err = AppendTargets(b, r.Results); err != nil {
			return b[:orig], err
		}
	}
	b = append(b, `,"skipped_fields":`...)
	if r.SkippedFields == nil {
		b = append(b, "null"...)
	} else {
		// Not omitempty: a nil list in the map is null, an empty one [].
		b, _ = jsonenc.AppendObject(b, r.SkippedFields, func(b []byte, fs []canonical.Field) ([]byte, error) { return appendFields(b, fs), nil })
	}
	if r.TraceID != "" {
		b = append(b, `,"trace_id":`...)
		b = jsonenc.AppendString(b, r.TraceID)
	}
	return append(b, '}'), nil
}

// AppendTargets appends what json.Marshal(m) writes for a result's
// per-target map (keys sorted, each Target as Result.AppendJSON writes
// it). The idempotency store records the targets of a multi-target update
// one by one as each applies, the whole map every time: through
// json.Marshal that was about 7% of the gateway's CPU on a four-target
// update (loadbench, fan-out). On error it returns b as it was given.
func AppendTargets(b []byte, m map[string]Target) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	return jsonenc.AppendObject(b, m, func(b []byte, t Target) ([]byte, error) { return t.appendJSON(b) })
}

// TargetsSizeHint estimates the length of AppendTargets' output for m, to
// size a buffer once (as Result.AppendJSON does).
func TargetsSizeHint(m map[string]Target) int {
	n := len(`{}`)
	for name, t := range m {
		n += len(name) + len(`"":,`) + t.sizeHint()
	}
	return n
}

// sizeHint estimates the length of r's encoding: the strings' lengths plus
// the names and punctuation around them, with a few bytes for each number.
// It may be off (escaping lengthens a string, a large number is longer);
// that costs at most one more growth of the buffer, never a wrong output.
func (r *Result) sizeHint() int {
	n := len(`{"id":"","status":"","dry_run":true,"results":,"skipped_fields":{},"trace_id":""}`) +
		len(r.ID) + len(r.Status) + len(r.TraceID) + TargetsSizeHint(r.Results)
	for name, fs := range r.SkippedFields {
		n += len(name) + len(`"":[],`)
		for _, f := range fs {
			n += len(f) + len(`"",`)
		}
	}
	return n
}

func (t *Target) sizeHint() int {
	n := len(`{"status":"","vendor_id":"","attempts":1,"duration_ms":1234}`) + len(t.Status) + len(t.VendorID)
	if len(t.Applied) > 0 {
		n += len(`,"applied_fields":[]`)
		for _, f := range t.Applied {
			n += len(f) + len(`"",`)
		}
	}
	if len(t.Calls) > 0 {
		n += len(`,"calls":[]`)
		for i := range t.Calls {
			c := &t.Calls[i]
			n += len(`{"name":"","method":"","path":"","status":200},`) + len(c.Name) + len(c.Method) + len(c.Path)
			if len(c.AttemptStatuses) > 0 {
				n += len(`,"attempt_statuses":[]`) + len(c.AttemptStatuses)*len(`200,`)
			}
			if len(c.Header) > 0 {
				n += len(`,"planned":true,"header":{}`)
				for k, v := range c.Header {
					n += len(k) + len(v) + len(`"":"",`)
				}
			}
			if len(c.Body) > 0 {
				n += len(`,"body":`) + len(c.Body)
			}
		}
	}
	if e := t.Error; e != nil {
		n += len(`,"error":{"code":"","message":"","vendor_status":500,"retry_after_s":30,"errors":[]}`) +
			len(e.Code) + len(e.Message)
		for _, f := range e.Fields {
			n += len(`{"field":"","target":"","message":""},`) + len(f.Field) + len(f.Target) + len(f.Message)
		}
	}
	return n
}

func (t *Target) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"status":`...)
	b = jsonenc.AppendString(b, string(t.Status))
	if t.VendorID != "" {
		b = append(b, `,"vendor_id":`...)
		b = jsonenc.AppendString(b, t.VendorID)
	}
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(t.Attempts), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, t.DurationMS, 10)
	// omitempty drops an empty slice as well as a nil one.
	if len(t.Applied) > 0 {
		b = append(b, `,"applied_fields":`...)
		b = appendFields(b, t.Applied)
	}
	if len(t.Calls) > 0 {
		b = append(b, `,"calls":[`...)
		for i := range t.Calls {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = t.Calls[i].appendJSON(b); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	if t.Error != nil {
		b = append(b, `,"error":`...)
		b = t.Error.appendJSON(b)
	}
	if t.Replayed {
		b = append(b, `,"replayed":true`...)
	}
	if t.Verified {
		b = append(b, `,"verified":true`...)
	}
	return append(b, '}'), nil
}

func (c *CallSummary) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	if c.Name != "" {
		b = append(b, `"name":`...)
		b = jsonenc.AppendString(b, c.Name)
		b = append(b, ',')
	}
	b = append(b, `"method":`...)
	b = jsonenc.AppendString(b, c.Method)
	b = append(b, `,"path":`...)
	b = jsonenc.AppendString(b, c.Path)
	if c.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(c.Status), 10)
	}
	if len(c.AttemptStatuses) > 0 {
		b = append(b, `,"attempt_statuses":[`...)
		for i, a := range c.AttemptStatuses {
			if i > 0 {
				b = append(b, ',')
			}
			b = a.appendJSON(b)
		}
		b = append(b, ']')
	}
	if c.Planned {
		b = append(b, `,"planned":true`...)
	}
	if len(c.Header) > 0 {
		b = append(b, `,"header":{`...)
		var buf [8]string
		for i, k := range jsonenc.SortedKeys(c.Header, buf[:0]) {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, k)
			b = append(b, ':')
			b = jsonenc.AppendString(b, c.Header[k])
		}
		b = append(b, '}')
	}
	if len(c.Body) > 0 {
		// Dry runs only. encoding/json validates a RawMessage, compacts it
		// and HTML-escapes its strings; it does that here too, so the
		// output and the error for an invalid body are its own.
		body, err := json.Marshal(c.Body)
		if err != nil {
			return b, err
		}
		b = append(b, `,"body":`...)
		b = append(b, body...)
	}
	return append(b, '}'), nil
}

// appendJSON mirrors AttemptStatus.MarshalJSON: json.Marshal of an int or a
// string gives what strconv.AppendInt and appendString do, and the compact
// pass encoding/json runs over a marshaler's output leaves both unchanged.
func (a AttemptStatus) appendJSON(b []byte) []byte {
	switch {
	case a.Status != 0:
		return strconv.AppendInt(b, int64(a.Status), 10)
	case a.Outcome == "":
		return append(b, `"error"`...)
	}
	return jsonenc.AppendString(b, a.Outcome)
}

func (e *ErrorBody) appendJSON(b []byte) []byte {
	b = append(b, `{"code":`...)
	b = jsonenc.AppendString(b, string(e.Code))
	b = append(b, `,"message":`...)
	b = jsonenc.AppendString(b, e.Message)
	if e.VendorStatus != 0 {
		b = append(b, `,"vendor_status":`...)
		b = strconv.AppendInt(b, int64(e.VendorStatus), 10)
	}
	if e.RetryAfter != 0 {
		b = append(b, `,"retry_after_s":`...)
		b = strconv.AppendInt(b, int64(e.RetryAfter), 10)
	}
	if len(e.Fields) > 0 {
		b = append(b, `,"errors":[`...)
		for i, f := range e.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"field":`...)
			b = jsonenc.AppendString(b, f.Field)
			if f.Target != "" {
				b = append(b, `,"target":`...)
				b = jsonenc.AppendString(b, f.Target)
			}
			b = append(b, `,"message":`...)
			b = jsonenc.AppendString(b, f.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendFields writes a list of fields where it is not omitempty: nil is
// null, as encoding/json writes a nil slice.
func appendFields(b []byte, fs []canonical.Field) []byte {
	if fs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, string(f))
	}
	return append(b, ']')
}
