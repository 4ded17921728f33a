// Package builtin is the one place that lists the vendor adapters compiled
// into the gateway. Adding a vendor is one line here.
package builtin

import (
	"sort"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/akana"
	"github.com/identity-gateway/identity-gateway/adapters/commvault"
	"github.com/identity-gateway/identity-gateway/adapters/frontier"
	"github.com/identity-gateway/identity-gateway/adapters/volterra"
)

// Configs returns a fresh map of vendor type -> a new, zero adapter Config
// (decoded from vendors.<name>.settings, then opened).
func Configs() map[string]func() adapters.Config {
	return map[string]func() adapters.Config{
		"akana":     func() adapters.Config { return &akana.Config{} },
		"commvault": func() adapters.Config { return &commvault.Config{} },
		"frontier":  func() adapters.Config { return &frontier.Config{} },
		"volterra":  func() adapters.Config { return &volterra.Config{} },
	}
}

// Types lists the vendor types, sorted.
func Types() []string {
	var out []string
	for t := range Configs() {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
