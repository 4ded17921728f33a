package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestMetricsExposition(t *testing.T) {
	tel, err := Setup(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	m, err := NewMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Request(ctx, "/v1/users/:id", "applied", 200, 3*time.Millisecond)
	m.Idempotency(ctx, "miss")
	m.Target(ctx, "frontier", "applied", 2*time.Millisecond)
	rec := httptest.NewRecorder()
	tel.Metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, n := range []string{"gateway_requests_total", "gateway_request_duration_seconds_bucket", "gateway_idempotency_total", "gateway_target_results_total", "gateway_target_duration_seconds_bucket"} {
		if !strings.Contains(body, n) {
			t.Errorf("%s missing from /metrics", n)
		}
	}
}

func TestLoggerTraceIDsAndRedaction(t *testing.T) {
	tel, err := Setup(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelInfo)
	ctx, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "s")
	log.InfoContext(ctx, "request", "password", "hunter2", "email", "jane@example.com", "route", "/v1/users/:id")
	span.End()
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["trace_id"] != span.SpanContext().TraceID().String() || line["span_id"] == nil {
		t.Errorf("ids missing: %v", line)
	}
	if strings.Contains(buf.String(), "hunter2") || strings.Contains(buf.String(), "jane@example.com") {
		t.Errorf("secret logged: %s", buf.String())
	}
}

// TestRedactKeys: any key containing a secret word is redacted, whatever its
// case, and a group under such a key is redacted whole.
func TestRedactKeys(t *testing.T) {
	for _, tc := range []struct {
		attr   slog.Attr
		redact bool
	}{
		{slog.String("password", "x"), true},
		{slog.String("PASSWORD", "x"), true},
		{slog.String("X-Api-Token", "x"), true},
		{slog.String("Set-Cookie", "x"), true},
		{slog.String("user_email", "x"), true},
		{slog.String("ÄVATAR", "x"), false}, // not "avatar" once lowered: Ä stays Ä
		{slog.Group("Credential_Secret", slog.String("value", "x")), true},
		{slog.String("route", "/v1/users/:id"), false},
		{slog.Int("status", 200), false},
	} {
		got := redact(nil, tc.attr)
		if red := got.Value.Kind() == slog.KindString && got.Value.String() == "[redacted]"; red != tc.redact {
			t.Errorf("%s: redacted %v, want %v", tc.attr.Key, red, tc.redact)
		}
	}
}

// TestOTLPHTTPDelivers runs a small OTLP/HTTP receiver on loopback and checks
// that spans really arrive, decoded with the OTLP protobufs.
func TestOTLPHTTPDelivers(t *testing.T) {
	var (
		mu    sync.Mutex
		names []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer srv.Close()
	tel, err := Setup(context.Background(), Config{Exporter: "otlp", Protocol: "http/protobuf", Endpoint: strings.TrimPrefix(srv.URL, "http://"), Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "PATCH /v1/users/:id")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(names) != 1 || names[0] != "PATCH /v1/users/:id" {
		t.Errorf("received spans %v", names)
	}
}

// TestHistogramExemplarsCarryTraceIDs: a latency recorded inside a sampled
// span shows, in the OpenMetrics exposition Prometheus asks for, an
// exemplar with that span's trace id, so a dashboard can jump from a slow
// bucket to its trace. Outside a span there is none.
func TestHistogramExemplarsCarryTraceIDs(t *testing.T) {
	tel, err := Setup(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	m, err := NewMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "request")
	m.Request(ctx, "/v1/users/:id", "applied", 200, 30*time.Millisecond)
	m.Target(ctx, "frontier", "applied", 20*time.Millisecond)
	span.End()
	m.Target(context.Background(), "akana", "applied", 20*time.Millisecond)

	scrape := func(accept string) string {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		tel.Metrics.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	body := scrape("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	tid := span.SpanContext().TraceID().String()
	for _, series := range []string{`gateway_request_duration_seconds_bucket{route="/v1/users/:id",le="0.05"}`, `gateway_target_duration_seconds_bucket{vendor="frontier",le="0.025"}`} {
		line := lineOf(body, series)
		// The exemplar's labels come in no fixed order (span_id may lead).
		if _, ex, ok := strings.Cut(line, " # {"); !ok || !strings.Contains(ex, `trace_id="`+tid+`"`) {
			t.Errorf("%s has no exemplar with trace %s: %q", series, tid, line)
		}
	}
	if line := lineOf(body, `gateway_target_duration_seconds_bucket{vendor="akana",le="0.025"}`); line == "" || strings.Contains(line, "#") {
		t.Errorf("a measurement outside any span got an exemplar: %q", line)
	}
	if strings.Contains(scrape(""), "trace_id") {
		t.Error("the classic text format (no OpenMetrics asked) shows exemplars")
	}
}

func lineOf(body, prefix string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return l
		}
	}
	return ""
}
