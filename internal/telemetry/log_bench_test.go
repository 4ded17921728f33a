package telemetry

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkRequestLog is the one log line per request, as the HTTP layer
// writes it (to io.Discard: the formatting, not the write).
func BenchmarkRequestLog(b *testing.B) {
	log := NewLogger(io.Discard, slog.LevelInfo)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("method", "PATCH"), slog.String("route", "/v1/users/:id"), slog.Int("status", 200),
			slog.String("outcome", "applied"), slog.Int64("latency_us", 3200), slog.String("client", "ops"),
			slog.String("idempotency", "miss"),
			slog.Attr{Key: "targets", Value: slog.GroupValue(slog.Attr{Key: "commvault", Value: slog.GroupValue(
				slog.String("status", "applied"), slog.Int("attempts", 1), slog.Int64("duration_ms", 1))})})
	}
}
