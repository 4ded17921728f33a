package config

import (
	"slices"
	"strconv"
	"strings"
)

// validateSCIM checks the scim: block against the configured vendors, so
// check-config finds what the SCIM handler would refuse at start.
func validateSCIM(c *Config, bad func(path, format string, args ...any)) {
	s := c.SCIM
	for i, t := range s.Targets {
		if _, ok := c.Vendors[t]; !ok {
			bad("scim.targets["+strconv.Itoa(i)+"]", "unknown target %q", t)
		}
	}
	for i, t := range s.HardDelete {
		if _, ok := c.Vendors[t]; !ok || (len(s.Targets) > 0 && !slices.Contains(s.Targets, t)) {
			bad("scim.hard_delete["+strconv.Itoa(i)+"]", "%q is not one of the SCIM targets", t)
		}
	}
	readable := []string{"username", "email", "given_name", "family_name", "display_name", "enabled", "metadata"}
	for _, f := range sortedKeys(s.Authoritative) {
		t := s.Authoritative[f]
		if !slices.Contains(readable, f) {
			bad("scim.authoritative."+f, "not a field SCIM reads (%s)", strings.Join(readable, ", "))
		}
		if _, ok := c.Vendors[t]; !ok || (len(s.Targets) > 0 && !slices.Contains(s.Targets, t)) {
			bad("scim.authoritative."+f, "%q is not one of the SCIM targets", t)
		}
	}
	for _, a := range sortedKeys(s.Attributes) {
		to := s.Attributes[a]
		meta, ok := strings.CutPrefix(to, "metadata.")
		ext, isExt := strings.CutPrefix(to, "extensions.")
		switch {
		case ok && meta != "":
		case isExt && strings.Count(ext, ".") >= 1 && !strings.HasPrefix(ext, ".") && !strings.HasSuffix(ext, "."):
		default:
			bad("scim.attributes."+a, "must map to metadata.<key> or extensions.<vendor>.<name>")
		}
	}
	if s.MaxResults < 0 || s.MaxResults > 10000 {
		bad("scim.max_results", "must be between 0 (default 100) and 10000")
	}
	if s.MaxBulkOperations < 0 || s.MaxBulkOperations > 10000 {
		bad("scim.max_bulk_operations", "must be between 0 (default 100) and 10000")
	}
}
