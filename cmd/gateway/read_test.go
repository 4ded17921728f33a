package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	identitygateway "github.com/identity-gateway/identity-gateway"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// simWrites is a simulator's write log: every request it received that is
// neither a GET nor a login (a session is not a change to a user).
func simWrites(t *testing.T, sims *simSet, vendor string) []string {
	t.Helper()
	_, _, body := call(t, "GET", sims.addrs[vendor]+"/_sim/requests", "")
	var reqs []struct{ Method, Path string }
	if err := json.Unmarshal(body, &reqs); err != nil {
		t.Fatalf("%s requests: %v", vendor, err)
	}
	var out []string
	for _, r := range reqs {
		if p := strings.ToLower(r.Path); r.Method != "GET" && !strings.HasSuffix(p, "/login") && !strings.HasSuffix(p, "/renewtoken") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func getUser(t *testing.T, url string, hdr ...string) (int, string, dispatch.ReadResult, []byte) {
	t.Helper()
	status, h, body := call(t, "GET", url, "", hdr...)
	var res dispatch.ReadResult
	if h.Get("Content-Type") == "application/json" { // also when every target failed (not 200)
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
	}
	return status, h.Get("ETag"), res, body
}

// TestReadDemoShowsPatchAndDrift is the "done when": gateway dev,
// patch the demo user on one target, and GET /v1/users/demo shows the new
// value there and the drift against the others. The read writes nothing
// at any simulator.
func TestReadDemoShowsPatchAndDrift(t *testing.T) {
	base, sims := devGateway(t)
	targets := []string{"akana", "commvault", "frontier", "volterra"}

	status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier"],"user":{"display_name":"Jane Q. Public"}}`)
	if status != 200 {
		t.Fatalf("PATCH %d %s", status, body)
	}
	before := map[string]int{}
	for _, v := range targets {
		before[v] = len(simWrites(t, sims, v))
	}

	status, tag, res, body := getUser(t, base+"/v1/users/demo")
	if status != 200 {
		t.Fatalf("GET %d %s", status, body)
	}
	for _, v := range targets {
		if r := res.Results[v]; r.Status != dispatch.ReadOK {
			t.Errorf("%s: %s %+v", v, r.Status, r.Error)
		}
	}
	if got := res.Results["frontier"].Snapshot.Fields[canonical.FieldDisplayName].Value; got != "Jane Q. Public" {
		t.Errorf("frontier display_name %v, want the patched value", got)
	}
	var dn *dispatch.DriftField
	for i := range res.Drift {
		if res.Drift[i].Field == canonical.FieldDisplayName {
			dn = &res.Drift[i]
		}
	}
	if dn == nil {
		t.Fatalf("no display_name drift in %s", body)
	}
	if dn.Values["frontier"] != "Jane Q. Public" || dn.Values["commvault"] != "Jane Doe" {
		t.Errorf("display_name drift %v", dn.Values)
	}
	if res.Consistent {
		t.Error("consistent despite drift")
	}
	if tag == "" || tag != res.ETag {
		t.Errorf("ETag header %q, body %q", tag, res.ETag)
	}
	if _, ok := res.Results["commvault"].Snapshot.Fields[canonical.FieldPassword]; ok {
		t.Error("a password is in a snapshot")
	}
	if strings.Contains(string(body), "demo-password") {
		t.Error("a credential is in the read")
	}

	// Reads never write: the simulators saw nothing but GETs and logins.
	for _, v := range targets {
		if w := simWrites(t, sims, v); len(w) != before[v] {
			t.Errorf("%s received non-GET requests during the read: %v", v, w[before[v]:])
		}
	}

	// The drift is counted.
	_, _, metrics := call(t, "GET", base+"/metrics", "")
	if !strings.Contains(string(metrics), `gateway_drift_fields_total{field="display_name"`) {
		t.Error("/metrics lacks gateway_drift_fields_total for display_name")
	}

	// Only the targets asked for, and a vendor id from the query.
	status, _, res, body = getUser(t, base+"/v1/users/someone?targets=frontier,akana&vendor_ids.frontier="+frontiersim.DemoUserID)
	if status != 200 {
		t.Fatalf("GET %d %s", status, body)
	}
	if len(res.Results) != 2 || res.Results["frontier"].Status != dispatch.ReadOK || res.Results["akana"].Status != dispatch.ReadNotLinked {
		t.Errorf("results %s", body)
	}
}

// TestReadNotFoundSignals: each vendor's own "no such user", and
// Frontier's GET hiding a disabled user.
func TestReadNotFoundSignals(t *testing.T) {
	base, _ := devGateway(t)
	q := "?vendor_ids.akana=00000000-0000-4000-8000-00000000dead.acmepaymentscorp&vendor_ids.commvault=99999" +
		"&vendor_ids.frontier=00000000-0000-4000-8000-00000000dead&vendor_ids.volterra=somebody.else"
	status, _, res, body := getUser(t, base+"/v1/users/ghost"+q)
	if status != 200 {
		t.Fatalf("GET %d %s", status, body)
	}
	for _, v := range []string{"akana", "commvault", "frontier", "volterra"} {
		if r := res.Results[v]; r.Status != dispatch.ReadNotFound || r.Error == nil || r.Error.Code != canonical.CodeNotFound {
			t.Errorf("%s: %+v", v, r)
		}
	}

	if status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier"],"user":{"enabled":false}}`); status != 200 {
		t.Fatalf("disable: %d %s", status, body)
	}
	_, _, res, _ = getUser(t, base+"/v1/users/demo?targets=frontier")
	r := res.Results["frontier"]
	if r.Status != dispatch.ReadNotFound || !strings.Contains(r.Error.Message, "missing or disabled") {
		t.Errorf("a disabled Frontier user reads as %+v, want not_found saying it may be disabled", r)
	}
}

// TestIfMatchConcurrentEditors: two editors read the demo user, both
// holding the same ETag; the first writes; the second, still holding the
// old ETag, is refused with 412 naming frontier, and its value is written
// nowhere.
func TestIfMatchConcurrentEditors(t *testing.T) {
	base, sims := devGateway(t)
	url := base + "/v1/users/demo?targets=frontier,commvault"
	var tags [2]string
	var wg sync.WaitGroup
	for i := range tags {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, tags[i], _, _ = getUser(t, url)
		}()
	}
	wg.Wait()
	if tags[0] == "" || tags[0] != tags[1] {
		t.Fatalf("ETags %q and %q for an unchanged user", tags[0], tags[1])
	}

	status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier"],"user":{"display_name":"Editor A"}}`, "If-Match", tags[0])
	if status != 200 {
		t.Fatalf("editor A: %d %s", status, body)
	}
	writes := len(simWrites(t, sims, "commvault"))
	status, _, body = call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier","commvault"],"user":{"display_name":"Editor B"}}`,
		"If-Match", tags[1], "Idempotency-Key", "editor-b-1")
	if status != 412 {
		t.Fatalf("editor B: %d %s, want 412", status, body)
	}
	var p problem.Problem
	_ = json.Unmarshal(body, &p)
	if p.Code != canonical.CodePreconditionFailed || len(p.Errors) != 1 || p.Errors[0].Target != "frontier" {
		t.Errorf("problem %s, want precondition_failed naming frontier alone", body)
	}
	if got := frontierUser(t, sims)["title"]; got != "Editor A" {
		t.Errorf("frontier title %v: the stale write went through", got)
	}
	if w := simWrites(t, sims, "commvault"); len(w) != writes {
		t.Errorf("commvault was written despite the 412: %v", w[writes:])
	}
	// Editor B reads again and writes with the fresh ETag.
	_, fresh, _, _ := getUser(t, url)
	status, _, body = call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier","commvault"],"user":{"display_name":"Editor B"}}`,
		"If-Match", fresh, "Idempotency-Key", "editor-b-1")
	if status != 200 {
		t.Fatalf("editor B with a fresh ETag: %d %s", status, body)
	}
}

// TestGetCommand: gateway get against a running gateway (--url) as a table
// and as JSON, and reading the vendors directly (--config).
func TestGetCommand(t *testing.T) {
	base, sims := devGateway(t)
	if status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["commvault"],"user":{"display_name":"Jane Table"}}`); status != 200 {
		t.Fatalf("PATCH %d %s", status, body)
	}
	var out, errOut strings.Builder
	if err := run(context.Background(), []string{"get", "demo", "--url", base}, nil, &out, &errOut); err != nil {
		t.Fatalf("get: %v %s", err, errOut.String())
	}
	table := out.String()
	for _, want := range []string{"TARGET", "commvault  ok", "Jane Table", "DRIFT", "display_name  commvault  Jane Table"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	out.Reset()
	if err := run(context.Background(), []string{"get", "--json", "--targets", "commvault,frontier", "--url", base, "demo"}, nil, &out, &errOut); err != nil {
		t.Fatalf("get --json: %v", err)
	}
	var res dispatch.ReadResult
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	drifts := map[canonical.Field]bool{}
	for _, d := range res.Drift {
		drifts[d.Field] = true
	}
	if len(res.Results) != 2 || res.Consistent || !drifts[canonical.FieldDisplayName] {
		t.Errorf("--json result %s", out.String())
	}

	// --config: no gateway, the vendors read in-process.
	for k, v := range sims.Env() {
		t.Setenv(k, v)
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, identitygateway.DefaultConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"get", "demo", "--config", path, "--targets", "commvault"}, nil, &out, &errOut); err != nil {
		t.Fatalf("get --config: %v", err)
	}
	if !strings.Contains(out.String(), "Jane Table") || !strings.Contains(out.String(), "consistent") {
		t.Errorf("--config output:\n%s", out.String())
	}

	if err := run(context.Background(), []string{"get", "demo", "--targets", "nope", "--url", base}, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "400 invalid_request") {
		t.Errorf("unknown target: %v", err)
	}
}

// TestReadsRunUnderRetriesAndBreaker: a read goes through the vendor's
// resilience stack: a 503 is retried, and a vendor whose breaker the reads
// opened fails fast with circuit_open, the same breaker writes use.
func TestReadsRunUnderRetriesAndBreaker(t *testing.T) {
	base, sims := devGatewayWith(t, func(c *config.Config) {
		v := c.Vendors["commvault"]
		v.Breaker.ConsecutiveFailures, v.Breaker.OpenFor = 1, config.Duration(time.Hour)
		v.Retry.MinWait, v.Retry.MaxWait = config.Duration(time.Millisecond), config.Duration(2*time.Millisecond)
		c.Vendors["commvault"] = v
	})
	fault(t, sims, "frontier", `{"fail_times":1,"status":503}`)
	_, _, res, body := getUser(t, base+"/v1/users/demo?targets=frontier")
	r := res.Results["frontier"]
	if r.Status != dispatch.ReadOK || len(r.Calls) != 1 || !slices.Equal(r.Calls[0].AttemptStatuses, []result.AttemptStatus{{Status: 503}, {Status: 200}}) {
		t.Fatalf("frontier after one 503: %s", body)
	}

	fault(t, sims, "commvault", `{"fraction":1,"status":503}`)
	status, _, res, body := getUser(t, base+"/v1/users/demo?targets=commvault")
	if r := res.Results["commvault"]; status != 502 || r.Status != dispatch.ReadFailed || r.Error.Code != canonical.CodeUpstreamUnavailable {
		t.Fatalf("commvault failing: %s", body)
	}
	fault(t, sims, "commvault", `{}`)
	before := simRequests(t, sims, "commvault")
	status, _, res, body = getUser(t, base+"/v1/users/demo?targets=commvault")
	if r := res.Results["commvault"]; status != 503 || r.Status != dispatch.ReadFailed || r.Error.Code != canonical.CodeCircuitOpen {
		t.Errorf("after the breaker opened: %s", body)
	}
	status, _, body = call(t, "PATCH", base+"/v1/users/demo", `{"targets":["commvault"],"user":{"display_name":"X"}}`)
	if status != 503 || !strings.Contains(string(body), "circuit_open") {
		t.Errorf("a write after reads opened the breaker: %d %s", status, body)
	}
	if n := simRequests(t, sims, "commvault"); n != before {
		t.Errorf("commvault received %d requests through an open breaker", n-before)
	}
}
