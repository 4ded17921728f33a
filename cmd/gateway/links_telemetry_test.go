package main

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Each target span says where its vendor id came from, and /metrics counts
// hits, misses and resolutions per target.
func TestLinkTelemetry(t *testing.T) {
	_, cfg := devSimsWith(t, 2)
	rec := tracetest.NewSpanRecorder()
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: io.Discard, AuthNone: true, SpanProcessors: []sdktrace.SpanProcessor{rec}})
	steps := []struct{ path, body string }{
		{"/v1/users/demo", `{"targets":["commvault"],"user":{"display_name":"D"}}`},                                                    // config link: hit
		{"/v1/users/demo", `{"targets":["commvault"],"vendor_ids":{"commvault":"42"},"user":{"display_name":"D"}}`},                    // request
		{"/v1/users/s0", `{"targets":["frontier"],"on_unsupported":"skip","user":{"display_name":"S","email":"seeded0@example.com"}}`}, // resolved
		{"/v1/users/nobody", `{"targets":["akana"],"user":{"given_name":"N"}}`},                                                        // miss
	}
	for _, s := range steps {
		call(t, "PATCH", base+s.path, s.body)
	}
	sources := map[string]bool{}
	for _, sp := range rec.Ended() {
		for _, kv := range sp.Attributes() {
			if kv.Key == attribute.Key("gateway.link_source") {
				sources[sp.Name()+" "+kv.Value.AsString()] = true
			}
		}
	}
	for _, want := range []string{"target commvault config", "target commvault request", "target frontier resolved"} {
		if !sources[want] {
			t.Errorf("no span %q; got %v", want, sources)
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"# TYPE gateway_links_total counter",
		`outcome="hit",target="commvault"} 1`,
		`outcome="request",target="commvault"} 1`,
		`outcome="resolved",target="frontier"} 1`,
		`outcome="miss",target="akana"} 1`,
	} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
