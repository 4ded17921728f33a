package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/telemetry"
)

// docs parses every YAML document and JSON file under deploy/.
func docs(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml":
			dec := yaml.NewDecoder(bytes.NewReader(b))
			for {
				var m map[string]any
				if err := dec.Decode(&m); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Errorf("%s: %v", p, err)
					break
				}
				out[p] = append(out[p], m)
			}
		case ".json":
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			out[p] = append(out[p], m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func get(m any, path ...string) any {
	for _, k := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var varRe = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(:-[^}]*)?\}`)

func vars(s string) map[string]bool {
	out := map[string]bool{}
	for _, m := range varRe.FindAllStringSubmatch(s, -1) {
		if m[1] != "VAR" { // "${VAR}" in prose comments
			out[m[1]] = true
		}
	}
	return out
}

func TestEveryFileParses(t *testing.T) {
	d := docs(t)
	for _, want := range []string{"compose.yaml", "k8s/deployment.yaml", "k8s/kustomization.yaml", "grafana/dashboard.json", "prometheus.yml", "otel-collector.yaml"} {
		if len(d[want]) == 0 {
			t.Errorf("%s missing or empty", want)
		}
	}
}

func TestConfigMapLoadsAsRealConfig(t *testing.T) {
	d := docs(t)
	gw, _ := get(d["k8s/configmap.yaml"][0], "data", "gateway.yaml").(string)
	if gw == "" {
		t.Fatal("configmap has no gateway.yaml")
	}
	lookup := func(k string) (string, bool) {
		if strings.HasSuffix(k, "_URL") && k != "REDIS_URL" {
			return "https://" + strings.ToLower(k) + ".example", true
		}
		if k == "REDIS_URL" {
			return "redis://redis:6379", true
		}
		if k == "GATEWAY_OPS_KEY_SHA256" {
			return strings.Repeat("ab", 32), true
		}
		return "x", true
	}
	c, err := config.Load([]byte(gw), lookup)
	if err != nil {
		t.Fatalf("the configmap's gateway.yaml does not load: %v", err)
	}
	if err := c.RequireHTTPS(); err != nil {
		t.Errorf("production config must pass serve's https rule: %v", err)
	}
	if c.Idempotency.Store != "redis" {
		t.Error("production config must use the redis store")
	}
	// Every variable it needs comes from the Secret or the Deployment.
	secret := read(t, "k8s/secret.example.yaml")
	dep := read(t, "k8s/deployment.yaml")
	for v := range vars(gw) {
		if !strings.Contains(secret, v+":") && !strings.Contains(dep, "name: "+v) {
			t.Errorf("${%s} in the configmap is set by neither the Secret nor the Deployment", v)
		}
	}
	// The container port matches the listen address.
	if !strings.Contains(gw, "listen: 0.0.0.0:8080") || !strings.Contains(dep, "containerPort: 8080") {
		t.Error("container port and server.listen disagree")
	}
}

func TestProbePathsAndPortsExist(t *testing.T) {
	server := read(t, "../internal/httpapi/server.go")
	d := docs(t)
	dep := d["k8s/deployment.yaml"][0]
	c := get(dep, "spec", "template", "spec", "containers").([]any)[0]
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		p, _ := get(c, probe, "httpGet", "path").(string)
		if p == "" || !strings.Contains(server, `"`+p+`"`) {
			t.Errorf("%s path %q is not a route", probe, p)
		}
	}
	if mp, _ := get(d["prometheus.yml"][0], "scrape_configs").([]any)[0].(map[string]any)["metrics_path"].(string); !strings.Contains(server, `"`+mp+`"`) {
		t.Errorf("prometheus scrapes %q, not a route", mp)
	}
	grace := get(dep, "spec", "template", "spec", "terminationGracePeriodSeconds")
	if g, ok := grace.(int); !ok || g <= 25 {
		t.Errorf("terminationGracePeriodSeconds %v must exceed preStop + shutdown_grace (25s)", grace)
	}
	if !strings.Contains(read(t, "Dockerfile"), "EXPOSE 8080") {
		t.Error("Dockerfile does not expose 8080")
	}
}

func TestCommandsExist(t *testing.T) {
	main := read(t, "../cmd/gateway/main.go") + read(t, "../cmd/gateway/commands.go")
	check := func(where string, args []string) {
		if len(args) == 0 {
			return
		}
		if !strings.Contains(main, `case "`+args[0]+`":`) {
			t.Errorf("%s: subcommand %q does not exist", where, args[0])
		}
		for _, a := range args[1:] {
			if name, ok := strings.CutPrefix(a, "--"); ok && !strings.Contains(main, `fs.String("`+name+`"`) && !strings.Contains(main, `fs.Int("`+name+`"`) && !strings.Contains(main, `fs.Bool("`+name+`"`) {
				t.Errorf("%s: flag %s does not exist", where, a)
			}
		}
	}
	docker := read(t, "Dockerfile")
	m := regexp.MustCompile(`CMD \[(.*)\]`).FindStringSubmatch(docker)
	if m == nil {
		t.Fatal("Dockerfile has no CMD")
	}
	var cmd []string
	_ = json.Unmarshal([]byte("["+m[1]+"]"), &cmd)
	check("Dockerfile CMD", cmd)
	for p, ds := range docs(t) {
		for _, doc := range ds {
			if svcs, ok := get(doc, "services").(map[string]any); ok {
				for name, s := range svcs {
					if args, ok := get(s, "command").([]any); ok && get(s, "build") != nil {
						var sa []string
						for _, a := range args {
							sa = append(sa, a.(string))
						}
						check(p+" "+name, sa)
					}
				}
			}
			if cs, ok := get(doc, "spec", "template", "spec", "containers").([]any); ok {
				for _, c := range cs {
					var sa []string
					for _, a := range get(c, "args").([]any) {
						sa = append(sa, a.(string))
					}
					check(p, sa)
				}
			}
		}
	}
}

func TestComposeEnvIsUsed(t *testing.T) {
	gw := read(t, "../gateway.yaml")
	used := vars(gw)
	d := docs(t)
	compose := d["compose.yaml"][0]
	env := get(compose, "x-gateway", "environment").(map[string]any)
	for k := range env {
		if strings.HasPrefix(k, "OTEL_EXPORTER_OTLP_") || k == "OTEL_SERVICE_NAME" {
			continue // read by the OpenTelemetry SDK itself
		}
		if !used[k] {
			t.Errorf("compose sets %s, which gateway.yaml never reads", k)
		}
	}
	for v := range used {
		if _, ok := env[v]; !ok && !strings.Contains(gw, "${"+v+":-") {
			t.Errorf("gateway.yaml needs ${%s} with no default and compose does not set it", v)
		}
	}
	// Grafana's dashboard mount matches the provisioning path.
	prov := read(t, "grafana/provisioning/dashboards/identity-gateway.yaml")
	vols := get(compose, "services", "grafana", "volumes").([]any)
	found := false
	for _, v := range vols {
		if s := v.(string); strings.HasPrefix(s, "./grafana/dashboard.json:") {
			dir := filepath.Dir(strings.Split(s, ":")[1])
			found = strings.Contains(prov, "path: "+dir)
		}
	}
	if !found {
		t.Error("the dashboard is not mounted where the provisioning looks")
	}
}

func TestDashboardUsesExportedMetrics(t *testing.T) {
	b := read(t, "grafana/dashboard.json")
	names := regexp.MustCompile(`gateway_[a-z_]+`).FindAllString(b, -1)
	if len(names) == 0 {
		t.Fatal("no gateway metrics in the dashboard")
	}
	known := telemetry.MetricNames()
	for _, n := range names {
		if !slices.Contains(known, n) {
			t.Errorf("dashboard uses %s, which the gateway does not export (known: %v)", n, known)
		}
	}
}
