package deploy

// Checks of what an operator opens: traces reach a store with a UI, the
// latency exemplars lead there, the simulators' fault ports are reachable
// from the host, and the dashboard has one generated row per vendor.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/builtin"
)

var updateDashboard = flag.Bool("update-dashboard", false, "rewrite the per-vendor rows of grafana/dashboard.json")

// published maps each host port of a compose service to its container port.
func published(services map[string]any, svc string) map[string]string {
	out := map[string]string{}
	for _, p := range strs(services, svc, "ports") {
		f := strings.Split(p, ":")
		out[f[len(f)-2]] = f[len(f)-1]
	}
	return out
}

func TestTracesReachJaeger(t *testing.T) {
	d := docs(t)
	services, _ := compose(t, d)
	col := one(t, d, "otel-collector.yaml")
	exporters := strs(col, "service", "pipelines", "traces", "exporters")
	if len(exporters) == 0 {
		t.Fatal("the collector has no traces pipeline")
	}
	for _, e := range exporters {
		t.Run(e, func(t *testing.T) {
			if e == "debug" || strings.HasPrefix(e, "debug/") {
				t.Fatal("traces end in the debug exporter, which no one can open")
			}
			if !strings.HasPrefix(e, "otlp") {
				t.Fatalf("exporter %s: want an otlp exporter to the trace store", e)
			}
			ep := str(col, "exporters", e, "endpoint")
			host, p := ep, ""
			if u, err := url.Parse(ep); err == nil && u.Host != "" {
				host, p = u.Hostname(), u.Port()
			} else if i := strings.LastIndex(ep, ":"); i > 0 {
				host, p = ep[:i], ep[i+1:]
			}
			store := get(services, host)
			if store == nil {
				t.Fatalf("exporter %s sends to %q, not a compose service", e, ep)
			}
			image := str(store, "image")
			if !strings.HasPrefix(image, "jaegertracing/all-in-one:") {
				t.Fatalf("%s runs %q; the UI and OTLP port below are Jaeger's", host, image)
			}
			if p != "4317" {
				t.Errorf("Jaeger takes OTLP/gRPC on 4317, the collector sends to %s", ep)
			}
			if strings.HasPrefix(e, "otlp") && !strings.HasPrefix(e, "otlphttp") && get(col, "exporters", e, "tls", "insecure") != true {
				t.Error("Jaeger's OTLP port speaks plain gRPC in compose: set tls.insecure")
			}
			if env := composeEnv(services, host); env["COLLECTOR_OTLP_ENABLED"] != "true" {
				t.Errorf("%s: COLLECTOR_OTLP_ENABLED=%q", host, env["COLLECTOR_OTLP_ENABLED"])
			}
			if published(services, host)["16686"] != "16686" {
				t.Errorf("%s does not publish the Jaeger UI on 16686: %v", host, strs(services, host, "ports"))
			}
			if !slices.Contains(dependsOn(services, "otel-collector"), host) {
				t.Errorf("otel-collector does not depend on %s", host)
			}
		})
	}
}

func TestExemplarsLeadToTraces(t *testing.T) {
	d := docs(t)
	services, _ := compose(t, d)
	if !slices.Contains(strs(services, "prometheus", "command"), "--enable-feature=exemplar-storage") {
		t.Error("prometheus runs without --enable-feature=exemplar-storage: the gateway's exemplars are dropped")
	}
	if c := strs(services, "prometheus", "command"); len(c) > 0 && !slices.Contains(c, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Error("a prometheus command must name the mounted config (--config.file=/etc/prometheus/prometheus.yml)")
	}
	uids := map[string]string{} // uid -> type
	for p, docs := range d {
		if strings.HasPrefix(p, "grafana/provisioning/datasources/") {
			for _, doc := range docs {
				for _, ds := range list(doc, "datasources") {
					uids[str(ds, "uid")] = str(ds, "type")
				}
			}
		}
	}
	ds := one(t, d, "grafana/provisioning/datasources/prometheus.yaml")
	dests := list(ds, "datasources", "0", "jsonData", "exemplarTraceIdDestinations")
	if len(dests) == 0 {
		t.Fatal("the Prometheus datasource has no exemplarTraceIdDestinations")
	}
	for _, dst := range dests {
		// trace_id is the label the OTel Prometheus exporter gives exemplars
		// (internal/telemetry's exemplar test checks the exposition).
		if str(dst, "name") != "trace_id" || uids[str(dst, "datasourceUid")] != "jaeger" {
			t.Errorf("exemplar destination %v: want name trace_id to a provisioned jaeger datasource (have %v)", dst, uids)
		}
	}
	for uid, typ := range uids {
		if typ == "jaeger" {
			u := ""
			for p, docs := range d {
				if strings.HasPrefix(p, "grafana/provisioning/datasources/") {
					for _, doc := range docs {
						for _, ds := range list(doc, "datasources") {
							if str(ds, "uid") == uid {
								u = str(ds, "url")
							}
						}
					}
				}
			}
			pu, err := url.Parse(u)
			if err != nil || get(services, pu.Hostname()) == nil || pu.Port() != "16686" {
				t.Errorf("jaeger datasource url %q is not the compose Jaeger's query port", u)
			}
		}
	}
}

// TestFaultPortsPublished: every simulator's port is published on the same
// host port, and every fault-injection example in the READMEs posts to one.
func TestFaultPortsPublished(t *testing.T) {
	d := docs(t)
	services, _ := compose(t, d)
	pub := published(services, "sims")
	args := strs(services, "sims", "command")
	base, ok := flagValue(args, "base-port")
	if !ok {
		base = "9101"
	}
	var b int
	fmt.Sscan(base, &b)
	for i := range 4 {
		p := fmt.Sprint(b + i)
		if pub[p] != p {
			t.Errorf("sims port %s is not published as %s:%s (ports %v)", p, p, p, strs(services, "sims", "ports"))
		}
	}
	re := regexp.MustCompile(`localhost:(\d+)/_fault`)
	n := 0
	for _, f := range []string{"README.md", "../README.md"} {
		for _, m := range re.FindAllStringSubmatch(read(t, f), -1) {
			n++
			if pub[m[1]] == "" {
				t.Errorf("%s posts a fault rule to localhost:%s, which compose does not publish", f, m[1])
			}
		}
	}
	if n == 0 {
		t.Error("no README shows a fault rule against the compose simulators (localhost:PORT/_fault)")
	}
}

// ------------------------------------------------------ per-vendor rows

const vendorRowPrefix = "Vendor: "

func target(expr, legend string, exemplar bool) map[string]any {
	t := map[string]any{"refId": "A", "expr": expr, "legendFormat": legend}
	if exemplar {
		t["exemplar"] = true
	}
	return t
}

// vendorRow is one vendor's generated row: calls, errors, retries, breaker
// state and p99, every query filtered to the vendor. Changing this and
// running `go test ./deploy -run TestDashboardRowPerVendor -update-dashboard`
// regenerates every row alike.
func vendorRow(vendor string, id, y int) []any {
	sel := fmt.Sprintf(`vendor=%q`, vendor)
	ds := map[string]any{"type": "prometheus", "uid": "${datasource}"}
	panel := func(title, typ, unit string, x, w int, targets ...map[string]any) map[string]any {
		for i, t := range targets {
			t["refId"] = string(rune('A' + i))
		}
		id++
		p := map[string]any{"id": id, "type": typ, "title": title, "datasource": ds,
			"gridPos":     map[string]any{"h": 8, "w": w, "x": x, "y": y + 1},
			"fieldConfig": map[string]any{"defaults": map[string]any{"unit": unit}, "overrides": []any{}},
			"targets":     targets}
		if typ == "timeseries" {
			p["options"] = map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom"}, "tooltip": map[string]any{"mode": "multi"}}
		}
		return p
	}
	id++
	row := map[string]any{"id": id, "type": "row", "title": vendorRowPrefix + vendor, "collapsed": false, "panels": []any{},
		"gridPos": map[string]any{"h": 1, "w": 24, "x": 0, "y": y}}
	calls := panel(vendor+" calls by status", "timeseries", "reqps", 0, 5,
		target(fmt.Sprintf(`sum by (status) (rate(gateway_vendor_calls_total{%s}[5m]))`, sel), "{{status}}", false))
	errs := panel(vendor+" errors", "timeseries", "reqps", 5, 5,
		target(fmt.Sprintf(`sum(rate(gateway_target_results_total{%s,status="failed"}[5m]))`, sel), "failed targets", false),
		target(fmt.Sprintf(`sum(rate(gateway_vendor_calls_total{%s,status!~"2.."}[5m]))`, sel), "calls not 2xx", false))
	retries := panel(vendor+" retries", "timeseries", "reqps", 10, 5,
		target(fmt.Sprintf(`sum(rate(gateway_vendor_retries_total{%s}[5m]))`, sel), "retries", false))
	breaker := panel(vendor+" breaker state", "stat", "none", 15, 4, target(fmt.Sprintf(`max(gateway_vendor_breaker_state{%s})`, sel), "", false))
	breaker["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["mappings"] = []any{
		map[string]any{"type": "value", "options": map[string]any{
			"0": map[string]any{"text": "closed", "color": "green"},
			"1": map[string]any{"text": "half-open", "color": "orange"},
			"2": map[string]any{"text": "open", "color": "red"}}}}
	breaker["options"] = map[string]any{"colorMode": "background", "reduceOptions": map[string]any{"calcs": []any{"lastNotNull"}}}
	p99 := panel(vendor+" call latency p99", "timeseries", "s", 19, 5,
		target(fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(gateway_vendor_call_duration_seconds_bucket{%s}[5m])))`, sel), "p99", true))
	return []any{row, calls, errs, retries, breaker, p99}
}

// TestDashboardRowPerVendor: after the overview panels, the dashboard has
// exactly one generated row per built-in vendor, in name order.
func TestDashboardRowPerVendor(t *testing.T) {
	raw := read(t, "grafana/dashboard.json")
	var dash map[string]any
	if err := json.Unmarshal([]byte(raw), &dash); err != nil {
		t.Fatal(err)
	}
	panels := list(dash, "panels")
	cut := slices.IndexFunc(panels, func(p any) bool { return strings.HasPrefix(str(p, "title"), vendorRowPrefix) })
	if cut < 0 {
		cut = len(panels)
	}
	overview := panels[:cut]
	id, y := 0, 0
	for _, p := range overview {
		var pid, py, ph float64
		pid, _ = get(p, "id").(float64)
		py, _ = get(p, "gridPos", "y").(float64)
		ph, _ = get(p, "gridPos", "h").(float64)
		id, y = max(id, int(pid)), max(y, int(py+ph))
	}
	vendors := builtin.Types()
	slices.Sort(vendors)
	want := slices.Clone(overview)
	for _, v := range vendors {
		rows := vendorRow(v, id, y)
		want = append(want, rows...)
		id += len(rows)
		y += 9
	}
	wantJSON, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.MarshalIndent(panels, "", "  ")
	if *updateDashboard {
		dash["panels"] = want
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(dash); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("grafana/dashboard.json", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Compare through one encoding, so key order and number format do not matter.
	var a, b any
	_ = json.Unmarshal(wantJSON, &a)
	_ = json.Unmarshal(gotJSON, &b)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("grafana/dashboard.json's vendor rows are not the generated ones (one per vendor: %v); run\n  go test ./deploy -run TestDashboardRowPerVendor -update-dashboard", vendors)
	}
	ids := map[float64]bool{}
	for _, p := range want {
		pid, _ := get(p, "id").(float64)
		if f, ok := get(p, "id").(int); ok {
			pid = float64(f)
		}
		if ids[pid] {
			t.Errorf("panel id %v used twice", pid)
		}
		ids[pid] = true
	}
}
