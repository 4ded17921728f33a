package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/config"
)

// stalledBulk is a gateway whose SCIM target is Frontier behind a proxy
// that stalls every write to the n Bulk users' accounts until unblock.
type stalledBulk struct {
	base        string
	ids, ops    []string    // the users, and a PATCH operation for each
	live        string      // a user no Bulk operation touches
	bulkIn      chan string // the stalled account paths
	unblock     func()
	maxInflight *atomic.Int32
}

// newStalledBulk starts it; limited gives Frontier max_concurrency 2 with
// half kept for interactive traffic.
func newStalledBulk(t *testing.T, n int, limited bool) stalledBulk {
	t.Helper()
	sims, err := startSims(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sims.Close() })
	fsim := sims.handlers["frontier"].(*frontiersim.Sim)
	bulkID := func(i int) string { return fmt.Sprintf("b0000000-1111-4222-8333-%012d", i) }
	const liveID = "1f000000-1111-4222-8333-444455556666"
	for i := range n {
		fsim.AddUser(frontiersim.User{ID: bulkID(i), Name: fmt.Sprintf("bulk%d", i), Email: fmt.Sprintf("bulk%d@example.com", i)})
	}
	fsim.AddUser(frontiersim.User{ID: liveID, Name: "live", Email: "live@example.com"})

	var stalling atomic.Bool
	bulkIn := make(chan string, 64)
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	var inflight, maxInflight atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stalling.Load() && r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/b0000000-") {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				m := maxInflight.Load()
				if n <= m || maxInflight.CompareAndSwap(m, n) {
					break
				}
			}
			bulkIn <- r.URL.Path[strings.Index(r.URL.Path, "/b0000000-"):]
			<-release
		}
		fsim.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	t.Cleanup(unblock) // before proxy.Close, even when the test fails
	sims.env["FRONTIER_URL"] = proxy.URL
	cfg, err := devConfig("", sims)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Listen = "127.0.0.1:0"
	if limited {
		share := 0.5
		v := cfg.Vendors["frontier"]
		v.MaxConcurrency, v.RateLimit.InteractiveShare = 2, &share
		cfg.Vendors["frontier"] = v
	}
	cfg.SCIM = config.SCIM{Targets: []string{"frontier"}}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: os.Stderr, AuthNone: true})

	create := func(name string) string {
		status, _, b := call(t, "POST", base+"/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+name+`","emails":[{"value":"`+name+`@example.com","primary":true}]}`)
		if status != 201 {
			t.Fatalf("POST %s: %d %s", name, status, b)
		}
		var u struct{ ID string }
		_ = json.Unmarshal(b, &u)
		return u.ID
	}
	ids := make([]string, n)
	var ops []string
	for i := range n {
		ids[i] = create(fmt.Sprintf("bulk%d", i))
		ops = append(ops, `{"method":"PATCH","path":"/Users/`+ids[i]+`","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Bulk `+fmt.Sprint(i)+`"}]}}`)
	}
	live := create("live")
	stalling.Store(true)
	return stalledBulk{base: base, ids: ids, ops: ops, live: live, bulkIn: bulkIn, unblock: unblock, maxInflight: &maxInflight}

}

type bulkResult struct {
	Method, Status, Location string
	Response                 json.RawMessage
}

// runBulk sends the operations as one Bulk request (no failOnErrors) in
// the background.
func runBulk(t *testing.T, base string, ops []string) <-chan []bulkResult {
	done := make(chan []bulkResult, 1)
	go func() {
		status, _, b := call(t, "POST", base+"/scim/v2/Bulk", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[`+strings.Join(ops, ",")+`]}`)
		var res struct{ Operations []bulkResult }
		if status != 200 || json.Unmarshal(b, &res) != nil {
			t.Errorf("Bulk %d %s", status, b)
		}
		done <- res.Operations
	}()
	return done
}

// TestSCIMBulkLeavesLivePatchesTheirShare runs a SCIM Bulk of independent
// PATCHes and a live SCIM PATCH together against Frontier with
// max_concurrency 2 and half of it kept for interactive traffic (the
// pattern of TestBatchLeavesLivePatchesTheirShare): while a Bulk operation
// holds the bulk slot (its Frontier write is stalled), the live PATCH
// still goes through at once, the Bulk never uses more than its one slot,
// and its results come back in request order.
func TestSCIMBulkLeavesLivePatchesTheirShare(t *testing.T) {
	const n = 6
	sb := newStalledBulk(t, n, true)
	base, ids, live := sb.base, sb.ids, sb.live
	bulkDone := runBulk(t, base, sb.ops)
	<-sb.bulkIn // a Bulk operation holds the bulk slot at Frontier; the others wait
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "PATCH", base+"/scim/v2/Users/"+live,
		strings.NewReader(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Live"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("live PATCH starved by the Bulk: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("live PATCH: %d %s", resp.StatusCode, b)
	}
	sb.unblock()
	got := <-bulkDone
	if len(got) != n {
		t.Fatalf("Bulk answered %d operations, want %d: %+v", len(got), n, got)
	}
	for i, r := range got {
		if r.Status != "200" || r.Location != "/scim/v2/Users/"+ids[i] {
			t.Errorf("operation %d: %+v, want 200 at /scim/v2/Users/%s (request order)", i, r, ids[i])
		}
	}
	if m := sb.maxInflight.Load(); m != 1 {
		t.Errorf("the Bulk used %d Frontier slots at once, its share is 1", m)
	}
}

// TestSCIMBulkRunsIndependentOperationsConcurrently: with no vendor limit,
// independent operations of one Bulk are at Frontier at the same time (two
// writes stalled at once, which one-at-a-time execution never reaches),
// while an operation on a user created by the same request through its
// bulkId waits for that create.
func TestSCIMBulkRunsIndependentOperationsConcurrently(t *testing.T) {
	sb := newStalledBulk(t, 3, false)
	ops := append(slices.Clone(sb.ops),
		`{"method":"POST","path":"/Users","bulkId":"nu","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new.user","emails":[{"value":"new.user@example.com","primary":true}],"displayName":"New"}}`,
		`{"method":"PATCH","path":"/Users/bulkId:nu","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}}`)
	done := runBulk(t, sb.base, ops)
	// Two different accounts stalled at once (a retry of one stalled
	// write is the same account again).
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case p := <-sb.bulkIn:
			seen[p] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("the Bulk's independent operations did not run concurrently: stalled %v", seen)
		}
	}
	sb.unblock()
	got := <-done
	if len(got) != len(ops) {
		t.Fatalf("%d results for %d operations: %+v", len(got), len(ops), got)
	}
	for i, r := range got[:3] {
		if r.Status != "200" || r.Location != "/scim/v2/Users/"+sb.ids[i] {
			t.Errorf("operation %d: %+v (request order)", i, r)
		}
	}
	if got[3].Status != "201" || got[4].Status != "200" || got[4].Location != got[3].Location {
		t.Fatalf("create %+v then patch by bulkId %+v (%s): want 201 and 200 at the same user", got[3], got[4], got[4].Response)
	}
	status, _, b := call(t, "GET", sb.base+got[3].Location, "")
	var u map[string]any
	_ = json.Unmarshal(b, &u)
	if status != 200 || u["active"] != false {
		t.Errorf("GET %s: %d %s, want the new user, inactive", got[3].Location, status, b)
	}
}
