// Package builtin is the one list of the vendors compiled into the gateway:
// each entry names the vendor type, its adapter config and its seeded
// simulator, and the list's order is the simulators' port order. Config
// checks, `gateway sim`, `gateway dev`, the deploy drift test and the load
// benchmark all derive from it, so adding a vendor is one entry here (see
// docs/adding-a-vendor.md).
package builtin

import (
	"net/http"
	"slices"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/akana"
	"github.com/identity-gateway/identity-gateway/adapters/akana/akanasim"
	"github.com/identity-gateway/identity-gateway/adapters/commvault"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/adapters/volterra"
	"github.com/identity-gateway/identity-gateway/adapters/volterra/volterrasim"
)

// Vendor is one built-in vendor.
type Vendor struct {
	// Type is the value of vendors.<name>.type in gateway.yaml.
	Type string
	// Config returns a new, zero adapter Config (decoded from
	// vendors.<name>.settings, then opened).
	Config func() adapters.Config
	// Sim builds the vendor's simulator, seeded with its demo user and
	// extraUsers numbered users, and returns the ${VAR}s gateway.yaml's
	// block for this vendor needs to reach it, except <TYPE>_URL (the
	// caller knows the address).
	Sim func(extraUsers int) (http.Handler, map[string]string)
}

// Vendors lists the built-in vendors in port order: `gateway sim
// --base-port B` serves the i-th on port B+i. Append new vendors at the end
// so existing ports stay where scripts expect them.
func Vendors() []Vendor {
	return []Vendor{
		{"volterra", func() adapters.Config { return &volterra.Config{} }, volterrasim.Seeded},
		{"akana", func() adapters.Config { return &akana.Config{} }, akanasim.Seeded},
		{"commvault", func() adapters.Config { return &commvault.Config{} }, commvaultsim.Seeded},
		{"frontier", func() adapters.Config { return &frontier.Config{} }, frontiersim.Seeded},
	}
}

// Configs returns a fresh map of vendor type -> a new, zero adapter Config
// (decoded from vendors.<name>.settings, then opened).
func Configs() map[string]func() adapters.Config {
	out := map[string]func() adapters.Config{}
	for _, v := range Vendors() {
		out[v.Type] = v.Config
	}
	return out
}

// Types lists the vendor types, sorted.
func Types() []string {
	var out []string
	for _, v := range Vendors() {
		out = append(out, v.Type)
	}
	slices.Sort(out)
	return out
}

// PortOffset is typ's place in port order (Vendors), or -1 for a type that
// is not built in.
func PortOffset(typ string) int {
	return slices.IndexFunc(Vendors(), func(v Vendor) bool { return v.Type == typ })
}

// DemoEnv is every ${VAR} the simulators' demo seeds supply (what `gateway
// sim` prints besides the URLs), from fresh simulators.
func DemoEnv() map[string]string {
	out := map[string]string{}
	for _, v := range Vendors() {
		_, env := v.Sim(0)
		for k, val := range env {
			out[k] = val
		}
	}
	return out
}
