package auth

import "strings"

// ScopePrefix starts every scope or role the gateway reads.
const ScopePrefix = "idgw:"

// Grants is what a token's scopes or roles allow. Nil slices mean the token
// said nothing about that dimension.
type Grants struct {
	// Targets from idgw:write:<target>.
	Targets []string
	// Fields from idgw:field:<field> (extensions as
	// idgw:field:extensions.<vendor>.<name>).
	Fields []string
	// Permissions from idgw:<permission> (links, scim, audit, ...).
	Permissions []string
}

// GrantsFrom reads the idgw: scopes and roles; others are ignored.
func GrantsFrom(scopes []string) Grants {
	var g Grants
	for _, s := range scopes {
		rest, ok := strings.CutPrefix(s, ScopePrefix)
		if !ok || rest == "" {
			continue
		}
		switch {
		case strings.HasPrefix(rest, "write:"):
			if t := strings.TrimPrefix(rest, "write:"); t != "" {
				g.Targets = append(g.Targets, t)
			}
		case strings.HasPrefix(rest, "field:"):
			if f := strings.TrimPrefix(rest, "field:"); f != "" {
				g.Fields = append(g.Fields, f)
			}
		default:
			g.Permissions = append(g.Permissions, rest)
		}
	}
	return g
}

// Narrow limits a configured allowance by a token's grant: nil grant keeps
// the allowance (the token said nothing), a grant keeps only what both
// allow. configured nil means "all" (fields); the result is never wider than
// the configuration.
func Narrow(configured, grant []string) []string {
	if grant == nil {
		return configured
	}
	if configured == nil {
		return grant
	}
	out := []string{}
	for _, g := range grant {
		for _, c := range configured {
			if c == g {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
