package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestSpansReachTheCollectorWithABadUserAgent: a client whose User-Agent is
// not UTF-8 does not cost the batch its spans. The OTLP encoding used to
// refuse the whole batch (every span of up to 512 updates) for that one
// attribute; the collector now gets them all, each run of bad bytes as one U+FFFD.
func TestSpansReachTheCollectorWithABadUserAgent(t *testing.T) {
	got := make(chan *coltracepb.ExportTraceServiceRequest, 16)
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- &req
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer col.Close()
	_, cfg := devSims(t)
	cfg.Telemetry.Exporter, cfg.Telemetry.Protocol, cfg.Telemetry.Endpoint, cfg.Telemetry.Insecure = "otlp", "http/protobuf", strings.TrimPrefix(col.URL, "http://"), true
	base, shutdown := startGateway(t, cfg, buildOptions{AuthNone: true})
	for _, ua := range []string{"good/1.0", "bad\xff\xfe/1.0"} {
		req, _ := http.NewRequest("PATCH", base+"/v1/users/demo", strings.NewReader(`{"targets":["commvault"],"user":{"display_name":"UA test"}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%q: status %d", ua, resp.StatusCode)
		}
	}
	if err := shutdown(); err != nil { // flushes the spans
		t.Fatal(err)
	}
	close(got)
	agents := map[string]bool{}
	for req := range got {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					for _, a := range s.Attributes {
						if a.Key == "user_agent.original" {
							agents[a.Value.GetStringValue()] = true
						}
					}
				}
			}
		}
	}
	if !agents["good/1.0"] || !agents["bad\uFFFD/1.0"] {
		t.Errorf("server spans' user agents at the collector: %v", agents)
	}
}
