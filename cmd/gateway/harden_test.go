package main

import (
	"strings"
	"testing"
)

// TestDevMistakenDryRunNeverWrites (issue 17, items 1, 6, 13) on the whole
// gateway: each form of dry_run that once wrote is refused and the
// simulator's user is unchanged; the real dry run says planned; a lone
// surrogate never reaches the vendor.
func TestDevMistakenDryRunNeverWrites(t *testing.T) {
	base, sims := devGateway(t)
	before := frontierUser(t, sims)["title"]
	cases := []struct {
		name, query, body string
		status            int
		want              string
	}{
		{"bare name", "?dry_run", `{"targets":["frontier"],"user":{"display_name":"Written"}}`, 400, `"field":"dry_run"`},
		{"empty value", "?dry_run=", `{"targets":["frontier"],"user":{"display_name":"Written"}}`, 400, `"field":"dry_run"`},
		{"upper case", "?DRY_RUN=true", `{"targets":["frontier"],"user":{"display_name":"Written"}}`, 400, `"field":"DRY_RUN"`},
		{"repeated", "?dry_run=false&dry_run=true", `{"targets":["frontier"],"user":{"display_name":"Written"}}`, 400, `"field":"dry_run"`},
		{"one", "?dry_run=1", `{"targets":["frontier"],"user":{"display_name":"Written"}}`, 400, `"field":"dry_run"`},
		{"real dry run", "?dry_run=true", `{"targets":["frontier"],"user":{"display_name":"Written"}}`, 200, `"status":"planned"`},
		{"lone surrogate", "", `{"targets":["frontier"],"user":{"display_name":"a\ud800b"}}`, 400, `"field":"user.display_name"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := call(t, "PATCH", base+"/v1/users/demo"+tc.query, tc.body)
			if status != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%d %s; want %d with %s", status, body, tc.status, tc.want)
			}
			if strings.Contains(string(body), `"status":"applied"`) {
				t.Errorf("reported applied: %s", body)
			}
			if got := frontierUser(t, sims)["title"]; got != before {
				t.Fatalf("the vendor's user changed to %v", got)
			}
		})
	}
}
