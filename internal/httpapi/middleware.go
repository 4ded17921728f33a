package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// headerCarrier reads W3C trace headers from a Fiber request.
type headerCarrier struct{ c *fiber.Ctx }

func (h headerCarrier) Get(k string) string { return h.c.Get(k) }
func (h headerCarrier) Set(string, string)  {}
func (h headerCarrier) Keys() []string      { return []string{"traceparent", "tracestate", "baggage"} }

// telemetry opens the server span (continuing an inbound traceparent),
// then records the request metric and writes the one log line per request.
func (s *server) telemetry(c *fiber.Ctx) error {
	start := time.Now()
	ctx := s.o.Propagator.Extract(context.Background(), headerCarrier{c})
	method := strings.Clone(c.Method())
	// The attributes are set once, when the route and status are known
	// (each SetAttributes call grows the span's slice), and say only what
	// varies: the scheme and protocol version were the same on every span
	// and cost their encoding in each export.
	ctx, span := s.tracer.Start(ctx, method, s.serverSpan...)
	defer span.End()
	c.SetUserContext(ctx)

	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	route := routeOf(c)
	status := c.Response().StatusCode()
	span.SetName(method + " " + route)
	span.SetAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route),
		attribute.Int("http.response.status_code", status), attribute.String("user_agent.original", strings.Clone(c.Get(fiber.HeaderUserAgent))))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	outcome := outcomeOf(c, status)
	d := time.Since(start)
	if s.o.Observer != nil {
		s.o.Observer.Request(ctx, route, outcome, status, d)
	}
	if route != "/healthz" && route != "/readyz" && route != "/metrics" {
		s.logRequest(ctx, c, method, route, status, outcome, start.Add(d), d)
	}
	return nil
}

// routeOf is the matched route pattern (bounded, no user ids).
func routeOf(c *fiber.Ctx) string {
	r := c.Route()
	// A request no route took ends on a middleware (USE) route.
	if r == nil || r.Path == "/" || r.Path == "" || r.Method == "USE" {
		return "unmatched"
	}
	return r.Path
}

func outcomeOf(c *fiber.Ctx, status int) string {
	if e, ok := c.Locals(problemKey).(*canonical.Error); ok && e != nil {
		return string(e.Code)
	}
	if out, ok := c.Locals(outputKey).(*dispatch.Output); ok && out != nil {
		if out.Replayed {
			return "replayed"
		}
		if out.Result != nil {
			return string(out.Result.Status)
		}
	}
	if status >= 400 {
		return "error"
	}
	return "ok"
}

// logRequest writes the request's line straight to the handler, stamped
// with the request's end: Logger.LogAttrs would also look up its caller's
// program counter, which no handler here prints and which for this line
// is always this function (a fifth of the line's cost under load).
func (s *server) logRequest(ctx context.Context, c *fiber.Ctx, method, route string, status int, outcome string, end time.Time, d time.Duration) {
	h := s.o.Logger.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("method", method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.String("outcome", outcome),
		// An integer: slog encodes a float64 through encoding/json.
		slog.Int64("latency_us", d.Microseconds()),
	)
	if cl, ok := c.Locals(clientKey).(*Client); ok && cl != nil {
		attrs = append(attrs, slog.String("client", cl.Name))
	}
	if out, ok := c.Locals(outputKey).(*dispatch.Output); ok && out != nil {
		attrs = append(attrs, slog.String("idempotency", out.Idempotency))
		if out.Result != nil {
			// Attrs built directly: slog.Group's ...any form converts again.
			targets := make([]slog.Attr, 0, len(out.Result.Results))
			for name, r := range out.Result.Results {
				ta := append(make([]slog.Attr, 0, 4), slog.String("status", string(r.Status)), slog.Int("attempts", r.Attempts), slog.Int64("duration_ms", r.DurationMS))
				if r.Error != nil {
					ta = append(ta, slog.String("code", string(r.Error.Code)))
				}
				targets = append(targets, slog.Attr{Key: name, Value: slog.GroupValue(ta...)})
			}
			attrs = append(attrs, slog.Attr{Key: "targets", Value: slog.GroupValue(targets...)})
		}
	}
	if e, ok := c.Locals(problemKey).(*canonical.Error); ok && e != nil {
		attrs = append(attrs, slog.String("error_code", string(e.Code)))
	}
	r := slog.NewRecord(end, slog.LevelInfo, "request", 0)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r) // as Logger drops it: a log line's failure is not the request's
}
