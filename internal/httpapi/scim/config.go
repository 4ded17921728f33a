package scim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// Config is the scim: block of gateway.yaml.
type Config struct {
	// Targets are the targets SCIM writes and reads; empty means every
	// configured target.
	Targets []string
	// Authoritative maps a canonical field (username, email, given_name,
	// family_name, display_name, enabled, metadata) to the target whose
	// value a read shows; a field with none comes from the first target, in
	// Targets order, that shows it.
	Authoritative map[string]string
	// Attributes maps extra SCIM attributes (full paths, such as
	// urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber)
	// to metadata.<key> or extensions.<vendor>.<name>.
	Attributes map[string]string
	// HardDelete lists the targets where DELETE /Users/{id} deletes the
	// account permanently (the adapter must be an adapters.Deleter);
	// elsewhere it deactivates.
	HardDelete []string
	// MaxResults bounds a ListResponse (default 100); MaxBulkOperations a
	// Bulk request (default 100).
	MaxResults        int
	MaxBulkOperations int
}

// The default attribute mappings (issue 23): userName -> username,
// name.givenName -> given_name, name.familyName -> family_name,
// displayName -> display_name, the primary (else first) e-mail -> email,
// active -> enabled.
var defaultFields = []canonical.Field{
	canonical.FieldUsername, canonical.FieldEmail, canonical.FieldGivenName,
	canonical.FieldFamilyName, canonical.FieldDisplayName, canonical.FieldEnabled,
}

// mapping is one extra attribute mapping, parsed.
type mapping struct {
	scimPath string // as configured
	urn      string // schema URN ("" for core attributes)
	attr     string // attribute name within the schema (may hold one dot: name.middleName)
	// metadata key, or vendor + extension name.
	metaKey        string
	vendor, extKey string
}

func (c Config) withDefaults(targets []string) (Config, error) {
	if len(c.Targets) == 0 {
		c.Targets = slices.Clone(targets)
	}
	for _, t := range c.Targets {
		if !slices.Contains(targets, t) {
			return c, fmt.Errorf("scim.targets: unknown target %q (configured: %v)", t, targets)
		}
	}
	for _, t := range c.HardDelete {
		if !slices.Contains(c.Targets, t) {
			return c, fmt.Errorf("scim.hard_delete: %q is not one of scim.targets %v", t, c.Targets)
		}
	}
	for f, t := range c.Authoritative {
		if !slices.Contains(c.Targets, t) {
			return c, fmt.Errorf("scim.authoritative.%s: %q is not one of scim.targets %v", f, t, c.Targets)
		}
		if !slices.Contains(append(slices.Clone(defaultFields), canonical.FieldMetadata), canonical.Field(f)) {
			return c, fmt.Errorf("scim.authoritative.%s: not a field SCIM reads (username, email, given_name, family_name, display_name, enabled, metadata)", f)
		}
	}
	if c.MaxResults <= 0 {
		c.MaxResults = 100
	}
	if c.MaxBulkOperations <= 0 {
		c.MaxBulkOperations = 100
	}
	return c, nil
}

func parseMappings(attrs map[string]string) ([]mapping, error) {
	var out []mapping
	for _, p := range sortedStrings(mapsKeys(attrs)) {
		to := attrs[p]
		m := mapping{scimPath: p}
		m.urn, m.attr = splitURN(p)
		if m.attr == "" {
			return nil, fmt.Errorf("scim.attributes.%s: names no attribute", p)
		}
		switch {
		case strings.HasPrefix(to, "metadata.") && len(to) > len("metadata."):
			m.metaKey = strings.TrimPrefix(to, "metadata.")
		case strings.HasPrefix(to, "extensions."):
			parts := strings.SplitN(strings.TrimPrefix(to, "extensions."), ".", 2)
			if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
				return nil, fmt.Errorf("scim.attributes.%s: %q must be extensions.<vendor>.<name>", p, to)
			}
			m.vendor, m.extKey = parts[0], parts[1]
		default:
			return nil, fmt.Errorf("scim.attributes.%s: %q must be metadata.<key> or extensions.<vendor>.<name>", p, to)
		}
		out = append(out, m)
	}
	return out, nil
}

func mapsKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// splitURN splits "urn:...:User:employeeNumber" into the schema URN and the
// attribute; a core path has no URN.
func splitURN(p string) (urn, attr string) {
	if !strings.HasPrefix(strings.ToLower(p), "urn:") {
		return "", p
	}
	for _, s := range knownSchemas {
		if len(p) > len(s)+1 && strings.EqualFold(p[:len(s)], s) && p[len(s)] == ':' {
			return s, p[len(s)+1:]
		}
	}
	i := strings.LastIndex(p, ":")
	return p[:i], p[i+1:]
}

func sortedStrings(s []string) []string { slices.Sort(s); return s }
