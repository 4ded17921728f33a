package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/identity-gateway/identity-gateway/adapters/akana/akanasim"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/adapters/volterra/volterrasim"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/telemetry"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestNoSecretsInTelemetry runs a full update of every field on every
// vendor and scans every span attribute and event, every log line and the
// /metrics exposition for secrets and PII.
func TestNoSecretsInTelemetry(t *testing.T) {
	sims, cfg := devSims(t)
	rec := tracetest.NewSpanRecorder()
	logs := &syncBuffer{}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: logs, AuthNone: true, SpanProcessors: []sdktrace.SpanProcessor{rec}})

	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
	avatar := base64.StdEncoding.EncodeToString(png)
	const (
		email    = "leaky.person@example.org"
		password = "Pa55-w0rd-Never-Logged"
		current  = "Old-Pa55-Never-Logged"
	)
	body := fmt.Sprintf(`{"targets":["volterra","akana","commvault","frontier"],"on_unsupported":"skip","user":{
		"username":"jqd","email":%q,"given_name":"Jane","family_name":"Doe","display_name":"Jane Doe","enabled":true,
		"otp_enabled":true,"notifications":["ticket.change"],"avatar":{"content_type":"image/png","data":%q},
		"groups":{"op":"add","items":[{"id":3}]},"password":{"new":%q,"current":%q},"metadata":{"description":"x"},
		"principal_name":"jqd@corp.example","auth_method":"LOCAL","plan":{"id":7}}}`, email, avatar, password, current)
	// One injected 503 so the retry metrics exist in the scrape below.
	fault(t, sims, "commvault", `{"fail_times":1,"status":503}`)
	req, _ := http.NewRequest("PATCH", base+"/v1/users/demo", strings.NewReader(body))
	req.Header.Set("Idempotency-Key", "telemetry-1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var res result.Result
	_ = json.Unmarshal(out, &res)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if res.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace_id %q does not continue the inbound traceparent", res.TraceID)
	}
	// A read of the demo user, whose platforms disagree, so the drift
	// counter is in the scrape and the read's spans are scanned too.
	if status, _, b := call(t, "GET", base+"/v1/users/demo", ""); status != 200 {
		t.Fatalf("GET %d %s", status, b)
	}
	mresp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	// The memory store's early evictions are exported (none here).
	if !bytes.Contains(metrics, []byte("gateway_idempotency_evictions_total 0")) {
		t.Error("/metrics lacks gateway_idempotency_evictions_total")
	}
	// Every series the Grafana dashboard queries exists in a real scrape.
	dash, err := os.ReadFile("../../deploy/grafana/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`gateway_[a-z_]+`).FindAllString(string(dash), -1) {
		if !bytes.Contains(metrics, []byte(name)) {
			t.Errorf("the dashboard queries %s, which /metrics does not expose", name)
		}
	}

	// The vendor saw the same trace id.
	_, _, reqs := call(t, "GET", sims.addrs["frontier"]+"/_sim/requests", "")
	if !bytes.Contains(reqs, []byte("4bf92f3577b34da6a3ce929d0e0e4736")) {
		t.Error("frontier did not receive the trace id in traceparent")
	}

	secrets := []string{email, password, current, avatar, base64.StdEncoding.EncodeToString([]byte(password)), base64.StdEncoding.EncodeToString([]byte(current)),
		frontiersim.DemoClientSecret, volterrasim.DemoToken, akanasim.DemoAdminPassword, commvaultsim.DemoPassword,
		base64.StdEncoding.EncodeToString([]byte(commvaultsim.DemoPassword)), "QSDK ", "AtmoAuthToken_", "Csrf-Token_", "APIToken ", "Basic "}
	var haystack strings.Builder
	spans := rec.Ended()
	if len(spans) < 8 {
		t.Errorf("only %d spans recorded", len(spans))
	}
	reads := 0
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "read ") && s.Parent().IsValid() {
			reads++ // the read's per-target spans, as a write's "target" spans
		}
	}
	if reads != 4 {
		t.Errorf("%d read spans, want one per target", reads)
	}
	kinds := map[string]int{}
	for _, s := range spans {
		if s.SpanKind().String() != "server" || s.Name() == "PATCH /v1/users/:id" {
			kinds[s.SpanKind().String()]++
		}
		haystack.WriteString(s.Name())
		for _, a := range s.Attributes() {
			haystack.WriteString(" " + string(a.Key) + "=" + a.Value.String())
		}
		for _, e := range s.Events() {
			haystack.WriteString(" " + e.Name)
			for _, a := range e.Attributes {
				haystack.WriteString(" " + string(a.Key) + "=" + a.Value.String())
			}
		}
	}
	if kinds["server"] != 1 || kinds["client"] < 4 {
		t.Errorf("span kinds %v", kinds)
	}
	haystack.WriteString(logs.String())
	haystack.Write(metrics)
	all := haystack.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("telemetry contains a secret or PII value: %q", s)
		}
	}
	if !strings.Contains(logs.String(), `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("request log line lacks the trace id: %s", logs.String())
	}
}

// TestMetricsExemplarsLinkTraces: after one update, the OpenMetrics
// exposition's latency buckets (request, target and vendor call) carry an
// exemplar with the trace id the response reports.
func TestMetricsExemplarsLinkTraces(t *testing.T) {
	base, _ := devGateway(t)
	// A bucket's exemplar is a sample (Algorithm L), not the latest
	// measurement, so a few updates are sent: every latency series must
	// carry trace-id exemplars, and they must name traces the responses
	// reported (never an unknown id).
	traces := map[string]bool{}
	var missing []string
	for i := range 5 {
		status, _, body := call(t, "PATCH", base+"/v1/users/demo", fmt.Sprintf(`{"targets":["commvault"],"user":{"display_name":"Exemplar %d"}}`, i))
		var res struct {
			TraceID string `json:"trace_id"`
		}
		if err := json.Unmarshal(body, &res); status != 200 || err != nil || res.TraceID == "" {
			t.Fatalf("%d %s", status, body)
		}
		traces[res.TraceID] = true
		_, hdr, metrics := call(t, "GET", base+"/metrics", "", "Accept", "application/openmetrics-text;version=1.0.0")
		if !strings.HasPrefix(hdr.Get("Content-Type"), "application/openmetrics-text") {
			t.Fatalf("content type %q", hdr.Get("Content-Type"))
		}
		missing = missing[:0]
		for _, series := range []string{"gateway_request_duration_seconds_bucket{", `gateway_target_duration_seconds_bucket{vendor="commvault"`, `gateway_vendor_call_duration_seconds_bucket{vendor="commvault"`} {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + `.* # \{[^}]*trace_id="([0-9a-f]{32})"`)
			own := false
			for _, x := range re.FindAllSubmatch(metrics, -1) {
				own = own || traces[string(x[1])]
			}
			if !own {
				missing = append(missing, series)
			}
		}
		if len(missing) == 0 {
			return
		}
	}
	t.Errorf("after 5 updates, no bucket of %v has an exemplar naming one of their traces", missing)
}

// TestDashboardMetricsAreExported: after a keyed update with an injected
// retry, the gateway's own /metrics holds every series
// telemetry.MetricNames lists and every gateway_ series a panel of
// deploy/grafana/dashboard.json queries (deploy's tests check the panels
// against MetricNames without running anything).
func TestDashboardMetricsAreExported(t *testing.T) {
	base, sims := devGateway(t)
	fault(t, sims, "commvault", `{"fail_times":1,"status":503,"path_prefix":"/V4/user"}`)
	status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["commvault","frontier"],"user":{"display_name":"Dash Board"}}`, "Idempotency-Key", "dashboard-metrics-1")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	_, _, metrics := call(t, "GET", base+"/metrics", "")
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(gateway_[a-z_]+)`).FindAllStringSubmatch(string(metrics), -1) {
		exported[m[1]] = true
	}
	dash, err := os.ReadFile("../../deploy/grafana/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	names := append(telemetry.MetricNames(), regexp.MustCompile(`gateway_[a-z_]+`).FindAllString(string(dash), -1)...)
	// Series that exist only in a set-up this test does not run: the Redis
	// store's state and the rate limiter's Redis fallback (their own tests
	// scrape them: TestRedisResetRefusesKeyedRequests, TestRateLimitRedisDown).
	conditional := map[string]bool{
		"gateway_rate_limit_fallbacks_total":     true,
		"gateway_idempotency_store_durable":      true,
		"gateway_idempotency_store_resets_total": true,
		"gateway_idempotency_store_hold":         true,
		"gateway_drift_fields_total":             true, // TestReadDemoShowsPatchAndDrift
		"gateway_audit_failures_total":           true, // TestAuditSinkDownRefusesWritesBeforeAnyVendorCall
	}
	for _, n := range names {
		if !exported[n] && !conditional[n] {
			t.Errorf("%s is not in /metrics (exported: %v)", n, exported)
		}
	}
}
