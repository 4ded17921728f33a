package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// slogReference is the handler NewLogger used before its own: slog's JSON
// handler with the redaction as ReplaceAttr, and the trace ids added as
// attributes. The two must write the same bytes.
type slogReference struct{ slog.Handler }

func (h slogReference) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h slogReference) WithAttrs(as []slog.Attr) slog.Handler {
	return slogReference{h.Handler.WithAttrs(as)}
}
func (h slogReference) WithGroup(name string) slog.Handler {
	return slogReference{h.Handler.WithGroup(name)}
}

type marshaler struct{}

func (marshaler) MarshalJSON() ([]byte, error) { return []byte(`{"m":1}`), nil }

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("resolved") }

// TestLogMatchesJSONHandler: the logger's handler writes, byte for byte,
// what slog.JSONHandler with the redaction wrote, for every kind of value,
// escapes, groups (nested, empty, derived with WithGroup and WithAttrs) and
// the trace ids.
func TestLogMatchesJSONHandler(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0x4b, 0xf9, 0x2f}, SpanID: trace.SpanID{0, 0xf0, 0x67}, TraceFlags: 1})
	traced := trace.ContextWithSpanContext(context.Background(), sc)
	when := time.Date(2026, 12, 1, 22, 9, 5, 123456789, time.UTC)
	every := []slog.Attr{
		slog.String("s", "plain"), slog.String("esc", "q\"b\\n\n\r\t\x01<&>\u2028\u2029é\xff"), slog.Int("i", -3), slog.Uint64("u", 7),
		slog.Bool("b", true), slog.Float64("f", 1.5), slog.Float64("big", 1e21), slog.Float64("nan", math.NaN()),
		slog.Duration("d", 1500*time.Millisecond), slog.Time("t", when.Add(time.Hour)),
		slog.Any("err", errors.New("boom")), slog.Any("m", marshaler{}), slog.Any("slice", []int{1, 2}), slog.Any("nil", nil),
		slog.Any("v", valuer{}), slog.Group("g", slog.Int("a", 1), slog.Group("h", slog.String("x", "y"))), slog.Group("empty"),
		slog.Group("", slog.String("inlined", "1")), {},
		slog.String("password", "hunter2"), slog.String("User_Email", "jane@example.com"), slog.Int("token_count", 3),
	}
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		derive func(*slog.Logger) *slog.Logger
		attrs  []slog.Attr
	}{
		{"every kind", context.Background(), nil, every},
		{"no attributes, traced", traced, nil, nil},
		{"traced", traced, nil, every[:3]},
		{"with attrs", traced, func(l *slog.Logger) *slog.Logger { return l.With("a", 1, "secret", "x") }, every[:2]},
		{"with group, no attributes", traced, func(l *slog.Logger) *slog.Logger { return l.WithGroup("g") }, nil},
		{"with group", context.Background(), func(l *slog.Logger) *slog.Logger { return l.WithGroup("g") }, every[:2]},
		{"with group, traced", traced, func(l *slog.Logger) *slog.Logger { return l.WithGroup("g") }, every[:1]},
		{"groups and attrs", traced, func(l *slog.Logger) *slog.Logger {
			return l.With("a", 1).WithGroup("g").With("b", 2).WithGroup("h").WithGroup("i")
		}, every[:4]},
		{"with empty attrs", context.Background(), func(l *slog.Logger) *slog.Logger { return l.WithGroup("g").With() }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want bytes.Buffer
			mine := NewLogger(&got, slog.LevelInfo)
			ref := slog.New(slogReference{slog.NewJSONHandler(&want, &slog.HandlerOptions{ReplaceAttr: redact})})
			if tc.derive != nil {
				mine, ref = tc.derive(mine), tc.derive(ref)
			}
			for _, l := range []*slog.Logger{mine, ref} {
				r := slog.NewRecord(when, slog.LevelWarn+1, "request \"x\"", 0)
				r.AddAttrs(tc.attrs...)
				if err := l.Handler().Handle(tc.ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if got.String() != want.String() {
				t.Errorf("got  %s\nwant %s", got.String(), want.String())
			}
			if strings.Contains(got.String(), "hunter2") || strings.Contains(got.String(), "jane@") {
				t.Errorf("a secret was written: %s", got.String())
			}
		})
	}
	if NewLogger(nil, slog.LevelWarn).Enabled(context.Background(), slog.LevelInfo) {
		t.Error("info is enabled at level warn")
	}
}

// The keys secretKey passes without a search would pass the search too,
// and a secret-looking key still does not.
func TestPlainKeysAreNotSecret(t *testing.T) {
	for _, k := range plainKeys {
		if namesSecret(k) {
			t.Errorf("plain key %q names a secret", k)
		}
		if !plainKey(k) {
			t.Errorf("plainKey(%q) = false", k)
		}
	}
	for _, k := range []string{"", "Method", "methods", "route_token", "email"} {
		if plainKey(k) {
			t.Errorf("plainKey(%q) = true", k)
		}
	}
	for _, k := range []string{"password", "X-Api-Key", "session_token", "Email", "avatar_bytes"} {
		if !secretKey(k) {
			t.Errorf("secretKey(%q) = false", k)
		}
	}
}
