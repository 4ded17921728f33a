package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// wrapped hides the handler's type, so LogRequest takes the Record path.
type wrapped struct{ slog.Handler }

// TestLogRequestMatchesRecord: LogRequest writes, byte for byte, what the
// handler writes for the record "request" with the line's attributes,
// spelt out here as the HTTP layer built them before LogRequest existed:
// on the direct path (NewLogger's handler), on the Record path (any other
// handler, or one inside a group) and whatever the line holds.
func TestLogRequestMatchesRecord(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0x4b, 0xf9, 0x2f}, SpanID: trace.SpanID{0, 0xf0, 0x67}, TraceFlags: 1})
	traced := trace.ContextWithSpanContext(context.Background(), sc)
	when := time.Date(2026, 12, 3, 12, 9, 5, 123456789, time.UTC)
	target := func(name, status string, attempts int, ms int64, code string) slog.Attr {
		as := []slog.Attr{slog.String("status", status), slog.Int("attempts", attempts), slog.Int64("duration_ms", ms)}
		if code != "" {
			as = append(as, slog.String("code", code))
		}
		return slog.Attr{Key: name, Value: slog.GroupValue(as...)}
	}
	base := func(method, route string, status int, outcome string, us int64) []slog.Attr {
		return []slog.Attr{slog.String("method", method), slog.String("route", route), slog.Int("status", status),
			slog.String("outcome", outcome), slog.Int64("latency_us", us)}
	}
	cases := []struct {
		name string
		line RequestLine
		want []slog.Attr
	}{
		{"bare", RequestLine{Method: "GET", Route: "unmatched", Status: 404, Outcome: "not_found", LatencyUS: 12},
			base("GET", "unmatched", 404, "not_found", 12)},
		{"one target",
			RequestLine{Method: "PATCH", Route: "/v1/users/:id", Status: 200, Outcome: "applied", LatencyUS: 3200,
				Client: "ops", HasClient: true, Idempotency: "miss", HasIdempotency: true,
				Targets: []TargetLine{{Name: "commvault", Status: "applied", Attempts: 1, DurationMS: 1}}},
			append(base("PATCH", "/v1/users/:id", 200, "applied", 3200), slog.String("client", "ops"), slog.String("idempotency", "miss"),
				slog.Attr{Key: "targets", Value: slog.GroupValue(target("commvault", "applied", 1, 1, ""))})},
		{"failed targets, a secret-looking target name, escapes",
			RequestLine{Method: "PATCH", Route: "/v1/users/:id", Status: 502, Outcome: "failed", LatencyUS: -1,
				Client: "a \"quoted\"\n\xff client", HasClient: true, Idempotency: "", HasIdempotency: true,
				Targets: []TargetLine{
					{Name: "akana", Status: "failed", Attempts: 3, DurationMS: 2500, Code: "upstream_unavailable"},
					{Name: "okta_token", Status: "applied", Attempts: 1, DurationMS: 4},
					{Name: "Ünïcode\u2028", Status: "skipped"},
				}, ErrorCode: "upstream_unavailable"},
			append(base("PATCH", "/v1/users/:id", 502, "failed", -1), slog.String("client", "a \"quoted\"\n\xff client"), slog.String("idempotency", ""),
				slog.Attr{Key: "targets", Value: slog.GroupValue(target("akana", "failed", 3, 2500, "upstream_unavailable"),
					target("okta_token", "applied", 1, 4, ""), target("Ünïcode\u2028", "skipped", 0, 0, ""))},
				slog.String("error_code", "upstream_unavailable"))},
		{"a result without targets: no group",
			RequestLine{Method: "PATCH", Route: "/v1/users/:id", Status: 200, Outcome: "applied", HasIdempotency: true, Idempotency: "replayed"},
			append(base("PATCH", "/v1/users/:id", 200, "applied", 0), slog.String("idempotency", "replayed"), slog.Attr{Key: "targets", Value: slog.GroupValue()})},
		{"a target without a name is inlined, as slog inlines it",
			RequestLine{Method: "PATCH", Route: "/v1/users/:id", Status: 200, Outcome: "applied",
				Targets: []TargetLine{{Status: "applied", Attempts: 1}}},
			append(base("PATCH", "/v1/users/:id", 200, "applied", 0), slog.Attr{Key: "targets", Value: slog.GroupValue(target("", "applied", 1, 0, ""))})},
		{"a problem",
			RequestLine{Method: "PATCH", Route: "/v1/users/:id", Status: 400, Outcome: "invalid_request", LatencyUS: 80, ErrorCode: "invalid_request"},
			append(base("PATCH", "/v1/users/:id", 400, "invalid_request", 80), slog.String("error_code", "invalid_request"))},
	}
	loggers := []struct {
		name string
		make func(*bytes.Buffer) *slog.Logger
	}{
		{"NewLogger", func(b *bytes.Buffer) *slog.Logger { return NewLogger(b, slog.LevelInfo) }},
		{"with attributes", func(b *bytes.Buffer) *slog.Logger {
			return NewLogger(b, slog.LevelInfo).With("component", "gateway", "api_key", "k")
		}},
		{"in a group", func(b *bytes.Buffer) *slog.Logger { return NewLogger(b, slog.LevelInfo).WithGroup("http") }},
		{"another handler", func(b *bytes.Buffer) *slog.Logger {
			return slog.New(wrapped{NewLogger(b, slog.LevelInfo).Handler()})
		}},
	}
	for _, lc := range loggers {
		for _, tc := range cases {
			for _, ctx := range []context.Context{context.Background(), traced} {
				for _, end := range []time.Time{when, {}} {
					var got, want bytes.Buffer
					LogRequest(ctx, lc.make(&got), end, &tc.line)
					r := slog.NewRecord(end, slog.LevelInfo, "request", 0)
					r.AddAttrs(tc.want...)
					if err := lc.make(&want).Handler().Handle(ctx, r); err != nil {
						t.Fatal(err)
					}
					if got.String() != want.String() {
						t.Errorf("%s, %s (traced %v, time %v):\n got %s\nwant %s", lc.name, tc.name, ctx != context.Background(), !end.IsZero(), got.String(), want.String())
					}
				}
			}
		}
	}
}

// TestLogRequestLevel: a logger above info writes no request line.
func TestLogRequestLevel(t *testing.T) {
	var b bytes.Buffer
	LogRequest(context.Background(), NewLogger(&b, slog.LevelWarn), time.Now(), &RequestLine{Method: "GET", Route: "/v1/users/:id"})
	if b.Len() != 0 {
		t.Fatalf("wrote %q", b.String())
	}
}
