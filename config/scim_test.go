package config

import (
	"strings"
	"testing"
)

func TestSCIMConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown target", "scim:\n  targets: [nope]\n", `scim.targets[0]: unknown target "nope"`},
		{"authoritative field", "scim:\n  authoritative: {password: frontier}\n", "scim.authoritative.password: not a field SCIM reads"},
		{"authoritative outside targets", "scim:\n  targets: [frontier]\n  authoritative: {email: commvault}\n", `scim.authoritative.email: "commvault" is not one of the SCIM targets`},
		{"attribute mapping", "scim:\n  attributes: {title: profile.title}\n", "scim.attributes.title: must map to metadata.<key> or extensions.<vendor>.<name>"},
		{"hard delete outside targets", "scim:\n  targets: [frontier]\n  hard_delete: [akana]\n", `scim.hard_delete[0]: "akana" is not one of the SCIM targets`},
		{"max results", "scim:\n  max_results: -1\n", "scim.max_results: must be between"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(authBase+tc.yaml), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	ok := authBase + "scim:\n  targets: [frontier]\n  authoritative: {email: frontier}\n  attributes:\n    urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber: metadata.employee_number\n"
	if _, err := Load([]byte(ok), env(nil)); err != nil {
		t.Fatal(err)
	}
}
