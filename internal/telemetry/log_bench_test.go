package telemetry

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// BenchmarkRequestLog is the one log line per request (to io.Discard: the
// formatting, not the write), through Logger.LogAttrs, as a Record handed
// to the handler (LogAttrs also looks up its caller's program counter,
// which no handler here prints) and through LogRequest.
func BenchmarkRequestLog(b *testing.B) {
	log := NewLogger(io.Discard, slog.LevelInfo)
	ctx := context.Background()
	attrs := func() []slog.Attr {
		return []slog.Attr{slog.String("method", "PATCH"), slog.String("route", "/v1/users/:id"), slog.Int("status", 200),
			slog.String("outcome", "applied"), slog.Int64("latency_us", 3200), slog.String("client", "ops"),
			slog.String("idempotency", "miss"),
			slog.Attr{Key: "targets", Value: slog.GroupValue(slog.Attr{Key: "commvault", Value: slog.GroupValue(
				slog.String("status", "applied"), slog.Int("attempts", 1), slog.Int64("duration_ms", 1))})}}
	}
	b.Run("Logger.LogAttrs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			log.LogAttrs(ctx, slog.LevelInfo, "request", attrs()...)
		}
	})
	b.Run("Handler.Handle", func(b *testing.B) {
		h := log.Handler()
		b.ReportAllocs()
		for b.Loop() {
			r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
			r.AddAttrs(attrs()...)
			_ = h.Handle(ctx, r)
		}
	})
	// LogRequest, as the HTTP layer now writes the line: the same bytes
	// (TestLogRequestMatchesRecord), encoded from the line's fields.
	b.Run("LogRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var targets [4]TargetLine
			line := RequestLine{Method: "PATCH", Route: "/v1/users/:id", Status: 200, Outcome: "applied", LatencyUS: 3200,
				Client: "ops", HasClient: true, Idempotency: "miss", HasIdempotency: true,
				Targets: append(targets[:0], TargetLine{Name: "commvault", Status: "applied", Attempts: 1, DurationMS: 1})}
			LogRequest(ctx, log, time.Now(), &line)
		}
	})
}

// BenchmarkMeasurementOptions: a counter's Add with one attribute-set
// option, as built per call, against the same option passed as a slice
// kept with the set (Opts).
func BenchmarkMeasurementOptions(b *testing.B) {
	tel, err := Setup(context.Background(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	c, err := tel.MeterProvider.Meter("bench").Int64Counter("bench.calls")
	if err != nil {
		b.Fatal(err)
	}
	o := NewOpts(attribute.String("vendor", "commvault"))
	ctx := context.Background()
	b.Run("one option", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Add(ctx, 1, o.Add[0])
		}
	})
	b.Run("kept slice", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Add(ctx, 1, o.Add...)
		}
	})
}
