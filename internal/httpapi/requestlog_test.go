package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/identity-gateway/identity-gateway/internal/telemetry"
)

// TestRequestLogLine: each request writes one line, with the outcome, the
// client, the idempotency outcome, each target's status and attempts, and
// a problem's code.
func TestRequestLogLine(t *testing.T) {
	var logs bytes.Buffer
	_, do := newApp(t, Options{Logger: telemetry.NewLogger(&logs, slog.LevelInfo),
		Clients: []Client{{Name: "ops", KeyHash: sha256.Sum256([]byte("k3y"))}}})
	for _, req := range []*http.Request{
		patch(`{"user":{"display_name":"Jane"}}`, "Authorization", "Bearer k3y"),
		patch(`{"user":{"display_name":1}}`, "Authorization", "Bearer k3y"),
		patch(`{"user":{"display_name":"Jane"}}`),
	} {
		do(req).Body.Close()
	}
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if m["msg"] == "request" {
			got = append(got, m)
		}
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "request", "method": "PATCH", "route": "/v1/users/:id", "status": 200.0, "outcome": "applied",
			"client": "ops", "idempotency": "none",
			"targets": map[string]any{"frontier": map[string]any{"status": "applied", "attempts": 1.0, "duration_ms": 0.0}}},
		{"level": "INFO", "msg": "request", "method": "PATCH", "route": "/v1/users/:id", "status": 400.0, "outcome": "invalid_request",
			"client": "ops", "error_code": "invalid_request"},
		{"level": "INFO", "msg": "request", "method": "PATCH", "route": "/v1", "status": 401.0, "outcome": "unauthorized",
			"error_code": "unauthorized"},
	}
	ignore := cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "time" || k == "latency_us" })
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("request lines (-want +got):\n%s", diff)
	}
	for _, m := range got {
		if _, ok := m["latency_us"].(float64); !ok {
			t.Errorf("latency_us %v", m["latency_us"])
		}
	}
}
