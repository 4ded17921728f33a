package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/config"
)

// devGateway runs what `gateway dev` runs, on a free loopback port.
func devGateway(t *testing.T) (base string, sims *simSet) {
	t.Helper()
	return devGatewayWith(t, nil)
}

// devGatewayWith is devGateway with a config hook.
func devGatewayWith(t *testing.T, mod func(*config.Config)) (base string, sims *simSet) {
	t.Helper()
	sims, cfg := devSims(t)
	if mod != nil {
		mod(cfg)
	}
	base, _ = startGateway(t, cfg, buildOptions{LogOutput: io.Discard, AuthNone: true})
	return base, sims
}

// devSims starts the simulators (stopped when the test ends) and returns
// the dev config pointing at them, listening on a free port.
func devSims(t testing.TB) (*simSet, *config.Config) {
	t.Helper()
	sims, err := startSims(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sims.Close() })
	cfg, err := devConfig("", sims)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Listen = "127.0.0.1:0"
	return sims, cfg
}

// startGateway serves cfg until the test ends or shutdown is called (the
// SIGTERM path: stop accepting, finish in-flight requests, flush).
func startGateway(t testing.TB, cfg *config.Config, o buildOptions) (base string, shutdown func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, o, io.Discard, func(a string) { addr <- a }) }()
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	var (
		once sync.Once
		serr error
	)
	shutdown = func() error {
		once.Do(func() { cancel(); serr = <-done })
		return serr
	}
	t.Cleanup(func() {
		if err := shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return base, shutdown
}

func call(t *testing.T, method, url, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// frontierUser reads the demo user back through the simulator's own GET.
func frontierUser(t *testing.T, sims *simSet) map[string]any {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(frontiersim.DemoClientID + ":" + frontiersim.DemoClientSecret))
	status, _, body := call(t, "GET", sims.addrs["frontier"]+"/v1beta1/users/"+frontiersim.DemoUserID, "", "Authorization", "Basic "+auth)
	if status != 200 {
		t.Fatalf("sim GET %d %s", status, body)
	}
	var env struct{ User map[string]any }
	_ = json.Unmarshal(body, &env)
	return env.User
}

func simRequests(t *testing.T, sims *simSet, vendor string) int {
	t.Helper()
	_, _, body := call(t, "GET", sims.addrs[vendor]+"/_sim/requests", "")
	var reqs []any
	_ = json.Unmarshal(body, &reqs)
	return len(reqs)
}

func TestDevFrontierEndToEnd(t *testing.T) {
	base, sims := devGateway(t)
	before := frontierUser(t, sims)

	status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier"],"user":{"display_name":"Jane Q. Doe"}}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var res result.Result
	_ = json.Unmarshal(body, &res)
	if res.Status != result.StatusApplied || res.Results["frontier"].VendorID != frontiersim.DemoUserID || len(res.Results["frontier"].Calls) != 2 || res.TraceID == "" {
		t.Errorf("result %s", body)
	}
	after := frontierUser(t, sims)
	if after["title"] != "Jane Q. Doe" {
		t.Errorf("title %v", after["title"])
	}
	if b, a := mustJSON(before["metadata"]), mustJSON(after["metadata"]); b != a || before["avatar"] != after["avatar"] {
		t.Errorf("a title-only change altered metadata/avatar: %s -> %s", b, a)
	}
}

func TestDevRejectionsReachNoVendor(t *testing.T) {
	base, sims := devGateway(t)
	cases := []struct {
		name, body string
		status     int
		field      string
	}{
		{"unknown field", `{"targets":["frontier"],"user":{"display_nme":"x"}}`, 400, "user.display_nme"},
		{"bad email", `{"targets":["frontier"],"user":{"email":"nope"}}`, 400, "user.email"},
		{"unsupported email (reject)", `{"targets":["frontier"],"user":{"email":"jane@example.com"}}`, 422, "user.email"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := simRequests(t, sims, "frontier")
			status, hdr, body := call(t, "PATCH", base+"/v1/users/demo", tc.body)
			if status != tc.status || hdr.Get("Content-Type") != problem.ContentType {
				t.Fatalf("%d %s %s", status, hdr.Get("Content-Type"), body)
			}
			var p problem.Problem
			_ = json.Unmarshal(body, &p)
			if len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
				t.Errorf("problem %s", body)
			}
			if got := simRequests(t, sims, "frontier"); got != n {
				t.Errorf("the simulator received %d requests", got-n)
			}
		})
	}
	status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier"],"on_unsupported":"skip","user":{"email":"jane@example.com","display_name":"J"}}`)
	var res result.Result
	_ = json.Unmarshal(body, &res)
	if status != 200 || len(res.SkippedFields["frontier"]) != 1 || res.SkippedFields["frontier"][0] != canonical.FieldEmail {
		t.Errorf("skip: %d %s", status, body)
	}
}

func TestDevDryRunRedacts(t *testing.T) {
	base, sims := devGateway(t)
	before := frontierUser(t, sims)
	status, _, body := call(t, "PATCH", base+"/v1/users/demo?dry_run=true", `{"targets":["frontier"],"user":{"display_name":"Dry"}}`)
	if status != 200 || !strings.Contains(string(body), `"planned":true`) {
		t.Fatalf("%d %s", status, body)
	}
	if strings.Contains(string(body), base64.StdEncoding.EncodeToString([]byte(frontiersim.DemoClientID+":"+frontiersim.DemoClientSecret))) ||
		!strings.Contains(string(body), `"Authorization":"[redacted]"`) {
		t.Errorf("credentials not redacted: %s", body)
	}
	if frontierUser(t, sims)["title"] != before["title"] {
		t.Error("dry run wrote")
	}
}

func TestCheckConfigNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("vendors:\n  frontier:\n    base_url: not-a-url\n"), 0o600)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"check-config", "--config", bad}, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "vendors.frontier.base_url: must be an absolute http(s) URL") {
		t.Fatalf("err %v", err)
	}
}

func TestTranslateAndHashKey(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"translate", "--target", "frontier"}, strings.NewReader(`{"user":{"display_name":"T"}}`), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"method": "PUT"`) || !strings.Contains(out.String(), "[redacted]") {
		t.Errorf("translate output %s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"hash-key"}, strings.NewReader("k3y\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "key_sha256: 1f6c4d2a") && !strings.HasPrefix(out.String(), "key_sha256: ") {
		t.Errorf("hash-key %q", out.String())
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDevVolterraPassThrough(t *testing.T) {
	base, _ := devGateway(t)
	// Service token: the demo user's own token in dev.
	status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["volterra"],"user":{"family_name":"Smith","notifications":["ticket.change"]}}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	// A caller's own token that the vendor refuses is the caller's 401.
	status, _, body = call(t, "PATCH", base+"/v1/users/demo", `{"targets":["volterra"],"user":{"otp_enabled":false}}`, "X-Volterra-Api-Token", "not-a-token")
	var res result.Result
	_ = json.Unmarshal(body, &res)
	if status != 401 || res.Results["volterra"].Error == nil || res.Results["volterra"].Error.Code != canonical.CodeUnauthorized {
		t.Fatalf("pass-through refusal: %d %s", status, body)
	}
	if strings.Contains(string(body), "not-a-token") {
		t.Error("the caller's credential was echoed")
	}
}

func TestDevAllTargetsFanOut(t *testing.T) {
	base, _ := devGateway(t)
	status, _, body := call(t, "PATCH", base+"/v1/users/demo",
		`{"targets":["volterra","akana","commvault","frontier"],"on_unsupported":"skip","user":{"given_name":"Jane","display_name":"Jane D","notifications":["ticket.change"],"password":{"new":"Sup3r-Secret-Pw"}}}`,
		"Idempotency-Key", "fanout-1")
	var res result.Result
	_ = json.Unmarshal(body, &res)
	if status != 200 || len(res.Results) != 4 || strings.Contains(string(body), "Sup3r-Secret-Pw") {
		t.Fatalf("%d %s", status, body)
	}
	for name, r := range res.Results {
		if r.Status != result.StatusApplied {
			t.Errorf("%s: %+v", name, r)
		}
	}
	status, hdr, again := call(t, "PATCH", base+"/v1/users/demo",
		`{"targets":["volterra","akana","commvault","frontier"],"on_unsupported":"skip","user":{"given_name":"Jane","display_name":"Jane D","notifications":["ticket.change"],"password":{"new":"Sup3r-Secret-Pw"}}}`,
		"Idempotency-Key", "fanout-1")
	if status != 200 || hdr.Get("Idempotent-Replayed") != "true" || string(again) != string(body) {
		t.Errorf("replay %d %v", status, hdr)
	}
}
