package main

import (
	"context"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// TestReadmeReadableMatrix keeps the README's read-side matrix (what
// GET /v1/users/{id} can show, from each adapter's capabilities) equal to
// the adapters (regenerate with -update-readme).
func TestReadmeReadableMatrix(t *testing.T) {
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
	var b strings.Builder
	b.WriteString("| readable | " + strings.Join(names, " | ") + " |\n|---|" + strings.Repeat("---|", len(names)) + "\n")
	for _, f := range canonical.AllFields() {
		b.WriteString("| " + string(f))
		for _, n := range names {
			s := caps[n].Fields[f]
			cell := "- " + s.ReadReason
			if s.Readable {
				cell = s.ReadAs
			}
			b.WriteString(" | " + strings.ReplaceAll(cell, "|", "\\|"))
		}
		b.WriteString(" |\n")
	}
	table := b.String()
	checkReadmeSection(t, "readable", table, "ReadmeReadable")
}
