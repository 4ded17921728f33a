package result

import (
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/canonical"
)

func TestResultFinish(t *testing.T) {
	fail := func(c canonical.Code) Target {
		return Target{Status: StatusFailed, Error: &ErrorBody{Code: c}}
	}
	ok := Target{Status: StatusApplied}
	planned := Target{Status: StatusPlanned}
	cases := []struct {
		name    string
		results map[string]Target
		status  Status
		http    int
	}{
		{"all applied", map[string]Target{"a": ok, "b": ok}, StatusApplied, 200},
		{"applied and skipped", map[string]Target{"a": ok, "b": {Status: StatusSkipped}}, StatusApplied, 200},
		{"partial", map[string]Target{"a": ok, "b": fail(canonical.CodeConflict)}, StatusPartial, 207},
		{"all failed, agree", map[string]Target{"a": fail(canonical.CodeNotFound), "b": fail(canonical.CodeNotFound)}, StatusFailed, 404},
		{"all failed, disagree", map[string]Target{"a": fail(canonical.CodeNotFound), "b": fail(canonical.CodeConflict)}, StatusFailed, 502},
		{"one failed: circuit open", map[string]Target{"a": fail(canonical.CodeCircuitOpen)}, StatusFailed, 503},
		{"dry run planned", map[string]Target{"a": planned, "b": {Status: StatusSkipped}}, StatusPlanned, 200},
		{"dry run partial", map[string]Target{"a": planned, "b": fail(canonical.CodeNotFound)}, StatusPartial, 207},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Result{Results: tc.results, DryRun: strings.HasPrefix(tc.name, "dry run")}
			got, _ := r.Finish()
			if got != tc.http || r.Status != tc.status {
				t.Errorf("got %d %s, want %d %s", got, r.Status, tc.http, tc.status)
			}
		})
	}
}
