package main

import (
	"sort"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/builtin"
	"github.com/identity-gateway/identity-gateway/config"
)

// TestReadmeResolutionTable keeps the README's resolution table equal to
// what each built-in adapter says it offers (regenerate with -update-readme).
func TestReadmeResolutionTable(t *testing.T) {
	_, cfg := devSims(t)
	types := builtin.Types()
	sort.Strings(types)
	var b strings.Builder
	b.WriteString("| vendor | resolve by | lookup | limits |\n|---|---|---|---|\n")
	for _, name := range types {
		factory := builtin.Configs()[name]
		ac := factory()
		v := cfg.Vendors[name]
		if err := config.DecodeStrict(&v.Settings, ac, "vendors."+name+".settings"); err != nil {
			t.Fatal(err)
		}
		a, err := ac.Open(name, adapters.Deps{Credential: adapters.Credential{Username: v.Credential.Username, Password: v.Credential.Password, Token: v.Credential.Token}})
		if err != nil {
			t.Fatal(err)
		}
		d, ok := a.(adapters.ResolveDescriber)
		if !ok {
			t.Fatalf("%s does not describe its resolution", name)
		}
		s := d.ResolveSupport()
		by := "- (off)"
		if len(s.By) > 0 {
			by = strings.Join(s.By, ", ")
		}
		cell := func(v string) string {
			if v == "" {
				return "-"
			}
			return strings.ReplaceAll(v, "|", "\\|")
		}
		b.WriteString("| " + name + " | " + by + " | " + cell(s.As) + " | " + cell(s.Reason) + " |\n")
	}
	table := b.String()
	checkReadmeSection(t, "resolution", table, "ReadmeResolution")
}
