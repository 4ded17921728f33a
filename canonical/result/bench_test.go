package result

import (
	"encoding/json"
	"testing"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// benchResult is a two-target applied result, as most updates answer.
func benchResult() *Result {
	return &Result{ID: "jdoe", Status: StatusApplied, Results: map[string]Target{
		"commvault": {Status: StatusApplied, VendorID: "42", Attempts: 1, Applied: []canonical.Field{canonical.FieldDisplayName},
			Calls: []CallSummary{{Name: "put user", Method: "PUT", Path: "/V4/user/42", Status: 200, AttemptStatuses: []AttemptStatus{{Status: 200}}}}},
		"frontier": {Status: StatusApplied, VendorID: "2e5b", Attempts: 2, Applied: []canonical.Field{canonical.FieldDisplayName},
			Calls: []CallSummary{{Name: "get user", Method: "GET", Path: "/v1beta1/users/2e5b", Status: 200}, {Name: "put user", Method: "PUT", Path: "/v1beta1/users/2e5b", Status: 200}}},
	}, SkippedFields: map[string][]canonical.Field{}, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
}

func BenchmarkEncodeResult(b *testing.B) {
	r := benchResult()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendJSON encodes the same value as BenchmarkEncodeResult with
// the hand-written encoder, into a fresh buffer each time as the
// dispatcher does (its body is kept, so it cannot be reused).
func BenchmarkAppendJSON(b *testing.B) {
	r := benchResult()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.AppendJSON(nil); err != nil {
			b.Fatal(err)
		}
	}
}
