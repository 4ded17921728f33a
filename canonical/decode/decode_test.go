package decode

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// pngBytes is a minimal PNG signature plus header, enough for sniffing.
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 32)...)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var e *canonical.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *canonical.Error", err)
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestDecodeRules(t *testing.T) {
	cases := []struct {
		rule   string
		body   string
		fields []string // JSON paths named by the error; nil = valid
	}{
		{"minimal valid update", `{"user":{"display_name":"Jane"}}`, nil},
		{"unknown top-level field", `{"user":{"display_name":"J"},"targts":["a"]}`, []string{"targts"}},
		{"unknown user field", `{"user":{"display_nam":"J"}}`, []string{"user.display_nam"}},
		{"null rejected", `{"user":{"email":null}}`, []string{"user.email"}},
		{"wrong type", `{"user":{"enabled":"yes"}}`, []string{"user.enabled"}},
		{"duplicate key", `{"user":{"given_name":"a","given_name":"b"}}`, []string{"user.given_name"}},
		{"every bad field at once", `{"user":{"enabled":1,"otp_enabled":"x","bogus":true}}`, []string{"user.enabled", "user.otp_enabled", "user.bogus"}},
		{"user required", `{"targets":["frontier"]}`, []string{"user"}},
		{"trailing data", `{"user":{"display_name":"J"}} {}`, []string{"(body)"}},
		{"not an object", `[1,2]`, []string{"(body)"}},
		{"avatar base64 invalid", `{"user":{"avatar":{"content_type":"image/png","data":"***"}}}`, []string{"user.avatar.data"}},
		{"group item shape", `{"user":{"groups":{"op":"add","items":[{"id":"x"}]}}}`, []string{"user.groups.items[0].id"}},
		{"metadata null inside", `{"user":{"metadata":{"a":{"b":null}}}}`, []string{"user.metadata"}},
		{"extensions free form", `{"targets":["commvault"],"user":{"display_name":"x"},"extensions":{"commvault":{"description":"d"}}}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			_, err := Request([]byte(tc.body), "jdoe")
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			got := fieldsOf(t, err)
			for _, want := range tc.fields {
				found := false
				for _, g := range got {
					if g == want || strings.HasPrefix(g, want) && want != "" {
						found = true
					}
				}
				if !found {
					t.Errorf("error fields %q do not name %q (err: %v)", got, want, err)
				}
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	cases := []struct {
		rule   string
		body   string
		id     string
		fields []string
	}{
		{"valid everything", `{"targets":["akana","frontier"],"vendor_ids":{"commvault":"42"},"on_unsupported":"skip","user":{
			"username":"jdoe","email":"jane.doe@example.com","given_name":"Jane","family_name":"Doe","display_name":"Jane Doe",
			"enabled":true,"otp_enabled":true,"notifications":["ticket.change","app.alert"],
			"avatar":{"content_type":"image/png","data":"` + b64(pngBytes) + `"},
			"groups":{"op":"add","items":[{"id":3},{"name":"operators"}]},"password":{"new":"s3cret!","current":"old"},
			"metadata":{"label":{"team":"sre"},"description":"on call"},"principal_name":"jdoe@corp.example","auth_method":"LOCAL","plan":{"id":7}}}`, "jdoe", nil},
		{"bad email", `{"user":{"email":"not-an-email"}}`, "jdoe", []string{"user.email"}},
		{"email with display name", `{"user":{"email":"Jane <j@example.com>"}}`, "jdoe", []string{"user.email"}},
		{"empty update", `{"user":{}}`, "jdoe", []string{"user"}},
		{"avatar type mismatch", `{"user":{"avatar":{"content_type":"image/jpeg","data":"` + b64(pngBytes) + `"}}}`, "jdoe", []string{"user.avatar"}},
		{"avatar type not allowed", `{"user":{"avatar":{"content_type":"image/svg+xml","data":"` + b64(pngBytes) + `"}}}`, "jdoe", []string{"user.avatar.content_type"}},
		{"bad group op", `{"user":{"groups":{"op":"merge","items":[{"id":1}]}}}`, "jdoe", []string{"user.groups.op"}},
		{"bad target", `{"targets":["Bad Name"],"user":{"display_name":"x"}}`, "jdoe", []string{"targets[0]"}},
		{"duplicate target", `{"targets":["a","a"],"user":{"display_name":"x"}}`, "jdoe", []string{"targets[1]"}},
		{"bad policy", `{"on_unsupported":"maybe","user":{"display_name":"x"}}`, "jdoe", []string{"on_unsupported"}},
		{"path traversal id", `{"user":{"display_name":"x"}}`, "..", []string{"id"}},
		{"encoded slash id", `{"user":{"display_name":"x"}}`, "a%2Fb", []string{"id"}},
		{"vendor id with slash", `{"vendor_ids":{"akana":"a/b"},"user":{"display_name":"x"}}`, "jdoe", []string{"vendor_ids.akana"}},
		{"several at once", `{"user":{"email":"x","given_name":"` + strings.Repeat("a", 300) + `"}}`, "jdoe", []string{"user.email", "user.given_name"}},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			req, err := Request([]byte(tc.body), tc.id)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			err = req.Validate()
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			got := fieldsOf(t, err)
			for _, want := range tc.fields {
				found := false
				for _, g := range got {
					if strings.HasPrefix(g, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("fields %q do not name %q (%v)", got, want, err)
				}
			}
		})
	}
}

func TestDecodedValues(t *testing.T) {
	req, err := Request([]byte(`{"user":{"given_name":"Jane","enabled":false,"password":{"new":"pw"},"plan":{"name":"gold"},"groups":{"op":"replace","items":[{"id":3}]}}}`), "jdoe")
	if err != nil {
		t.Fatal(err)
	}
	u := req.User
	if !u.GivenName.Set || u.GivenName.V != "Jane" || !u.Enabled.Set || u.Enabled.V || u.Email.Set {
		t.Errorf("opt fields wrong: %+v", u)
	}
	if u.Password.V.New.Reveal() != "pw" || u.Password.V.Current.Set {
		t.Errorf("password wrong")
	}
	if diff := cmp.Diff([]canonical.Field{canonical.FieldGivenName, canonical.FieldEnabled, canonical.FieldGroups, canonical.FieldPassword, canonical.FieldPlan}, u.Fields()); diff != "" {
		t.Errorf("Fields() -want +got:\n%s", diff)
	}
	if req.OnUnsupported != canonical.PolicyReject {
		t.Errorf("default policy = %q", req.OnUnsupported)
	}
	if w := u.Without(canonical.FieldPassword, canonical.FieldPlan); w.Password.Set || w.Plan.Set || !w.GivenName.Set {
		t.Errorf("Without did not drop fields")
	}
}
