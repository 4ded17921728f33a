package canonical

import (
	"encoding/json"
	"testing"
)

var benchBody = []byte(`{"targets":["akana","commvault","frontier","volterra"],"vendor_ids":{"commvault":"42"},"on_unsupported":"skip","user":{
 "username":"jdoe","email":"jane.doe@example.com","given_name":"Jane","family_name":"Doe","display_name":"Jane Doe","enabled":true,
 "otp_enabled":true,"notifications":["ticket.change","app.alert"],"groups":{"op":"add","items":[{"id":3},{"name":"operators"}]},
 "password":{"new":"s3cret-Pa55"},"metadata":{"label":{"team":"sre"},"description":"on call"},"principal_name":"jdoe@corp.example",
 "auth_method":"LOCAL","plan":{"id":7}}}`)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(benchBody, "jdoe"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	req, err := Decode(benchBody, "jdoe")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := req.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeResult(b *testing.B) {
	r := Result{ID: "jdoe", Status: StatusApplied, Results: map[string]TargetResult{
		"commvault": {Status: StatusApplied, VendorID: "42", Attempts: 1, Applied: []Field{FieldDisplayName},
			Calls: []CallSummary{{Name: "put user", Method: "PUT", Path: "/V4/user/42", Status: 200, AttemptStatuses: []AttemptStatus{{Status: 200}}}}},
		"frontier": {Status: StatusApplied, VendorID: "2e5b", Attempts: 2, Applied: []Field{FieldDisplayName},
			Calls: []CallSummary{{Name: "get user", Method: "GET", Path: "/v1beta1/users/2e5b", Status: 200}, {Name: "put user", Method: "PUT", Path: "/v1beta1/users/2e5b", Status: 200}}},
	}, SkippedFields: map[string][]Field{}, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&r); err != nil {
			b.Fatal(err)
		}
	}
}
