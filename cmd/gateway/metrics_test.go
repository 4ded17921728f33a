package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/config"
)

// scrape returns the /metrics exposition.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// breakerStates reads every gateway_vendor_breaker_state series.
func breakerStates(t *testing.T, base string) map[string]string {
	t.Helper()
	out := map[string]string{}
	re := regexp.MustCompile(`(?m)^gateway_vendor_breaker_state\{[^}]*vendor="([a-z]+)"[^}]*\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(scrape(t, base), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestBreakerStateEveryVendor: gateway_vendor_breaker_state used to export
// akana only (one observable gauge registered per vendor, only the first
// callback kept). Every vendor has a series, and each moves to 2 (open)
// when, and only when, its own breaker opens.
func TestBreakerStateEveryVendor(t *testing.T) {
	vendors := []string{"akana", "commvault", "frontier", "volterra"}
	base, sims := devGatewayWith(t, func(c *config.Config) {
		for _, n := range vendors {
			v := c.Vendors[n]
			zero := 0
			v.Retry.Max = &zero
			v.Breaker.ConsecutiveFailures = 1
			c.Vendors[n] = v
		}
	})
	want := map[string]string{}
	for _, n := range vendors {
		want[n] = "0"
	}
	if got := breakerStates(t, base); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("breaker series %v, want %v", got, want)
	}
	for _, n := range vendors {
		fault(t, sims, n, `{"fail_times":1,"status":503}`)
		status, _, body := call(t, "PATCH", base+"/v1/users/demo", fmt.Sprintf(`{"targets":[%q],"on_unsupported":"skip","user":{"given_name":"B","display_name":"B"}}`, n))
		if status < 500 {
			t.Fatalf("%s: %d %s", n, status, body)
		}
		want[n] = "2"
		if got := breakerStates(t, base); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after opening %s: %v, want %v", n, got, want)
		}
	}
}

// TestEveryMetricHasHelp: every family the gateway exports has a non-empty
// HELP line (two histograms had none), and the README lists every gateway_
// family.
func TestEveryMetricHasHelp(t *testing.T) {
	base, _ := devGateway(t)
	// One request so the per-request and per-target families exist.
	call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier"],"user":{"display_name":"Help"}}`)
	body := scrape(t, base)
	help := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^# HELP (\S+)(?: (.*))?$`).FindAllStringSubmatch(body, -1) {
		help[m[1]] = strings.TrimSpace(m[2])
	}
	types := regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(body, -1)
	if len(types) == 0 {
		t.Fatal("no metric families")
	}
	for _, m := range types {
		if help[m[1]] == "" {
			t.Errorf("%s has no HELP text", m[1])
		}
	}
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, m := range types {
		if name := m[1]; strings.HasPrefix(name, "gateway_") && !strings.Contains(readme, "`"+name) {
			t.Errorf("README's metrics list lacks %s", name)
		}
	}
}
