package volterra

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// specDir holds the vendors' own API descriptions, copied into the
// repository (see its README.md for their sources and licences).
const specDir = "../testdata/vendorspecs"

// vendorRouters loads F5's own OpenAPI files (settings and whoami live in
// two of them). They declare no servers and no security schemes; auth is
// checked by the simulator tests instead.
func vendorRouters(t *testing.T) map[string]routers.Router {
	t.Helper()
	out := map[string]routers.Router{}
	for prefix, file := range map[string]string{
		"/api/web/namespaces/": "volterra-user-setting.ves-swagger.json",
		"/api/web/custom/":     "volterra-user.ves-swagger.json",
	} {
		path := filepath.Join(specDir, file)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("vendor spec missing (adapters/testdata/vendorspecs): %v", err)
		}
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		// The user file has two operations sharing one operationId
		// (user_roles Replace), which kin-openapi refuses; keep the paths
		// the adapter calls and their neighbours under user/settings.
		for p := range doc.Paths.Map() {
			if !strings.HasPrefix(p, "/api/web/namespaces/system/user/") && !strings.HasSuffix(p, "/whoami") {
				doc.Paths.Delete(p)
			}
		}
		doc.Servers = openapi3.Servers{{URL: "http://volterra.test"}}
		if doc.Info != nil && doc.Info.Version == "" {
			// F5's files leave info.version empty, which kin-openapi's
			// document check refuses; it says nothing about the API.
			doc.Info.Version = "unversioned"
		}
		r, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation())
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out[prefix] = r
	}
	return out
}

// TestRequestsMatchTheVendorSpec validates every request the adapter sends,
// and the simulator's 2xx answers to them, against F5's OpenAPI files.
func TestRequestsMatchTheVendorSpec(t *testing.T) {
	rs := vendorRouters(t)
	ops := map[string]adapters.Op{
		"everything": {UserID: janeUUID, PassThrough: callerToken, Update: canonical.Update{GivenName: canonical.Some("Janet"), FamilyName: canonical.Some("Roe"),
			OTPEnabled: canonical.Some(false), Notifications: canonical.Some([]string{"app.alert"}),
			Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}},
		"no notifications, no image": {UserID: opsUUID, Update: canonical.Update{Notifications: canonical.Some([]string{}), OTPEnabled: canonical.Some(true)}},
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(seeded())
			defer srv.Close()
			d := &testDoer{adaptertest.HTTPDoer{Base: srv.URL}}
			if _, err := open(t, svcToken).Apply(context.Background(), d, op); err != nil {
				t.Fatal(err)
			}
			for _, c := range d.Calls() {
				var router routers.Router
				for prefix, r := range rs {
					if strings.HasPrefix(c.Path, prefix) {
						router = r
					}
				}
				req, _ := http.NewRequest(c.Method, "http://volterra.test"+c.Path, bytes.NewReader(c.Body))
				req.Header = c.Header.Clone()
				route, params, err := router.FindRoute(req)
				if err != nil {
					t.Fatalf("%s %s: no operation in F5's spec: %v", c.Method, c.Path, err)
				}
				in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
				if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
					t.Errorf("%s %s: request does not match F5's spec: %v", c.Method, c.Path, err)
				}

				// The simulator's answer to the same request.
				simReq, _ := http.NewRequest(c.Method, srv.URL+c.Path, bytes.NewReader(c.Body))
				simReq.Header = c.Header.Clone()
				resp, err := http.DefaultClient.Do(simReq)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s %s: simulator answered %d %s", c.Method, c.Path, resp.StatusCode, body)
				}
				rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
				rin.SetBodyBytes(body)
				if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
					t.Errorf("%s %s: simulator answer does not match F5's spec: %v", c.Method, c.Path, err)
				}
			}
		})
	}
}

// TestVendorSpecValidatorBites shows the validation above can fail: bodies
// that break F5's schemas are refused.
func TestVendorSpecValidatorBites(t *testing.T) {
	rs := vendorRouters(t)
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	for _, body := range []string{`{"otp_enabled":"yes"}`, `{"enabled_notifications":"notif-1"}`, `{"image":"not base64!"}`} {
		req, _ := http.NewRequest(http.MethodPut, "http://volterra.test"+settingsPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		route, params, err := rs["/api/web/namespaces/"].FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err == nil {
			t.Errorf("%s passed F5's schema", body)
		}
	}
}
