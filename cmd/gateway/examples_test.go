package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestExamplesTranslate runs `gateway translate` on every update in
// examples/ for every target it names: each must dry-run cleanly and apply
// something there. The README must name every example, and every example
// it names must exist.
func TestExamplesTranslate(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile(`examples/[A-Za-z0-9_.-]+\.json`).FindAllString(string(readme), -1)
	for _, n := range named {
		if _, err := os.Stat("../../" + n); err != nil {
			t.Errorf("README names %s, which does not exist", n)
		}
	}
	for _, f := range files {
		name := "examples/" + filepath.Base(f)
		if !slices.Contains(named, name) {
			t.Errorf("README never uses %s", name)
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ex struct {
			Targets []string `json:"targets"`
		}
		if err := json.Unmarshal(body, &ex); err != nil || len(ex.Targets) == 0 {
			t.Fatalf("%s: names no targets (%v)", name, err)
		}
		for _, target := range ex.Targets {
			t.Run(filepath.Base(f)+"/"+target, func(t *testing.T) {
				var out, errb bytes.Buffer
				if err := run(context.Background(), []string{"translate", "--target", target}, bytes.NewReader(body), &out, &errb); err != nil {
					t.Fatalf("%v\n%s", err, errb.String())
				}
				var res struct {
					DryRun  bool `json:"dry_run"`
					Results map[string]struct {
						Status  string   `json:"status"`
						Applied []string `json:"applied_fields"`
						Calls   []any    `json:"calls"`
					} `json:"results"`
				}
				if err := json.Unmarshal(out.Bytes(), &res); err != nil {
					t.Fatalf("%v\n%s", err, out.String())
				}
				r := res.Results[target]
				if !res.DryRun || r.Status != "planned" || len(r.Applied) == 0 || len(r.Calls) == 0 {
					t.Errorf("%s", out.String())
				}
				if strings.Contains(out.String(), "N3w-Passw0rd-Example") {
					t.Error("the dry run shows the password")
				}
			})
		}
	}
}
