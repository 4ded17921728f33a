package identitygateway

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/identity-gateway/identity-gateway"

// importRule confines a third-party library (every import path starting
// with lib) to the packages under the listed directories; none confines it
// to no package of this module at all.
type importRule struct {
	lib     string
	allowed []string
	// tests says whether _test.go files are held to the rule as well.
	tests bool
}

// importRules keeps each third-party library behind one package, so that
// replacing or upgrading it touches that package only.
var importRules = []importRule{
	{lib: "github.com/gofiber/fiber", allowed: []string{"internal/httpapi"}},
	// fasthttp serves the API under Fiber and, as the vendor calls'
	// transport below net/http's Client, sends them (internal/upstream).
	{lib: "github.com/valyala/fasthttp", allowed: []string{"internal/httpapi", "internal/upstream"}},
	{lib: "go.yaml.in/yaml", allowed: []string{"config"}},
	{lib: "gopkg.in/yaml", allowed: []string{"config"}},
	{lib: "go.opentelemetry.io/otel/sdk", allowed: []string{"internal/telemetry"}},
	// The load generator lives in its own module (tools/loadbench), so
	// go.mod lists only what the gateway runs on.
	{lib: "github.com/tsenart/vegeta", tests: true},
}

// layerRules keep imports pointing down: the canonical packages import
// nothing above them, and adapters (and their simulators) never
// import the gateway's internals.
var layerRules = []struct {
	dir       string
	forbidden []string // module-relative import prefixes
}{
	{"canonical", []string{"adapters", "internal", "config", "cmd"}},
	{"adapters", []string{"internal", "config", "cmd"}},
	// config may use the adapter contract (adapters) but no adapter.
	{"config", []string{"adapters/", "internal", "cmd"}},
}

// TestImportBoundaries parses the imports of every Go file of the module
// and fails when a library is imported outside the package that owns it,
// or an import points up the layers.
func TestImportBoundaries(t *testing.T) {
	imports := moduleImports(t)
	if len(imports) == 0 {
		t.Fatal("no Go files found")
	}
	for _, f := range imports {
		for _, imp := range f.paths {
			for _, r := range importRules {
				if !hasPathPrefix(imp, r.lib) || (f.test && !r.tests) {
					continue
				}
				if !underAny(f.dir, r.allowed) {
					t.Errorf("%s imports %s, which only %v may import", f.name, imp, r.allowed)
				}
			}
			rel, ok := strings.CutPrefix(imp, modulePath+"/")
			if !ok || f.test {
				continue
			}
			// canonical itself is the bottom: its sub-packages build on it,
			// never the other way round.
			if f.dir == "canonical" {
				t.Errorf("%s imports %s: canonical imports no package of the module", f.name, imp)
			}
			for _, l := range layerRules {
				if underAny(f.dir, []string{l.dir}) && underAny(rel, l.forbidden) {
					t.Errorf("%s imports %s: %s/ must not import %v", f.name, imp, l.dir, l.forbidden)
				}
			}
		}
	}
}

// TestImportRulesBite checks the rules above are not vacuous: the files
// they are meant to police exist and are seen.
func TestImportRulesBite(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range moduleImports(t) {
		for _, imp := range f.paths {
			for _, r := range importRules {
				if hasPathPrefix(imp, r.lib) {
					seen[r.lib] = true
				}
			}
		}
	}
	for _, lib := range []string{"github.com/gofiber/fiber", "go.yaml.in/yaml", "go.opentelemetry.io/otel/sdk"} {
		if !seen[lib] {
			t.Errorf("no file imports %s: the walk misses files, or the rule is stale", lib)
		}
	}
}

type fileImports struct {
	name  string // slash path from the module root
	dir   string
	test  bool
	paths []string
}

// moduleImports parses the import clauses of every .go file of this module
// (not of nested modules such as tools/loadbench, nor testdata).
func moduleImports(t *testing.T) []fileImports {
	t.Helper()
	var out []fileImports
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == "." {
				return nil
			}
			base := d.Name()
			if base == "testdata" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(p)
		fi := fileImports{name: name, dir: path.Dir(name), test: strings.HasSuffix(p, "_test.go")}
		for _, s := range f.Imports {
			v, err := strconv.Unquote(s.Path.Value)
			if err != nil {
				return err
			}
			fi.paths = append(fi.paths, v)
		}
		out = append(out, fi)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hasPathPrefix reports whether p is prefix or a path below it.
func hasPathPrefix(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/") || strings.HasPrefix(p, prefix+".")
}

// underAny reports whether dir is one of dirs or below one; an entry
// ending in a slash matches only below it.
func underAny(dir string, dirs []string) bool {
	for _, d := range dirs {
		if below, ok := strings.CutSuffix(d, "/"); ok {
			if strings.HasPrefix(dir, below+"/") {
				return true
			}
			continue
		}
		if dir == d || strings.HasPrefix(dir, d+"/") {
			return true
		}
	}
	return false
}
