package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters/volterra/volterrasim"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/config"
)

// TestDevVolterraIdentityMismatch: PATCH /v1/users/bob with the service
// token used to answer 200 "applied" and change the token owner's settings.
// The addressed user must be the token's owner; anything else is 422
// identity_mismatch with nothing written, dry run included, and vendor_id
// is the addressed id whatever the outcome. The dev demo (users map: the
// demo user's user_uuid) keeps working.
func TestDevVolterraIdentityMismatch(t *testing.T) {
	base, sims := devGateway(t)
	cases := []struct {
		name, path, body string
		status           int
		vendorID         string
	}{
		{"vendor id of another user", "/v1/users/bob", `{"targets":["volterra"],"vendor_ids":{"volterra":"bob"},"user":{"given_name":"Mallory"}}`, 422, "bob"},
		{"vendor_ids naming another user", "/v1/users/demo", `{"targets":["volterra"],"vendor_ids":{"volterra":"someone@example.com"},"user":{"given_name":"Mallory"}}`, 422, "someone@example.com"},
		{"dry run", "/v1/users/bob?dry_run=true", `{"targets":["volterra"],"vendor_ids":{"volterra":"bob"},"user":{"given_name":"Mallory"}}`, 422, "bob"},
		{"the demo user (users map)", "/v1/users/demo", `{"targets":["volterra"],"user":{"given_name":"Janet"}}`, 200, volterrasim.DemoUUID},
		{"the demo user by e-mail", "/v1/users/x", `{"targets":["volterra"],"vendor_ids":{"volterra":"Jane.Doe@example.com"},"user":{"given_name":"Jane"}}`, 200, "Jane.Doe@example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := countWrites(t, sims, "volterra")
			status, _, body := call(t, "PATCH", base+tc.path, tc.body)
			var res result.Result
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("%d %s", status, body)
			}
			r := res.Results["volterra"]
			if status != tc.status || r.VendorID != tc.vendorID {
				t.Fatalf("%d vendor_id %q, want %d %q: %s", status, r.VendorID, tc.status, tc.vendorID, body)
			}
			writes := countWrites(t, sims, "volterra") - before
			if tc.status == 422 {
				if r.Error == nil || r.Error.Code != canonical.CodeIdentityMismatch || writes != 0 {
					t.Errorf("error %+v, %d writes: %s", r.Error, writes, body)
				}
			} else if writes == 0 {
				t.Errorf("nothing written: %s", body)
			}
		})
	}
	// A caller's own token for the demo user, addressing another user.
	status, _, body := call(t, "PATCH", base+"/v1/users/bob", `{"targets":["volterra"],"vendor_ids":{"volterra":"bob"},"user":{"otp_enabled":false}}`,
		"X-Volterra-Api-Token", volterrasim.DemoToken)
	if status != http.StatusUnprocessableEntity {
		t.Errorf("pass-through for another user: %d %s", status, body)
	}
	// A path id linked to no Volterra account is refused before any call
	// (identity links), never taken as the token owner's.
	before := countWrites(t, sims, "volterra")
	if status, _, body := call(t, "PATCH", base+"/v1/users/bob", `{"targets":["volterra"],"user":{"given_name":"Mallory"}}`); status != http.StatusNotFound ||
		!strings.Contains(string(body), `"not_linked"`) || countWrites(t, sims, "volterra") != before {
		t.Errorf("unlinked path id: %d %s", status, body)
	}
}

// vendorRequests is how many requests a simulator's fault injector saw.
func vendorRequests(t *testing.T, sims *simSet, vendor string) int {
	t.Helper()
	_, _, body := call(t, "GET", sims.addrs[vendor]+"/_fault", "")
	var st struct{ Reached, Faulted int }
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st.Reached + st.Faulted
}

// TestDevAttemptsAreExact: attempts is the number of HTTP requests sent to
// the vendor for the target, and every one is listed with its status or
// transport outcome. A hanging vendor hit 3 times used to be reported as
// attempts 1 with no attempt_statuses.
func TestDevAttemptsAreExact(t *testing.T) {
	base, sims := devGatewayWith(t, func(c *config.Config) {
		v := c.Vendors["frontier"]
		two := 2
		v.AttemptTimeout, v.Deadline = config.Duration(100*time.Millisecond), config.Duration(5*time.Second)
		v.Retry.Max, v.Retry.MinWait, v.Retry.MaxWait = &two, config.Duration(time.Millisecond), config.Duration(5*time.Millisecond)
		c.Vendors["frontier"] = v
	})
	for _, tc := range []struct {
		rule, outcome string
		code          canonical.Code
	}{
		{`{"hang":true}`, "timeout", canonical.CodeUpstreamTimeout},
		{`{"reset":true}`, "reset", canonical.CodeUpstreamUnavailable},
		{`{"fail_times":2,"status":503}`, "", ""},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			fault(t, sims, "frontier", tc.rule)
			defer fault(t, sims, "frontier", `{}`)
			before := vendorRequests(t, sims, "frontier")
			_, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier"],"user":{"display_name":"Attempts"}}`)
			sent := vendorRequests(t, sims, "frontier") - before
			var res struct {
				Results map[string]struct {
					Attempts int
					Error    *result.ErrorBody
					Calls    []struct {
						Name            string
						AttemptStatuses []any `json:"attempt_statuses"`
					}
				}
			}
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			r := res.Results["frontier"]
			listed := 0
			var outcomes []any
			for _, c := range r.Calls {
				listed += len(c.AttemptStatuses)
				outcomes = append(outcomes, c.AttemptStatuses...)
			}
			if r.Attempts != sent || listed != sent || sent < 3 {
				t.Fatalf("attempts %d, listed %d, the vendor saw %d: %s", r.Attempts, listed, sent, body)
			}
			if tc.code == "" {
				if r.Error != nil {
					t.Fatalf("%s", body)
				}
				return
			}
			if r.Error == nil || r.Error.Code != tc.code {
				t.Fatalf("%s", body)
			}
			for _, o := range outcomes {
				if o != tc.outcome {
					t.Errorf("attempt_statuses %v, want every one %q", outcomes, tc.outcome)
					break
				}
			}
		})
	}
}

// TestDevPassThroughRefusalNamesHeader: Volterra refusing the caller's own
// token is still 401, and the target's error says that volterra refused
// the credential in X-Volterra-Api-Token, not that the gateway refused the
// caller's API key.
func TestDevPassThroughRefusalNamesHeader(t *testing.T) {
	base, _ := devGateway(t)
	status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["volterra"],"user":{"otp_enabled":false}}`,
		"X-Volterra-Api-Token", "not-a-token")
	var res result.Result
	_ = json.Unmarshal(body, &res)
	e := res.Results["volterra"].Error
	if status != http.StatusUnauthorized || e == nil || e.Code != canonical.CodeUnauthorized ||
		!strings.HasPrefix(e.Message, "volterra refused the credential in X-Volterra-Api-Token") {
		t.Fatalf("%d %s", status, body)
	}
	if strings.Contains(string(body), "not-a-token") {
		t.Error("the caller's credential was echoed")
	}
}

// TestDevFinal429CarriesRetryAfter: Volterra rate-limits without a
// Retry-After; after the last retry the gateway's 429 still carries one
// (its own next backoff), in the header and in the target's error.
func TestDevFinal429CarriesRetryAfter(t *testing.T) {
	base, sims := devGateway(t)
	fault(t, sims, "volterra", `{"fail_times":100,"status":429}`)
	status, hdr, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["volterra"],"user":{"given_name":"Rate"}}`)
	var res result.Result
	_ = json.Unmarshal(body, &res)
	e := res.Results["volterra"].Error
	if status != http.StatusTooManyRequests || e == nil || e.Code != canonical.CodeRateLimited || res.Results["volterra"].Attempts < 2 {
		t.Fatalf("%d %s", status, body)
	}
	if hdr.Get("Retry-After") == "" || e.RetryAfter < 1 {
		t.Errorf("no Retry-After: header %q, retry_after_s %d", hdr.Get("Retry-After"), e.RetryAfter)
	}
}
