package deploy

// No Docker or Kubernetes runs where these files are written, so this test
// is their only check: it parses every file under deploy/ and fails when a
// port, path, environment variable, config key, command, flag or metric name
// they use no longer exists in the code. It reads the code as files (routes,
// subcommands, flags) or calls it (config.Load, the adapters' Open, the
// simulators' demo seeds); it starts nothing and uses no network.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/builtin"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/telemetry"
)

// flushBudget is the time serve gives the stores and telemetry to close after
// server.shutdown_grace (the 5s context in cmd/gateway's serve).
const flushBudget = 5 * time.Second

// ---------------------------------------------------------------- parsing

// docs parses every YAML document and JSON file under deploy/, keyed by
// slash path relative to deploy/. Files of any other kind must be listed in
// otherKind, so a new config format cannot slip in unparsed.
func docs(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		p = filepath.ToSlash(p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch path.Ext(p) {
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
				if m != nil {
					out[p] = append(out[p], m)
				}
			}
		case ".json":
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			out[p] = append(out[p], m)
		default:
			if !otherKind(p) {
				t.Errorf("%s: unknown file kind; parse it in deploy_test.go", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func otherKind(p string) bool {
	switch path.Base(p) {
	case "Dockerfile", "Dockerfile.dockerignore":
		return true
	}
	switch path.Ext(p) {
	case ".go", ".md":
		return true
	}
	return false
}

// one returns the only document of p.
func one(t *testing.T, d map[string][]map[string]any, p string) map[string]any {
	t.Helper()
	if len(d[p]) != 1 {
		t.Fatalf("%s: want exactly one document, have %d", p, len(d[p]))
	}
	return d[p][0]
}

// get walks maps by key and lists by decimal index.
func get(v any, keys ...string) any {
	for _, k := range keys {
		switch c := v.(type) {
		case map[string]any:
			v = c[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, keys ...string) string {
	s, _ := get(v, keys...).(string)
	return s
}

func list(v any, keys ...string) []any {
	l, _ := get(v, keys...).([]any)
	return l
}

func strs(v any, keys ...string) []string {
	var out []string
	for _, e := range list(v, keys...) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func port(t *testing.T, hostport string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Errorf("%q: %v", hostport, err)
	}
	return p
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ------------------------------------------------------------ the code side

// routes are the paths the gateway registers on its app (not under /v1):
// where probes and scrapes must point.
func routes(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../internal/httpapi/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no internal/httpapi sources: %v", err)
	}
	re := regexp.MustCompile(`\bapp\.(?:Get|Head|Post|Put|Patch|Delete|All)\("(/[^"]*)"`)
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(read(t, f), -1) {
			out[m[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("found no routes in internal/httpapi")
	}
	return out
}

// commands maps each gateway subcommand to its flags (name -> usage), read
// from cmd/gateway's source: the `case "serve": return cmdServe(...)` arms of
// run, and the flag definitions (fs.String("config", ...)) in each function.
func commands(t *testing.T) map[string]map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("../cmd/gateway/*.go")
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string]*ast.FuncDecl{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fd.Name.Name] = fd
			}
		}
	}
	run := funcs["run"]
	if run == nil {
		t.Fatal("cmd/gateway has no func run")
	}
	out := map[string]map[string]string{}
	ast.Inspect(run, func(n ast.Node) bool {
		cc, ok := n.(*ast.CaseClause)
		if !ok {
			return true
		}
		var fn string
		for _, s := range cc.Body {
			if r, ok := s.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
				if call, ok := r.Results[0].(*ast.CallExpr); ok {
					if id, ok := call.Fun.(*ast.Ident); ok {
						fn = id.Name
					}
				}
			}
		}
		if fn == "" || funcs[fn] == nil {
			return true
		}
		for _, e := range cc.List {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				out[name] = flagsOf(funcs[fn])
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatal("found no subcommands in cmd/gateway's run")
	}
	return out
}

// flagsOf collects fs.<Kind>("name", default, "usage") calls of a function.
func flagsOf(fd *ast.FuncDecl) map[string]string {
	kinds := map[string]bool{"String": true, "Int": true, "Int64": true, "Uint": true, "Bool": true, "Duration": true, "Float64": true}
	out := map[string]string{}
	ast.Inspect(fd, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 3 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !kinds[sel.Sel.Name] {
			return true
		}
		name, ok1 := call.Args[0].(*ast.BasicLit)
		usage, ok2 := call.Args[2].(*ast.BasicLit)
		if ok1 && ok2 && name.Kind == token.STRING && usage.Kind == token.STRING {
			n, _ := strconv.Unquote(name.Value)
			u, _ := strconv.Unquote(usage.Value)
			out[n] = u
		}
		return true
	})
	return out
}

// flagValue returns the value after --name (or in --name=value) in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

var varRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// refs lists the ${VAR}s in a gateway.yaml's values (comments excluded, as
// config.Load expands values only): name -> whether it has a :- default.
func refs(t *testing.T, src string) map[string]bool {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			for _, m := range varRe.FindAllStringSubmatch(n.Value, -1) {
				out[m[1]] = out[m[1]] || m[2] != ""
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return out
}

// sdkVar reports variables the OpenTelemetry SDK reads itself, which no
// gateway.yaml references.
func sdkVar(k string) bool {
	return k == "OTEL_SERVICE_NAME" || k == "OTEL_RESOURCE_ATTRIBUTES" || strings.HasPrefix(k, "OTEL_EXPORTER_OTLP_") ||
		k == "GOMEMLIMIT" || k == "GOGC" // read by the Go runtime
}

// TestGoMemLimitUnderTheContainerLimit: GOMEMLIMIT only helps below the
// container's memory limit, where the runtime can still collect before the
// kernel kills the pod.
func TestGoMemLimitUnderTheContainerLimit(t *testing.T) {
	_, c := deployment(t, docs(t))
	var goLimit string
	for _, e := range list(c, "env") {
		if str(e, "name") == "GOMEMLIMIT" {
			goLimit = str(e, "value")
		}
	}
	podLimit, _ := get(c, "resources", "limits", "memory").(string)
	if goLimit == "" || podLimit == "" {
		t.Fatalf("GOMEMLIMIT %q and limits.memory %q must both be set", goLimit, podLimit)
	}
	g, err := byteSize(goLimit, map[string]int64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30})
	if err != nil {
		t.Fatalf("GOMEMLIMIT: %v", err)
	}
	p, err := byteSize(podLimit, map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30})
	if err != nil {
		t.Fatalf("limits.memory: %v", err)
	}
	if g >= p || g < p*8/10 {
		t.Errorf("GOMEMLIMIT %s is not between 80%% and 100%% of limits.memory %s", goLimit, podLimit)
	}
}

// byteSize parses an integer with one of units' suffixes.
func byteSize(s string, units map[string]int64) (int64, error) {
	for u, m := range units {
		if n, ok := strings.CutSuffix(s, u); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * m, err
		}
	}
	return 0, fmt.Errorf("%q: want an integer with a unit of %v", s, units)
}

// simDemoEnv is what `gateway sim` prints besides the URLs, from the
// vendor registry's own seeded simulators.
func simDemoEnv() map[string]string { return builtin.DemoEnv() }

// instr is one Dockerfile instruction.
type instr struct{ op, args string }

// dockerfile reads deploy/Dockerfile with continuation lines joined and
// comments dropped.
func dockerfile(t *testing.T) []instr {
	t.Helper()
	var out []instr
	var cur string
	for _, line := range strings.Split(read(t, "Dockerfile"), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur += s + " "
			continue
		}
		cur += trimmed
		op, args, _ := strings.Cut(cur, " ")
		out = append(out, instr{strings.ToUpper(op), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

func instrs(df []instr, op string) []string {
	var out []string
	for _, in := range df {
		if in.op == op {
			out = append(out, in.args)
		}
	}
	return out
}

// execForm decodes a JSON-array (exec form) instruction argument.
func execForm(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Errorf("%s: not exec form: %v", s, err)
	}
	return out
}

// configMap returns the k8s ConfigMap's gateway.yaml, loaded by the real
// loader with a value for every ${VAR}. Credentials come from the
// simulators' demo set, so an adapter that checks a credential's shape in
// Open sees a valid one.
func configMap(t *testing.T, d map[string][]map[string]any) (string, *config.Config) {
	t.Helper()
	src := str(one(t, d, "k8s/configmap.yaml"), "data", "gateway.yaml")
	if src == "" {
		t.Fatal("k8s/configmap.yaml has no data.gateway.yaml")
	}
	demo := simDemoEnv()
	lookup := func(k string) (string, bool) {
		switch {
		case k == "REDIS_URL":
			return "rediss://:pw@redis.example.internal:6380/0", true
		case k == "GATEWAY_OPS_KEY_SHA256":
			return strings.Repeat("ab", 32), true
		case strings.HasSuffix(k, "_URL"):
			return "https://" + strings.ToLower(strings.TrimSuffix(k, "_URL")) + ".example", true
		}
		if v, ok := demo[k]; ok {
			return v, true
		}
		return "dummy", true
	}
	c, err := config.Load([]byte(src), lookup)
	if err != nil {
		t.Fatalf("the ConfigMap's gateway.yaml does not load: %v", err)
	}
	return src, c
}

func deployment(t *testing.T, d map[string][]map[string]any) (dep, container map[string]any) {
	t.Helper()
	dep = one(t, d, "k8s/deployment.yaml")
	cs := list(dep, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("deployment: want one container, have %d", len(cs))
	}
	container, _ = cs[0].(map[string]any)
	return dep, container
}

// compose returns compose.yaml's services and the gateway services among
// them (those running `serve`).
func compose(t *testing.T, d map[string][]map[string]any) (services map[string]any, gateways []string) {
	t.Helper()
	services, _ = get(one(t, d, "compose.yaml"), "services").(map[string]any)
	if services == nil {
		t.Fatal("compose.yaml has no services")
	}
	for name, s := range services {
		if c := strs(s, "command"); len(c) > 0 && c[0] == "serve" {
			gateways = append(gateways, name)
		}
	}
	slices.Sort(gateways)
	return services, gateways
}

func composeEnv(services map[string]any, svc string) map[string]string {
	out := map[string]string{}
	env, _ := get(services, svc, "environment").(map[string]any)
	for k, v := range env {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func dependsOn(services map[string]any, svc string) []string {
	switch dep := get(services, svc, "depends_on").(type) {
	case []any:
		return strs(services, svc, "depends_on")
	case map[string]any:
		return slices.Sorted(maps.Keys(dep))
	}
	return nil
}

// ignored approximates .dockerignore matching: a pattern matches a path or
// any of its parent directories; a leading **/ matches at any depth.
func ignored(pattern, p string) bool {
	for dir := p; dir != "." && dir != "/"; dir = path.Dir(dir) {
		if ok, _ := path.Match(pattern, dir); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			if ok, _ := path.Match(rest, path.Base(dir)); ok {
				return true
			}
		}
	}
	return false
}

// check is one named condition of a table.
type check struct {
	name string
	ok   bool
	why  string
}

func runChecks(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Error(c.why)
			}
		})
	}
}

// --------------------------------------------------------------- the tests

func TestEveryFileParses(t *testing.T) {
	d := docs(t)
	for _, p := range []string{
		"compose.yaml", "prometheus.yml", "otel-collector.yaml",
		"k8s/kustomization.yaml", "k8s/deployment.yaml", "k8s/service.yaml", "k8s/configmap.yaml",
		"k8s/hpa.yaml", "k8s/pdb.yaml", "k8s/secret.example.yaml", "k8s/migrate-job.yaml",
		"grafana/dashboard.json", "grafana/provisioning/datasources/prometheus.yaml",
		"grafana/provisioning/dashboards/identity-gateway.yaml",
	} {
		t.Run(p, func(t *testing.T) {
			if len(d[p]) == 0 {
				t.Errorf("%s is missing or empty", p)
			}
		})
	}
}

func TestKubernetesBaseIsConsistent(t *testing.T) {
	d := docs(t)
	kust := one(t, d, "k8s/kustomization.yaml")
	dep, c := deployment(t, d)
	svc := one(t, d, "k8s/service.yaml")
	hpa := one(t, d, "k8s/hpa.yaml")
	pdb := one(t, d, "k8s/pdb.yaml")
	cm := one(t, d, "k8s/configmap.yaml")
	secret := one(t, d, "k8s/secret.example.yaml")

	resources := slices.Sorted(slices.Values(strs(kust, "resources")))
	var manifests []string
	for p := range d {
		// migrate-job.yaml is applied on purpose, never with the base.
		if rest, ok := strings.CutPrefix(p, "k8s/"); ok && rest != "kustomization.yaml" && rest != "secret.example.yaml" && rest != "migrate-job.yaml" {
			manifests = append(manifests, rest)
		}
	}
	slices.Sort(manifests)
	podLabels, _ := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	selects := func(sel any) bool {
		m, _ := sel.(map[string]any)
		for k, v := range m {
			if podLabels[k] != v {
				return false
			}
		}
		return len(m) > 0
	}
	replicas, _ := get(dep, "spec", "replicas").(int)
	minR, _ := get(hpa, "spec", "minReplicas").(int)
	maxR, _ := get(hpa, "spec", "maxReplicas").(int)
	minAvail, _ := get(pdb, "spec", "minAvailable").(int)
	cfgPath, _ := flagValue(strs(c, "args"), "config")
	var volName string
	for _, m := range list(c, "volumeMounts") {
		if strings.HasPrefix(cfgPath, str(m, "mountPath")+"/") {
			volName = str(m, "name")
		}
	}
	var volCM string
	for _, v := range list(dep, "spec", "template", "spec", "volumes") {
		if str(v, "name") == volName {
			volCM = str(v, "configMap", "name")
		}
	}
	var secretRefs []string
	for _, e := range list(c, "envFrom") {
		if n := str(e, "secretRef", "name"); n != "" {
			secretRefs = append(secretRefs, n)
		}
	}
	containerPorts := map[string]bool{}
	for _, p := range list(c, "ports") {
		containerPorts[str(p, "name")] = true
		containerPorts[fmt.Sprint(get(p, "containerPort"))] = true
	}
	targetPort := fmt.Sprint(get(svc, "spec", "ports", "0", "targetPort"))
	sc := get(c, "securityContext")

	runChecks(t, []check{
		{"resources are exactly the manifests", slices.Equal(resources, manifests),
			fmt.Sprintf("kustomization lists %v, k8s/ has %v (secret.example.yaml stays out)", resources, manifests)},
		{"apiVersions", str(dep, "apiVersion") == "apps/v1" && str(hpa, "apiVersion") == "autoscaling/v2" && str(pdb, "apiVersion") == "policy/v1",
			"want apps/v1 Deployment, autoscaling/v2 HPA, policy/v1 PDB"},
		{"deployment selector matches its pods", selects(get(dep, "spec", "selector", "matchLabels")), "spec.selector.matchLabels vs template labels"},
		{"service selects the pods", selects(get(svc, "spec", "selector")), "service spec.selector vs pod labels"},
		{"pdb selects the pods", selects(get(pdb, "spec", "selector", "matchLabels")), "pdb selector vs pod labels"},
		{"service targets a container port", containerPorts[targetPort], fmt.Sprintf("targetPort %s is not a container port", targetPort)},
		{"hpa scales the deployment", str(hpa, "spec", "scaleTargetRef", "kind") == "Deployment" && str(hpa, "spec", "scaleTargetRef", "name") == str(dep, "metadata", "name"),
			"scaleTargetRef must name the Deployment"},
		{"3 replicas within the hpa range", replicas == 3 && minR <= replicas && replicas <= maxR, fmt.Sprintf("replicas %d, hpa %d..%d", replicas, minR, maxR)},
		{"pdb leaves room to drain", minAvail > 0 && minAvail < minR, fmt.Sprintf("minAvailable %d must be below minReplicas %d or no node can drain", minAvail, minR)},
		{"config mounted where the args read it", volCM != "" && volCM == str(cm, "metadata", "name") && get(cm, "data", path.Base(cfgPath)) != nil,
			fmt.Sprintf("--config %q must be a key of ConfigMap %q mounted at its directory", cfgPath, str(cm, "metadata", "name"))},
		{"credentials from the Secret", slices.Contains(secretRefs, str(secret, "metadata", "name")),
			fmt.Sprintf("envFrom secretRefs %v do not name %q", secretRefs, str(secret, "metadata", "name"))},
		{"non-root pod", get(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") == true, "runAsNonRoot must be true"},
		{"locked-down container", get(sc, "readOnlyRootFilesystem") == true && get(sc, "allowPrivilegeEscalation") == false &&
			slices.Equal(strs(sc, "capabilities", "drop"), []string{"ALL"}), "readOnlyRootFilesystem, no privilege escalation, drop ALL"},
		{"resources set", get(c, "resources", "requests", "cpu") != nil && get(c, "resources", "limits", "memory") != nil,
			"a cpu request (the HPA's basis) and a memory limit"},
		{"probes", str(c, "readinessProbe", "httpGet", "path") == "/readyz" && str(c, "livenessProbe", "httpGet", "path") == "/healthz",
			"readiness on /readyz, liveness on /healthz"},
	})
	// The example Secret holds placeholders only.
	data, _ := get(secret, "stringData").(map[string]any)
	for k, v := range data {
		if (strings.Contains(k, "PASSWORD") || strings.HasSuffix(k, "_TOKEN")) && !strings.HasPrefix(fmt.Sprint(v), "<") {
			t.Errorf("secret.example.yaml %s must be a <placeholder>, not a value", k)
		}
	}
}

func TestPathsAreRoutes(t *testing.T) {
	r := routes(t)
	d := docs(t)
	dep, c := deployment(t, d)
	tests := []struct{ where, path string }{
		{"deployment readinessProbe", str(c, "readinessProbe", "httpGet", "path")},
		{"deployment livenessProbe", str(c, "livenessProbe", "httpGet", "path")},
		{"deployment prometheus.io/path", str(dep, "spec", "template", "metadata", "annotations", "prometheus.io/path")},
	}
	for i, job := range list(one(t, d, "prometheus.yml"), "scrape_configs") {
		p := str(job, "metrics_path")
		if p == "" {
			p = "/metrics" // Prometheus' default
		}
		tests = append(tests, struct{ where, path string }{fmt.Sprintf("prometheus.yml scrape_configs[%d]", i), p})
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			if !r[tt.path] {
				t.Errorf("%s: %q is not a gateway route (routes: %v)", tt.where, tt.path, slices.Sorted(maps.Keys(r)))
			}
		})
	}
}

func TestPortsAgree(t *testing.T) {
	d := docs(t)
	_, cfg := configMap(t, d)
	want := port(t, cfg.Server.Listen)
	dep, c := deployment(t, d)
	df := dockerfile(t)
	services, gateways := compose(t, d)

	type row struct{ where, got string }
	var rows []row
	for _, p := range list(c, "ports") {
		rows = append(rows, row{"deployment containerPort", fmt.Sprint(get(p, "containerPort"))})
	}
	rows = append(rows, row{"deployment prometheus.io/port", str(dep, "spec", "template", "metadata", "annotations", "prometheus.io/port")})
	for _, e := range instrs(df, "EXPOSE") {
		rows = append(rows, row{"Dockerfile EXPOSE", strings.TrimSuffix(e, "/tcp")})
	}
	for _, e := range instrs(df, "ENV") {
		if v, ok := strings.CutPrefix(e, "GATEWAY_LISTEN="); ok {
			rows = append(rows, row{"Dockerfile ENV GATEWAY_LISTEN", port(t, v)})
		}
	}
	for _, g := range gateways {
		rows = append(rows, row{g + " GATEWAY_LISTEN", port(t, composeEnv(services, g)["GATEWAY_LISTEN"])})
		for _, p := range strs(services, g, "ports") {
			rows = append(rows, row{g + " ports " + p, p[strings.LastIndex(p, ":")+1:]})
		}
	}
	for _, job := range list(one(t, d, "prometheus.yml"), "scrape_configs") {
		for _, sc := range list(job, "static_configs") {
			for _, target := range strs(sc, "targets") {
				rows = append(rows, row{"prometheus target " + target, port(t, target)})
			}
		}
	}
	if len(rows) < 6 {
		t.Fatalf("found only %d port uses: %v", len(rows), rows)
	}
	for _, r := range rows {
		t.Run(r.where, func(t *testing.T) {
			if r.got != want {
				t.Errorf("%s: port %q, but the gateway listens on %s", r.where, r.got, want)
			}
		})
	}
}

func TestConfigMapIsARealProductionConfig(t *testing.T) {
	d := docs(t)
	src, cfg := configMap(t, d)
	_, c := deployment(t, d)

	t.Run("serve rules", func(t *testing.T) {
		if err := cfg.RequireHTTPS(); err != nil {
			t.Errorf("https rule of gateway serve: %v", err)
		}
		if cfg.Auth.Mode != "api_key" || len(cfg.Clients) == 0 {
			t.Errorf("production needs api_key auth with clients (mode %q, %d clients)", cfg.Auth.Mode, len(cfg.Clients))
		}
		for name, v := range cfg.Vendors {
			if v.Insecure {
				t.Errorf("vendors.%s.insecure must not be set in production", name)
			}
		}
	})
	t.Run("shared store", func(t *testing.T) {
		if cfg.Idempotency.Store != "redis" {
			t.Errorf("replicas need idempotency.store redis, have %q", cfg.Idempotency.Store)
		}
		if cfg.Redis.URL == "" && len(cfg.Redis.Addrs) == 0 {
			t.Error("redis has neither url nor addrs")
		}
	})
	// What `gateway check-config` does after loading: each vendor's settings
	// decode strictly into its adapter Config, and Open accepts them.
	factories := builtin.Configs()
	for name, v := range cfg.Vendors {
		t.Run("adapter "+name, func(t *testing.T) {
			factory, ok := factories[v.Type]
			if !ok {
				t.Fatalf("vendors.%s.type %q is not a built-in adapter (%v)", name, v.Type, builtin.Types())
			}
			ac := factory()
			if v.Settings.Kind != 0 {
				b, err := yaml.Marshal(&v.Settings)
				if err != nil {
					t.Fatal(err)
				}
				dec := yaml.NewDecoder(bytes.NewReader(b))
				dec.KnownFields(true)
				if err := dec.Decode(ac); err != nil && !errors.Is(err, io.EOF) {
					t.Fatalf("vendors.%s.settings: %v", name, err)
				}
			}
			_, err := ac.Open(name, adapters.Deps{Notifications: cfg.NotificationsFor(name),
				Credential: adapters.Credential{Username: v.Credential.Username, Password: v.Credential.Password, Token: v.Credential.Token}})
			if err != nil {
				t.Errorf("vendors.%s: Open: %v", name, err)
			}
		})
	}

	// Every variable comes from the Secret or the Deployment, and everything
	// they set is read by the gateway.yaml (or the OpenTelemetry SDK).
	set := map[string]string{}
	data, _ := get(one(t, d, "k8s/secret.example.yaml"), "stringData").(map[string]any)
	for k := range data {
		set[k] = "secret.example.yaml"
	}
	for _, e := range list(c, "env") {
		set[str(e, "name")] = "deployment env"
	}
	used := refs(t, src)
	for v, hasDefault := range used {
		t.Run("needs "+v, func(t *testing.T) {
			if _, ok := set[v]; !ok && !hasDefault {
				t.Errorf("${%s} in the ConfigMap is set by neither the Secret nor the Deployment", v)
			}
		})
	}
	for k, where := range set {
		t.Run("sets "+k, func(t *testing.T) {
			if _, ok := used[k]; !ok && !sdkVar(k) {
				t.Errorf("%s sets %s, which the ConfigMap's gateway.yaml never reads", where, k)
			}
		})
	}
}

func TestShutdownBudget(t *testing.T) {
	d := docs(t)
	_, cfg := configMap(t, d)
	dep, c := deployment(t, d)
	grace, _ := get(dep, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	sleep, _ := get(c, "lifecycle", "preStop", "sleep", "seconds").(int)
	if sleep <= 0 {
		t.Error("the container needs a preStop sleep so endpoints drop it before it stops accepting")
	}
	need := time.Duration(sleep)*time.Second + cfg.Server.ShutdownGrace.D() + flushBudget
	if time.Duration(grace)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %d must exceed preStop %ds + shutdown_grace %s + %s close/flush = %s",
			grace, sleep, cfg.Server.ShutdownGrace.D(), flushBudget, need)
	}
}

func TestCommandsAndFlagsExist(t *testing.T) {
	cmds := commands(t)
	d := docs(t)
	df := dockerfile(t)
	type inv struct {
		where string
		args  []string
	}
	var invs []inv
	for _, s := range instrs(df, "CMD") {
		invs = append(invs, inv{"Dockerfile CMD", execForm(t, s)})
	}
	// Distroless has no shell, so a HEALTHCHECK could only exec the binary
	// itself; no subcommand probes today, and this fails if one is invented.
	for _, s := range instrs(df, "HEALTHCHECK") {
		if i := strings.Index(s, "CMD ["); i >= 0 {
			args := execForm(t, s[i+len("CMD "):])
			if len(args) > 0 {
				args = args[1:]
			}
			invs = append(invs, inv{"Dockerfile HEALTHCHECK", args})
		} else if s != "NONE" {
			t.Errorf("HEALTHCHECK %s: distroless has no shell, use the exec form", s)
		}
	}
	services, _ := compose(t, d)
	for name, s := range services {
		if get(s, "build") != nil { // runs our image
			invs = append(invs, inv{"compose " + name, strs(s, "command")})
		}
	}
	for _, c := range list(one(t, d, "k8s/deployment.yaml"), "spec", "template", "spec", "containers") {
		invs = append(invs, inv{"deployment " + str(c, "name"), strs(c, "args")})
	}
	for _, c := range list(one(t, d, "k8s/migrate-job.yaml"), "spec", "template", "spec", "containers") {
		invs = append(invs, inv{"migrate job " + str(c, "name"), strs(c, "args")})
	}
	if len(invs) < 4 {
		t.Fatalf("found only %d invocations", len(invs))
	}
	for _, in := range invs {
		t.Run(in.where, func(t *testing.T) {
			if len(in.args) == 0 {
				t.Fatal("no command: say the subcommand explicitly")
			}
			flags, ok := cmds[in.args[0]]
			if !ok {
				t.Fatalf("subcommand %q does not exist", in.args[0])
			}
			for _, a := range in.args[1:] {
				name, ok := strings.CutPrefix(a, "--")
				if !ok {
					continue
				}
				name, _, _ = strings.Cut(name, "=")
				if _, ok := flags[name]; !ok {
					t.Errorf("gateway %s has no flag --%s (has %v)", in.args[0], name, slices.Sorted(maps.Keys(flags)))
				}
			}
		})
	}
}

func TestDockerfile(t *testing.T) {
	df := dockerfile(t)
	froms := instrs(df, "FROM")
	runs := strings.Join(instrs(df, "RUN"), "\n")
	goVer := ""
	if m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(read(t, "../go.mod")); m != nil {
		goVer = m[1]
	}
	var entry []string
	if e := instrs(df, "ENTRYPOINT"); len(e) == 1 {
		entry = execForm(t, e[0])
	}
	build := regexp.MustCompile(`go build .*-o (\S+) (\./\S+)`).FindStringSubmatch(runs)
	var copied, copiedFrom, cfgDest string
	for _, c := range instrs(df, "COPY") {
		f := strings.Fields(c)
		if len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
			copiedFrom, copied = f[1], f[2]
		}
		if len(f) == 2 && f[0] == "gateway.yaml" {
			cfgDest = f[1]
		}
	}
	var cmd []string
	if c := instrs(df, "CMD"); len(c) == 1 {
		cmd = execForm(t, c[0])
	}
	cfgArg, _ := flagValue(cmd, "config")
	last := ""
	if len(froms) > 0 {
		last = froms[len(froms)-1]
	}
	runChecks(t, []check{
		{"multi-stage from the go.mod toolchain", len(froms) >= 2 && goVer != "" && strings.Contains(froms[0], "golang:"+goVer+" "),
			fmt.Sprintf("first stage %q must be golang:%s (go.mod)", froms, goVer)},
		{"distroless static non-root final stage", strings.HasPrefix(last, "gcr.io/distroless/static") && strings.HasSuffix(last, ":nonroot"), last},
		{"static build", strings.Contains(runs, "CGO_ENABLED=0") && strings.Contains(runs, "-trimpath"), "CGO_ENABLED=0 and -trimpath"},
		{"builds cmd/gateway", build != nil && exists("../"+strings.TrimPrefix(build[2], "./")+"/main.go"), fmt.Sprint(build)},
		{"ships what it builds", build != nil && copiedFrom == build[1], fmt.Sprintf("COPY --from %q, built %v", copiedFrom, build)},
		{"entrypoint is the binary", len(entry) == 1 && entry[0] == copied, fmt.Sprintf("ENTRYPOINT %v, binary at %q", entry, copied)},
		{"CMD reads the shipped config", cfgDest != "" && cfgArg == cfgDest, fmt.Sprintf("--config %q, gateway.yaml copied to %q", cfgArg, cfgDest)},
		{"non-root user", slices.Contains(instrs(df, "USER"), "nonroot:nonroot"), "USER nonroot:nonroot"},
	})

	// COPY sources exist in the build context (the repository root), and the
	// Dockerfile-specific ignore file does not drop what the build needs.
	need := []string{"go.mod", "go.sum", "gateway.yaml", "embed.go", "api/openapi.yaml", "api/docs.html", "cmd/gateway/main.go", "config/config.go"}
	for _, c := range instrs(df, "COPY") {
		f := strings.Fields(c)
		if len(f) < 2 || strings.HasPrefix(f[0], "--from=") {
			continue
		}
		for _, src := range f[:len(f)-1] {
			if src != "." {
				need = append(need, src)
			}
		}
	}
	var patterns []string
	for _, line := range strings.Split(read(t, "Dockerfile.dockerignore"), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimPrefix(line, "/"))
		}
	}
	slices.Sort(need)
	for _, p := range slices.Compact(need) {
		t.Run("context has "+p, func(t *testing.T) {
			if !exists("../" + p) {
				t.Errorf("%s is not in the repository", p)
			}
			for _, pat := range patterns {
				if ignored(pat, p) {
					t.Errorf("Dockerfile.dockerignore pattern %q drops %s", pat, p)
				}
			}
		})
	}
}

func TestComposeEnvironment(t *testing.T) {
	d := docs(t)
	services, gateways := compose(t, d)
	if len(gateways) < 2 {
		t.Fatalf("compose runs %d gateways, want at least 2", len(gateways))
	}
	used := refs(t, read(t, "../gateway.yaml"))
	demo := simDemoEnv()

	// The simulators' URLs: --base-port plus the registry's port order.
	simURL := map[string]string{}
	for name, s := range services {
		args := strs(s, "command")
		if len(args) == 0 || args[0] != "sim" {
			continue
		}
		base, ok := flagValue(args, "base-port")
		if !ok {
			base = "9101"
		}
		b, _ := strconv.Atoi(base)
		for i, v := range builtin.Vendors() {
			simURL[strings.ToUpper(v.Type)+"_URL"] = fmt.Sprintf("http://%s:%d", name, b+i)
		}
	}
	if len(simURL) != len(builtin.Vendors()) {
		t.Fatalf("compose has no `gateway sim` service with every vendor's simulator: %v", simURL)
	}
	recv := str(one(t, d, "otel-collector.yaml"), "receivers", "otlp", "protocols", "http", "endpoint")

	for _, g := range gateways {
		env := composeEnv(services, g)
		t.Run(g, func(t *testing.T) {
			for k, v := range env {
				if _, ok := used[k]; !ok && !sdkVar(k) {
					t.Errorf("compose sets %s, which gateway.yaml never reads", k)
				}
				if want, ok := demo[k]; ok && v != want {
					t.Errorf("%s=%q, but `gateway sim` seeds %q", k, v, want)
				}
				if want, ok := simURL[k]; ok && v != want {
					t.Errorf("%s=%q, but the simulator listens at %s", k, v, want)
				}
			}
			for v, hasDefault := range used {
				if _, ok := env[v]; !ok && !hasDefault {
					t.Errorf("gateway.yaml needs ${%s} (no default) and compose does not set it", v)
				}
			}
			for k := range demo {
				if _, ok := env[k]; !ok {
					t.Errorf("compose does not pass the simulators' %s", k)
				}
			}
			if env["IDEMPOTENCY_STORE"] != "redis" {
				t.Errorf("IDEMPOTENCY_STORE=%q: two replicas need the shared redis store", env["IDEMPOTENCY_STORE"])
			}
			if u, err := url.Parse(env["REDIS_URL"]); err != nil || services[u.Hostname()] == nil {
				t.Errorf("REDIS_URL %q does not point at a compose service", env["REDIS_URL"])
			}
			if env["OTEL_EXPORTER"] == "otlp" {
				// The gateway's default OTLP protocol is http/protobuf.
				u, err := url.Parse(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
				if err != nil || services[u.Hostname()] == nil {
					t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q does not point at a compose service", env["OTEL_EXPORTER_OTLP_ENDPOINT"])
				} else if recv == "" || port(t, recv) != u.Port() {
					t.Errorf("the gateway exports OTLP/HTTP to port %s, the collector's http receiver is %q", u.Port(), recv)
				}
			}
			for _, dep := range dependsOn(services, g) {
				if services[dep] == nil {
					t.Errorf("depends_on %s: no such service", dep)
				}
			}
		})
	}
}

func TestObservabilityWiring(t *testing.T) {
	d := docs(t)
	services, gateways := compose(t, d)

	t.Run("prometheus scrapes every gateway", func(t *testing.T) {
		var hosts []string
		for _, job := range list(one(t, d, "prometheus.yml"), "scrape_configs") {
			for _, sc := range list(job, "static_configs") {
				for _, target := range strs(sc, "targets") {
					h, _, _ := net.SplitHostPort(target)
					hosts = append(hosts, h)
				}
			}
		}
		slices.Sort(hosts)
		if !slices.Equal(hosts, gateways) {
			t.Errorf("prometheus scrapes %v, compose runs gateways %v", hosts, gateways)
		}
		if !slices.ContainsFunc(strs(services, "prometheus", "volumes"), func(v string) bool {
			return strings.HasPrefix(v, "./prometheus.yml:")
		}) {
			t.Error("compose does not mount prometheus.yml into prometheus")
		}
	})
	t.Run("volume sources exist", func(t *testing.T) {
		for name := range services {
			for _, v := range strs(services, name, "volumes") {
				if src := strings.Split(v, ":")[0]; strings.HasPrefix(src, ".") && !exists(src) {
					t.Errorf("%s mounts %s, which does not exist", name, src)
				}
			}
		}
	})
	t.Run("grafana provisioning", func(t *testing.T) {
		mounts := map[string]string{} // source -> target
		for _, v := range strs(services, "grafana", "volumes") {
			if f := strings.Split(v, ":"); len(f) >= 2 {
				mounts[f[0]] = f[1]
			}
		}
		if mounts["./grafana/provisioning"] != "/etc/grafana/provisioning" {
			t.Errorf("grafana/provisioning mounted at %q, Grafana reads /etc/grafana/provisioning", mounts["./grafana/provisioning"])
		}
		dash := mounts["./grafana/dashboard.json"]
		var paths []string
		for _, p := range list(one(t, d, "grafana/provisioning/dashboards/identity-gateway.yaml"), "providers") {
			paths = append(paths, str(p, "options", "path"))
		}
		if dash == "" || !slices.Contains(paths, path.Dir(dash)) {
			t.Errorf("dashboard mounted at %q, the provider reads %v", dash, paths)
		}
		ds := one(t, d, "grafana/provisioning/datasources/prometheus.yaml")
		u, err := url.Parse(str(ds, "datasources", "0", "url"))
		if err != nil || services[u.Hostname()] == nil || str(ds, "datasources", "0", "type") != "prometheus" {
			t.Errorf("the datasource %q is not the compose prometheus", str(ds, "datasources", "0", "url"))
		}
		// The dashboard picks a datasource by type through its template
		// variable; the provisioned one must be of that type.
		for _, v := range list(one(t, d, "grafana/dashboard.json"), "templating", "list") {
			if str(v, "type") == "datasource" && str(v, "query") != str(ds, "datasources", "0", "type") {
				t.Errorf("dashboard variable %s wants %q datasources", str(v, "name"), str(v, "query"))
			}
		}
	})
}

func TestDashboardUsesExportedMetrics(t *testing.T) {
	b := read(t, "grafana/dashboard.json")
	names := regexp.MustCompile(`gateway_[a-z_]+`).FindAllString(b, -1)
	if len(names) == 0 {
		t.Fatal("no gateway metrics in the dashboard")
	}
	known := telemetry.MetricNames()
	for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
		t.Run(n, func(t *testing.T) {
			if !slices.Contains(known, n) {
				t.Errorf("dashboard uses %s, which the gateway does not export (known: %v)", n, known)
			}
		})
	}
}
