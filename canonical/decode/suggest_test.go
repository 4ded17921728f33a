package decode

import (
	"strings"
	"testing"
)

func TestSuggest(t *testing.T) {
	fields := []string{"given_name", "family_name", "display_name", "email", "enabled", "otp_enabled", "id"}
	cases := []struct{ in, want string }{
		{"givenName", "given_name"},
		{"GIVEN_NAME", "given_name"},
		{"display_nam", "display_name"},
		{"emial", "email"},
		{"otpEnabled", "otp_enabled"},
		{"x", ""},
		{"completely_different", ""},
		{"", ""},
	}
	for _, tc := range cases {
		if got := Suggest(tc.in, fields); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDecodeDidYouMean (issue 19): an unknown field's message offers the
// nearest known name, with its full path.
func TestDecodeDidYouMean(t *testing.T) {
	cases := []struct{ body, want string }{
		{`{"user":{"givenName":"J"}}`, "user.givenName: unknown field; did you mean user.given_name?"},
		{`{"targts":["a"],"user":{"display_name":"J"}}`, "targts: unknown field; did you mean targets?"},
		{`{"user":{"password":{"nwe":"x"}}}`, "user.password.nwe: unknown field; did you mean user.password.new?"},
		{`{"user":{"avatar":{"contentType":"image/png","data":"x"}}}`, "user.avatar.contentType: unknown field; did you mean user.avatar.content_type?"},
		{`{"user":{"groups":{"op":"add","item":[]}}}`, "user.groups.item: unknown field; did you mean user.groups.items?"},
		{`{"user":{"plan":{"nam":"p"}}}`, "user.plan.nam: unknown field; did you mean user.plan.name?"},
		{`{"user":{"zzzzzz":"J"}}`, "user.zzzzzz: unknown field"},
	}
	for _, tc := range cases {
		_, err := Request([]byte(tc.body), "jdoe")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.body, err, tc.want)
		}
		if strings.HasSuffix(tc.want, "unknown field") && strings.Contains(err.Error(), "did you mean") {
			t.Errorf("%s: a far name got a suggestion: %v", tc.body, err)
		}
	}
}
