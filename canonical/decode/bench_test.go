package decode

import (
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
		if _, err := Request(benchBody, "jdoe"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	req, err := Request(benchBody, "jdoe")
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
