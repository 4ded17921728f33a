package main

import (
	"context"
	"flag"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/builtin"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the README's generated capability matrix")

// TestReadmeCapabilityMatrix keeps the README's matrix equal to what
// GET /v1/capabilities reports (regenerate with -update-readme).
func TestReadmeCapabilityMatrix(t *testing.T) {
	_, cfg := devSims(t)
	g, err := build(context.Background(), cfg, buildOptions{LogOutput: io.Discard, NoStore: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	caps := g.dispatcher.Capabilities()
	var names []string
	for n := range caps {
		names = append(names, n)
	}
	sort.Strings(names)
	// One column per vendor in the registry: the built-in config must
	// configure every vendor the gateway is built with.
	if !slices.Equal(names, builtin.Types()) {
		t.Errorf("gateway.yaml configures %v; the vendor registry lists %v", names, builtin.Types())
	}
	var b strings.Builder
	b.WriteString("| canonical | " + strings.Join(names, " | ") + " |\n|---|" + strings.Repeat("---|", len(names)) + "\n")
	for _, f := range canonical.AllFields() {
		b.WriteString("| " + string(f))
		for _, n := range names {
			s := caps[n].Fields[f]
			cell := "- " + s.Reason
			if s.Supported {
				cell = s.As
			}
			b.WriteString(" | " + strings.ReplaceAll(cell, "|", "\\|"))
		}
		b.WriteString(" |\n")
	}
	table := b.String()
	checkReadmeSection(t, "capabilities", table, "ReadmeCapability")
}

// checkReadmeSection compares README's text between <!-- name --> and
// <!-- /name --> with want, or writes want there with -update-readme.
func checkReadmeSection(t *testing.T, name, want, rerun string) {
	t.Helper()
	start, end := "<!-- "+name+" -->\n", "<!-- /"+name+" -->\n"
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README lacks the %q ... %q markers", start, end)
	}
	if *updateReadme {
		s = s[:i+len(start)] + want + s[j:]
		if err := os.WriteFile("../../README.md", []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if s[i+len(start):j] != want {
		t.Errorf("README %s is stale; run go test ./cmd/gateway -run %s -update-readme\n%s", name, rerun, want)
	}
}
