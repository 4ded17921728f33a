package decode

import (
	"slices"
	"strings"
	"testing"
)

// TestEveryStringIsCleanUnicode (issue 17, item 13): a \u escape of a lone
// surrogate is invalid (encoding/json would quietly store U+FFFD), and no
// string anywhere may carry a control character, secrets included.
func TestEveryStringIsCleanUnicode(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		field string // "" = accepted
	}{
		{"pair is fine", `{"user":{"display_name":"a\ud83d\ude00b"}}`, ""},
		{"escaped BMP is fine", `{"user":{"display_name":"caf\u00e9"}}`, ""},
		{"escaped backslash-u text is fine", `{"user":{"display_name":"a\\ud800b"}}`, ""},
		{"lone high", `{"user":{"display_name":"a\ud800b"}}`, "user.display_name"},
		{"lone high at end", `{"user":{"given_name":"a\uD800"}}`, "user.given_name"},
		{"lone low", `{"user":{"family_name":"\udc00x"}}`, "user.family_name"},
		{"high then high", `{"user":{"display_name":"\ud800\ud800"}}`, "user.display_name"},
		{"high then escape", `{"user":{"display_name":"\ud800\n"}}`, "user.display_name"},
		{"reversed pair", `{"user":{"display_name":"\ude00\ud83d"}}`, "user.display_name"},
		{"in a target", `{"targets":["a\ud800"],"user":{"display_name":"x"}}`, "targets[0]"},
		{"in a vendor id", `{"vendor_ids":{"commvault":"1\udfff"},"user":{"display_name":"x"}}`, "vendor_ids.commvault"},
		{"in a password", `{"user":{"password":{"new":"pw\ud800"}}}`, "user.password.new"},
		{"in metadata", `{"user":{"metadata":{"a":["\ud800"]}}}`, "user.metadata"},
		{"in a metadata key", `{"user":{"metadata":{"\udc01":"x"}}}`, "user.metadata"},
		{"in an extension", `{"targets":["commvault"],"user":{"display_name":"x"},"extensions":{"commvault":{"k":"\ud800"}}}`, "extensions.commvault.k"},
		// Request refuses it now, with the same path (it was Validate).
		{"NUL in a name", `{"user":{"given_name":"a\u0000b"}}`, "user.given_name"},
		{"newline in password.new", `{"user":{"password":{"new":"pw\nX"}}}`, "user.password.new"},
		{"escaped NUL in password.new", `{"user":{"password":{"new":"pw\u0000"}}}`, "user.password.new"},
		{"tab in password.current", `{"user":{"password":{"new":"pw","current":"a\tb"}}}`, "user.password.current"},
		{"DEL in password.new", "{\"user\":{\"password\":{\"new\":\"pw\x7f\"}}}", "user.password.new"},
		{"C1 in password.new", `{"user":{"password":{"new":"pw\u0085"}}}`, "user.password.new"},
		{"raw C1 in password.new", "{\"user\":{\"password\":{\"new\":\"pw\u0085\"}}}", "user.password.new"},
		{"line separator in password.new", `{"user":{"password":{"new":"pw\u2028"}}}`, "user.password.new"},
		{"plain password is fine", `{"user":{"password":{"new":"Pw-1 é😀","current":"old"}}}`, ""},
		{"control in metadata", `{"user":{"metadata":{"description":"a\nb"}}}`, "user.metadata"},
		{"control in an extension", `{"targets":["commvault"],"user":{"display_name":"x"},"extensions":{"commvault":{"k":{"x":"\u001b[31m"}}}}`, "extensions.commvault.k"},
		{"control in a notification", `{"user":{"notifications":["a\u0007"]}}`, "user.notifications[0]"},
		{"control in a group name", `{"user":{"groups":{"op":"add","items":[{"name":"g\r"}]}}}`, "user.groups.items[0].name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Request([]byte(tc.body), "jdoe")
			if err == nil {
				err = req.Validate()
			}
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %s refused", tc.field)
			}
			if got := fieldsOf(t, err); !slices.Contains(got, tc.field) {
				t.Errorf("error names %v, want %s (%v)", got, tc.field, err)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("the error quotes a secret: %v", err)
			}
		})
	}
}
