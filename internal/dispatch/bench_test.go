package dispatch

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/commvault"
	"github.com/identity-gateway/identity-gateway/canonical/decode"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// BenchmarkHotPath measures one update through decode, validate, plan
// (capabilities, preflight), the adapter's translation and the result
// encoding, with the vendor answered in process: the gateway's own cost per
// request, without the network.
func BenchmarkHotPath(b *testing.B) {
	const (
		plain = `{"targets":["commvault"],"vendor_ids":{"commvault":"42"},"user":{"display_name":"Jane Doe","email":"jane@example.com","enabled":true}}`
		// given_name is not Commvault's: skipped, as loadbench's update does.
		skip = `{"targets":["commvault"],"vendor_ids":{"commvault":"42"},"on_unsupported":"skip","user":{"display_name":"Jane Doe","given_name":"Jane"}}`
	)
	for _, tc := range []struct {
		name string
		key  bool
		body string
	}{{"no-key", false, plain}, {"memory-idempotency", true, plain}, {"memory-idempotency-skip", true, skip}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := &commvault.Config{}
			a, err := cfg.Open("commvault", adapters.Deps{Credential: adapters.Credential{Username: "svc", Password: "pw"}})
			if err != nil {
				b.Fatal(err)
			}
			hdr := http.Header{"Content-Type": {"application/json"}}
			vendor := adapters.DoerFunc(func(_ context.Context, c *adapters.Call) (*adapters.Response, error) {
				if c.Kind == adapters.Auth {
					return &adapters.Response{Status: 200, Header: hdr, Body: []byte(`{"token":"QSDK 1","userName":"svc"}`), Attempts: 1}, nil
				}
				return &adapters.Response{Status: 200, Header: hdr, Body: []byte(`{"errorMessage":"","errorCode":0}`), Attempts: 1, AttemptStatuses: []int{200}}, nil
			})
			o := Options{}
			if tc.key {
				o.Guard = idempotency.NewGuard(idempotency.NewMemoryStore(), idempotency.Options{})
			}
			d, err := New([]Target{{Name: "commvault", Adapter: a, Doer: vendor}}, o)
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(tc.body)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req, err := decode.Request(body, "jdoe")
				if err != nil {
					b.Fatal(err)
				}
				if err := req.Validate(); err != nil {
					b.Fatal(err)
				}
				in := Input{Client: "c", Request: req, Method: "PATCH", Path: "/v1/users/jdoe"}
				if tc.key {
					in.Key = "key-" + strconv.Itoa(i)
				}
				i++
				out, err := d.Apply(context.Background(), in)
				if err != nil || out.Status != 200 {
					b.Fatalf("%v %d", err, out.Status)
				}
			}
		})
	}
}
