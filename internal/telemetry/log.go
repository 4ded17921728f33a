package telemetry

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns a JSON logger that adds trace_id and span_id from the
// context's span and redacts attributes whose keys look secret.
//
// Its handler writes the lines slog.JSONHandler writes (the same keys, value
// encodings and time format; TestLogMatchesJSONHandler compares them),
// straight into a pooled buffer. slog.JSONHandler with a ReplaceAttr for
// the redaction was the costliest part of the telemetry after the spans
// (about 6% of the gateway's CPU under load, issue 25): it calls
// ReplaceAttr through its generic state machine for every attribute and
// built-in, and the trace ids were added as attributes first.
// BenchmarkRequestLog compares the two.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	return slog.New(&jsonHandler{w: w, mu: &sync.Mutex{}, level: level,
		bufs: &sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}})
}

var secretKeys = []string{"password", "passwd", "token", "secret", "authorization", "cookie", "csrf", "api_key", "api-key", "apikey", "email", "avatar"}

// secretKey reports whether an attribute's key names a secret or personal
// value, whatever its case.
func secretKey(k string) bool {
	return !plainKey(k) && namesSecret(k)
}

// plainKey reports the request line's own keys, met on every request, and
// the built-in vendors' names (the line's per-target groups): the search
// in namesSecret was a third of the line's cost, and a linear scan of
// these keys still a tenth (BenchmarkRequestLog). A switch compiles to a
// search by length and contents. TestPlainKeysAreNotSecret checks each
// key of plainKeys against namesSecret, and that plainKey knows each.
func plainKey(k string) bool {
	switch k {
	case "method", "route", "status", "outcome", "latency_us", "client", "idempotency",
		"targets", "attempts", "duration_ms", "code", "error_code",
		"akana", "commvault", "frontier", "volterra":
		return true
	}
	return false
}

// plainKeys lists plainKey's keys, for the test.
var plainKeys = [...]string{"method", "route", "status", "outcome", "latency_us", "client", "idempotency",
	"targets", "attempts", "duration_ms", "code", "error_code", "akana", "commvault", "frontier", "volterra"}

// namesSecret reports whether k contains one of secretKeys, in any case.
func namesSecret(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			k = strings.ToLower(k) // most keys are lower case already: no copy for them
			break
		}
	}
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// redact replaces a secret-looking attribute's value, a group's included.
func redact(_ []string, a slog.Attr) slog.Attr {
	if secretKey(a.Key) {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}

// jsonHandler is the logger's slog.Handler: one JSON object per record.
type jsonHandler struct {
	w     io.Writer
	mu    *sync.Mutex // one Write at a time, shared by the derived handlers
	bufs  *sync.Pool  // line buffers (*[]byte), shared by the derived handlers
	level slog.Leveler
	// pre holds the attributes of WithAttrs, encoded, each preceded by a
	// comma (or a group's opening brace), inside the groups opened so far
	// (open of them).
	pre  []byte
	open int
	// pending are groups named by WithGroup that hold no attribute yet:
	// opened only once one is written, as slog omits empty groups.
	pending []string
}

func (h *jsonHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *jsonHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	// pre follows "msg":..., so it starts with a comma (comma adds one to
	// an empty slice).
	pre := append([]byte(nil), h.pre...)
	for _, a := range as {
		before := c.open
		if pre, c.open = appendAttr(pre, a, c.pending, c.open); c.open > before {
			c.pending = nil
		}
	}
	if len(pre) == len(h.pre) {
		return h // nothing written
	}
	c.pre = pre
	return &c
}

func (h *jsonHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.pending = append(append([]string(nil), h.pending...), name)
	return &c
}

func (h *jsonHandler) Handle(ctx context.Context, r slog.Record) error {
	bp := h.bufs.Get().(*[]byte)
	b := append((*bp)[:0], '{')
	if !r.Time.IsZero() {
		b = append(b, `"time":"`...)
		b = r.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":`...)
	b = appendString(b, r.Level.String())
	b = append(b, `,"msg":`...)
	b = appendString(b, r.Message)
	b = append(b, h.pre...)
	open := h.open
	pending := h.pending
	r.Attrs(func(a slog.Attr) bool {
		before := open
		b, open = appendAttr(b, a, pending, open)
		if open > before {
			pending = nil
		}
		return true
	})
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		b, open = appendIDs(b, sc, pending, open)
	}
	for ; open > 0; open-- {
		b = append(b, '}')
	}
	return h.write(bp, append(b, "}\n"...))
}

// write writes one line and returns its buffer to the pool (unless a huge
// line grew it).
func (h *jsonHandler) write(bp *[]byte, b []byte) error {
	h.mu.Lock()
	_, err := h.w.Write(b)
	h.mu.Unlock()
	if cap(b) <= 16<<10 {
		*bp = b
		h.bufs.Put(bp)
	}
	return err
}

// appendIDs writes the trace and span ids, as slog would have written the
// two attributes.
func appendIDs(b []byte, sc trace.SpanContext, pending []string, open int) ([]byte, int) {
	b, open = openGroups(b, pending, open)
	tid, sid := sc.TraceID(), sc.SpanID()
	b = append(comma(b), `"trace_id":"`...)
	b = appendHex(b, tid[:])
	b = append(b, `","span_id":"`...)
	b = appendHex(b, sid[:])
	return append(b, '"'), open
}

func appendHex(b []byte, p []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range p {
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}

// comma separates a member from the one before it: none right after an
// object's opening brace.
func comma(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '{' {
		return b
	}
	return append(b, ',')
}

// openGroups opens the pending groups before the first attribute in them.
func openGroups(b []byte, pending []string, open int) ([]byte, int) {
	for _, g := range pending {
		b = appendString(comma(b), g)
		b = append(b, ":{"...)
		open++
	}
	return b, open
}

// appendAttr writes "key":value (inside the pending groups, opened first),
// redacting secret-looking keys; empty attributes and groups are omitted,
// as slog omits them.
func appendAttr(b []byte, a slog.Attr, pending []string, open int) ([]byte, int) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b, open
	}
	if a.Value.Kind() == slog.KindGroup && !secretKey(a.Key) {
		as := a.Value.Group()
		if len(as) == 0 {
			return b, open
		}
		if a.Key != "" {
			b, open = openGroups(b, pending, open)
			b = appendString(comma(b), a.Key)
			b = append(b, ":{"...)
			for _, m := range as {
				b, _ = appendAttr(b, m, nil, 0)
			}
			return append(b, '}'), open
		}
		for _, m := range as { // a group without a key is inlined, as slog does
			before := open
			if b, open = appendAttr(b, m, pending, open); open > before {
				pending = nil
			}
		}
		return b, open
	}
	if secretKey(a.Key) {
		a.Value = slog.StringValue("[redacted]")
	}
	b, open = openGroups(b, pending, open)
	b = appendString(comma(b), a.Key)
	b = append(b, ':')
	return appendValue(b, a.Value), open
}

// appendValue encodes v as slog.JSONHandler does.
func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return strconv.AppendInt(b, int64(v.Duration()), 10)
	case slog.KindTime:
		return appendString(b, v.Time().Format(time.RFC3339Nano))
	case slog.KindFloat64:
		// json.Marshal, as slog: it differs from strconv for some floats.
		return appendMarshal(b, v.Float64())
	}
	a := v.Any()
	if err, ok := a.(error); ok {
		if _, ok := a.(json.Marshaler); !ok {
			return appendString(b, err.Error())
		}
	}
	return appendMarshal(b, a)
}

func appendMarshal(b []byte, v any) []byte {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return appendString(b, "!ERROR:"+err.Error())
	}
	return append(b, strings.TrimSuffix(sb.String(), "\n")...)
}

// appendString writes s as a JSON string, escaped as slog escapes it:
// quotes, backslashes and control characters; invalid UTF-8 as U+FFFD;
// U+2028 and U+2029 (which break JavaScript parsers) as \u escapes.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = appendHex(b, []byte{c})
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, "0123456789abcdef"[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
