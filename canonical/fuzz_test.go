package canonical

import (
	"encoding/json"
	"testing"
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
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Decode(body, "fuzz")
		if err != nil {
			if e := AsError(err); e.Code != CodeInvalidRequest {
				t.Fatalf("decode error code %s", e.Code)
			}
			if !json.Valid(NewProblem(AsError(err)).JSON()) {
				t.Fatal("problem is not valid JSON")
			}
			return
		}
		_ = req.Validate()
		_ = req.User.Fields()
	})
}
