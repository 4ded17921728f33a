package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// TestPassThroughRefusalNamesVendorAndHeader: a vendor refusing the
// caller's own pass-through credential stays 401 (403), but the error says
// which vendor refused the credential in which header, so it cannot be
// read as the gateway refusing the caller's API key. Without a
// pass-through credential the vendor's message is left alone.
func TestPassThroughRefusalNamesVendorAndHeader(t *testing.T) {
	for _, tc := range []struct {
		code   canonical.Code
		status int
		pass   bool
		want   string
	}{
		{canonical.CodeUnauthorized, 401, true, "alpha refused the credential in X-Alpha-Token: token expired"},
		{canonical.CodeForbidden, 403, true, "alpha refused the credential in X-Alpha-Token (not permitted): token expired"},
		{canonical.CodeUpstreamAuthFailed, 502, false, "token expired"},
		{canonical.CodeUnauthorized, 401, false, "token expired"},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			f := &fake{name: "alpha", fail: &canonical.Error{Code: tc.code, Message: "token expired", VendorStatus: tc.status}}
			d, err := New([]Target{{Name: "alpha", Adapter: f, Doer: &vendorDoer{}, Deadline: time.Second, PassThroughHeader: "X-Alpha-Token"}},
				Options{Users: map[string]map[string]string{"jdoe": {"alpha": "jdoe"}}})
			if err != nil {
				t.Fatal(err)
			}
			in := input(t, `{"targets":["alpha"],"user":{"display_name":"x"}}`)
			if tc.pass {
				in.PassThrough = map[string]canonical.Secret{"alpha": "caller-secret-token"}
			}
			out, err := d.Apply(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			res := decodeResult(t, out.Body)
			e := res.Results["alpha"].Error
			if out.Status != tc.status || e == nil || e.Code != tc.code || e.Message != tc.want {
				t.Fatalf("%d %+v, want %d %q", out.Status, e, tc.status, tc.want)
			}
			if strings.Contains(string(out.Body), "caller-secret-token") {
				t.Error("the credential was echoed")
			}
			if f.fail.Message != "token expired" {
				t.Error("the adapter's error was changed in place")
			}
		})
	}
}
