package telemetry

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// RequestLine is the one log line written per request: what LogRequest
// writes as the record "request" with these attributes, in this order.
type RequestLine struct {
	Method    string
	Route     string
	Status    int
	Outcome   string
	LatencyUS int64
	// Client is written when HasClient, Idempotency when HasIdempotency
	// (either may be empty), the targets group when it holds a target (slog
	// omits an empty group) and error_code when not empty.
	Client         string
	HasClient      bool
	Idempotency    string
	HasIdempotency bool
	Targets        []TargetLine
	ErrorCode      string
}

// TargetLine is one target's group in the request line, keyed by Name.
type TargetLine struct {
	Name       string
	Status     string
	Attempts   int
	DurationMS int64
	Code       string // written when not empty
}

// LogRequest writes line at info level, stamped end, as the record
// "request" whose attributes RequestLine lists. With the handler NewLogger
// made, the line is encoded straight from line: building the slog.Attrs
// (a group per target), copying them into a Record and walking them back
// out was about half of the line's cost under load (issue 25;
// BenchmarkRequestLog). TestLogRequestMatchesRecord holds the two to the
// same bytes; any other handler gets the Record.
func LogRequest(ctx context.Context, l *slog.Logger, end time.Time, line *RequestLine) {
	h := l.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	if jh, ok := h.(*jsonHandler); ok && jh.open == 0 && len(jh.pending) == 0 && line.named() {
		_ = jh.request(ctx, end, line) // as Logger drops it: a log line's failure is not the request's
		return
	}
	r := slog.NewRecord(end, slog.LevelInfo, "request", 0)
	r.AddAttrs(line.attrs()...)
	_ = h.Handle(ctx, r)
}

// named reports whether every target has a name: a group without a key
// is inlined into its parent, which only the Record path does.
func (line *RequestLine) named() bool {
	for _, t := range line.Targets {
		if t.Name == "" {
			return false
		}
	}
	return true
}

// attrs is line as slog attributes, in the order the direct encoding
// writes them.
func (line *RequestLine) attrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("method", line.Method),
		slog.String("route", line.Route),
		slog.Int("status", line.Status),
		slog.String("outcome", line.Outcome),
		slog.Int64("latency_us", line.LatencyUS),
	)
	if line.HasClient {
		attrs = append(attrs, slog.String("client", line.Client))
	}
	if line.HasIdempotency {
		attrs = append(attrs, slog.String("idempotency", line.Idempotency))
	}
	if len(line.Targets) > 0 {
		targets := make([]slog.Attr, 0, len(line.Targets))
		for _, t := range line.Targets {
			ta := append(make([]slog.Attr, 0, 4), slog.String("status", t.Status), slog.Int("attempts", t.Attempts), slog.Int64("duration_ms", t.DurationMS))
			if t.Code != "" {
				ta = append(ta, slog.String("code", t.Code))
			}
			targets = append(targets, slog.Attr{Key: t.Name, Value: slog.GroupValue(ta...)})
		}
		attrs = append(attrs, slog.Attr{Key: "targets", Value: slog.GroupValue(targets...)})
	}
	if line.ErrorCode != "" {
		attrs = append(attrs, slog.String("error_code", line.ErrorCode))
	}
	return attrs
}

// request is Handle for the request line, on a handler with no open or
// pending group: the bytes appendAttr writes for line.attrs(). The line's
// own keys are plain (plainKey); a target's name is checked as appendAttr
// checks a group's key.
func (h *jsonHandler) request(ctx context.Context, end time.Time, line *RequestLine) error {
	bp := h.bufs.Get().(*[]byte)
	b := append((*bp)[:0], '{')
	if !end.IsZero() {
		b = append(b, `"time":"`...)
		b = end.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":"INFO","msg":"request"`...)
	b = append(b, h.pre...)
	b = appendString(append(b, `,"method":`...), line.Method)
	b = appendString(append(b, `,"route":`...), line.Route)
	b = strconv.AppendInt(append(b, `,"status":`...), int64(line.Status), 10)
	b = appendString(append(b, `,"outcome":`...), line.Outcome)
	b = strconv.AppendInt(append(b, `,"latency_us":`...), line.LatencyUS, 10)
	if line.HasClient {
		b = appendString(append(b, `,"client":`...), line.Client)
	}
	if line.HasIdempotency {
		b = appendString(append(b, `,"idempotency":`...), line.Idempotency)
	}
	if len(line.Targets) > 0 {
		b = append(b, `,"targets":{`...)
		for i, t := range line.Targets {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t.Name)
			if secretKey(t.Name) {
				b = append(b, `:"[redacted]"`...)
				continue
			}
			b = appendString(append(b, `:{"status":`...), t.Status)
			b = strconv.AppendInt(append(b, `,"attempts":`...), int64(t.Attempts), 10)
			b = strconv.AppendInt(append(b, `,"duration_ms":`...), t.DurationMS, 10)
			if t.Code != "" {
				b = appendString(append(b, `,"code":`...), t.Code)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if line.ErrorCode != "" {
		b = appendString(append(b, `,"error_code":`...), line.ErrorCode)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		b, _ = appendIDs(b, sc, nil, 0)
	}
	return h.write(bp, append(b, "}\n"...))
}
