package decode

import (
	"encoding/json"
	"testing"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/problem"
)

// FuzzDecode: no input may panic, and whatever decodes must validate
// without panicking and re-encode its error as valid JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"user":{"display_name":"Jane"}}`,
		`{"targets":["a"],"vendor_ids":{"a":"1"},"on_unsupported":"skip","user":{"email":"a@b.c","enabled":true}}`,
		`{"user":{"metadata":{"a":[1,{"b":"c"}]},"groups":{"op":"add","items":[{"id":1},{"name":"x"}]}}}`,
		`{"user":{"avatar":{"content_type":"image/png","data":"iVBORw0KGgo="}}}`,
		`{"user":{"password":{"new":"x","current":"y"}},"extensions":{"commvault":{"k":{"deep":[[[]]]}}}}`,
		`{"user":{"a":1,"a":2}}`, `[`, `{"user":null}`, "\xff",
		// Lone surrogates and control characters (issue 17, item 13).
		`{"user":{"display_name":"a\ud800b"}}`, `{"user":{"given_name":"\ud83d\ude00"}}`, `{"user":{"family_name":"\udc00\ud800"}}`,
		`{"user":{"password":{"new":"a\u0085","current":"\t"}}}`, `{"user":{"metadata":{"\ud800":"x","d":"a\nb"}}}`,
		`{"targets":["a"],"user":{"display_name":"x"},"extensions":{"a":{"k":"\u2028"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Request(body, "fuzz")
		if err != nil {
			if e := canonical.AsError(err); e.Code != canonical.CodeInvalidRequest {
				t.Fatalf("decode error code %s", e.Code)
			}
			if !json.Valid(problem.New(canonical.AsError(err)).JSON()) {
				t.Fatal("problem is not valid JSON")
			}
			return
		}
		_ = req.Validate()
		_ = req.User.Fields()
		// Differential check: the strings the scanner takes without
		// encoding/json must be what encoding/json would decode.
		var raw struct {
			Targets []string `json:"targets"`
			User    struct {
				Username    *string `json:"username"`
				Email       *string `json:"email"`
				GivenName   *string `json:"given_name"`
				FamilyName  *string `json:"family_name"`
				DisplayName *string `json:"display_name"`
			} `json:"user"`
		}
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatalf("accepted a body encoding/json rejects: %v", err)
		}
		for _, c := range []struct {
			name string
			got  canonical.Opt[string]
			want *string
		}{{"username", req.User.Username, raw.User.Username}, {"email", req.User.Email, raw.User.Email},
			{"given_name", req.User.GivenName, raw.User.GivenName}, {"family_name", req.User.FamilyName, raw.User.FamilyName},
			{"display_name", req.User.DisplayName, raw.User.DisplayName}} {
			if c.got.Set != (c.want != nil) || (c.want != nil && c.got.V != *c.want) {
				t.Fatalf("%s: decoded %+v, encoding/json %v", c.name, c.got, c.want)
			}
		}
		if len(req.Targets) != len(raw.Targets) {
			t.Fatalf("targets %q vs %q", req.Targets, raw.Targets)
		}
		for i := range raw.Targets {
			if req.Targets[i] != raw.Targets[i] {
				t.Fatalf("targets %q vs %q", req.Targets, raw.Targets)
			}
		}
	})
}
