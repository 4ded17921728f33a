package idempotency_test

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// fourTargetRecord is a finished, fully applied record of the README's
// example update to all four targets, shaped like dispatch stores it: the
// response body and each applied target's result.
func fourTargetRecord(i int) idempotency.Record {
	return targetRecord(i, "akana", "commvault", "frontier", "volterra")
}

// targetRecord is fourTargetRecord with only the named targets.
func targetRecord(i int, names ...string) idempotency.Record {
	res := result.Result{ID: fmt.Sprintf("user-%06d", i), Status: result.StatusApplied, Results: map[string]result.Target{},
		SkippedFields: map[string][]canonical.Field{"akana": {"display_name", "enabled"}, "commvault": {"given_name"},
			"frontier": {"given_name"}, "volterra": {"display_name", "enabled"}},
		TraceID: fmt.Sprintf("%032x", i)}
	calls := map[string][]result.CallSummary{
		"commvault": {{Name: "login", Method: "POST", Path: "/Login", Status: 200, AttemptStatuses: []result.AttemptStatus{{Status: 200}}},
			{Name: "put user", Method: "PUT", Path: fmt.Sprintf("/V4/user/%d", 40000+i), Status: 200, AttemptStatuses: []result.AttemptStatus{{Status: 200}}}},
		"volterra": {{Name: "whoami", Method: "GET", Path: "/api/web/custom/namespaces/system/whoami", Status: 200},
			{Name: "get settings", Method: "GET", Path: "/api/web/namespaces/system/user/settings", Status: 200},
			{Name: "put settings", Method: "PUT", Path: "/api/web/namespaces/system/user/settings", Status: 200}},
		"akana": {{Name: "login", Method: "POST", Path: "/api/login", Status: 200},
			{Name: "get user", Method: "GET", Path: fmt.Sprintf("/api/users/%d", i), Status: 200},
			{Name: "put user", Method: "PUT", Path: fmt.Sprintf("/api/users/%d", i), Status: 200, AttemptStatuses: []result.AttemptStatus{{Status: 503}, {Status: 200}}}},
		"frontier": {{Name: "get user", Method: "GET", Path: fmt.Sprintf("/v1beta1/users/%08x-0000-4000-8000-000000000000", i), Status: 200},
			{Name: "put user", Method: "PUT", Path: fmt.Sprintf("/v1beta1/users/%08x-0000-4000-8000-000000000000", i), Status: 200},
			{Name: "enable", Method: "POST", Path: fmt.Sprintf("/v1beta1/users/%08x-0000-4000-8000-000000000000/enable", i), Status: 200}},
	}
	targets := map[string]result.Target{}
	for name, cs := range calls {
		if !slices.Contains(names, name) {
			delete(res.SkippedFields, name)
			continue
		}
		tr := result.Target{Status: result.StatusApplied, VendorID: fmt.Sprintf("%s-%d", name, i), Attempts: len(cs), DurationMS: 12,
			Applied: []canonical.Field{"display_name", "enabled"}, Calls: cs}
		res.Results[name] = tr
		targets[name] = tr
	}
	body, _ := json.Marshal(res)
	return idempotency.Record{Fingerprint: fmt.Sprintf("%064x", i), Done: true, Status: 200, Body: body, Targets: targets, Started: 1}
}
