package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/config"
)

func fault(t *testing.T, sims *simSet, vendor, rule string) {
	t.Helper()
	resp, err := http.Post(sims.addrs[vendor]+"/_fault", "application/json", strings.NewReader(rule))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("fault rule: %v %v", resp, err)
	}
	resp.Body.Close()
}

// A vendor hanging forever fails with upstream_timeout within its deadline
// while the other targets of the same request apply (207).
func TestHangingVendorDoesNotHoldOthers(t *testing.T) {
	base, sims := devGatewayWith(t, func(c *config.Config) {
		v := c.Vendors["frontier"]
		v.AttemptTimeout, v.Deadline = config.Duration(150*time.Millisecond), config.Duration(400*time.Millisecond)
		c.Vendors["frontier"] = v
	})
	fault(t, sims, "frontier", `{"hang":true}`)
	start := time.Now()
	const update = `{"targets":["frontier","commvault"],"user":{"display_name":"Hang"}}`
	status, _, body := call(t, "PATCH", base+"/v1/users/demo", update, "Idempotency-Key", "hang-key")
	took := time.Since(start)
	var res result.Result
	_ = json.Unmarshal(body, &res)
	if status != http.StatusMultiStatus || res.Results["commvault"].Status != result.StatusApplied ||
		res.Results["frontier"].Error == nil || res.Results["frontier"].Error.Code != canonical.CodeUpstreamTimeout {
		t.Fatalf("%d %s", status, body)
	}
	if took > 3*time.Second {
		t.Errorf("took %s; the deadline is 400ms", took)
	}
	// The vendor recovers: a repeat with the same key re-runs only
	// frontier; commvault, already applied, gets no second write.
	fault(t, sims, "frontier", `{}`)
	writes := countWrites(t, sims, "commvault")
	status, _, body = call(t, "PATCH", base+"/v1/users/demo", update, "Idempotency-Key", "hang-key")
	res = result.Result{}
	_ = json.Unmarshal(body, &res)
	if status != http.StatusOK || res.Results["frontier"].Status != result.StatusApplied || res.Results["commvault"].Status != result.StatusApplied {
		t.Fatalf("repeat after recovery: %d %s", status, body)
	}
	if got := countWrites(t, sims, "commvault") - writes; got != 0 {
		t.Errorf("the repeat wrote commvault %d more times, want 0", got)
	}
	if title := frontierUser(t, sims)["title"]; title != "Hang" {
		t.Errorf("frontier title %v after the repeat, want Hang", title)
	}
}

// 200 concurrent identical requests: exactly one vendor write; the rest are
// replays or 409s.
func TestConcurrentIdenticalRequests(t *testing.T) {
	base, sims := devGateway(t)
	before := countWrites(t, sims, "commvault")
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PATCH", base+"/v1/users/demo", strings.NewReader(`{"targets":["commvault"],"user":{"display_name":"Once"}}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "same-key-200")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			k := resp.StatusCode
			if resp.Header.Get("Idempotent-Replayed") == "true" {
				k = 1200
			}
			mu.Lock()
			statuses[k]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got := countWrites(t, sims, "commvault") - before; got != 1 {
		t.Errorf("vendor writes %d, want 1 (statuses %v)", got, statuses)
	}
	if statuses[200] != 1 || statuses[200]+statuses[1200]+statuses[409] != 200 {
		t.Errorf("statuses %v: want one 200, the rest replays (1200) or 409", statuses)
	}
}

func countWrites(t *testing.T, sims *simSet, vendor string) int {
	t.Helper()
	_, _, body := call(t, "GET", sims.addrs[vendor]+"/_sim/requests", "")
	var reqs []struct{ Method string }
	_ = json.Unmarshal(body, &reqs)
	n := 0
	for _, r := range reqs {
		if r.Method == "PUT" {
			n++
		}
	}
	return n
}

// Redis stopped mid-run: keyed requests get 503 idempotency_unavailable and
// nothing is written; /readyz reports the store.
func TestRedisDownFailsClosed(t *testing.T) {
	m := miniredis.RunT(t)
	sims, cfg := devSims(t)
	cfg.Idempotency.Store, cfg.Redis.URL = "redis", "redis://"+m.Addr()
	cfg.Redis.AllowVolatile = true // miniredis has no persistence
	rbase, _ := startGateway(t, cfg, buildOptions{LogOutput: io.Discard, AuthNone: true})
	status, _, body := call(t, "PATCH", rbase+"/v1/users/demo", `{"targets":["commvault"],"user":{"display_name":"Up"}}`, "Idempotency-Key", "r-1")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	m.Close()
	before := countWrites(t, sims, "commvault")
	status, hdr, body := call(t, "PATCH", rbase+"/v1/users/demo", `{"targets":["commvault"],"user":{"display_name":"Down"}}`, "Idempotency-Key", "r-2")
	if status != 503 || !strings.Contains(string(body), "idempotency_unavailable") || hdr.Get("Retry-After") == "" {
		t.Errorf("%d %s", status, body)
	}
	if countWrites(t, sims, "commvault") != before {
		t.Error("a write happened without the idempotency store")
	}
	if status, _, _ := call(t, "GET", rbase+"/readyz", ""); status != 503 {
		t.Errorf("readyz %d with the store down", status)
	}
	// Redis back: the (auto-pipelined) store reconnects on its own.
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if status, _, body := call(t, "PATCH", rbase+"/v1/users/demo", `{"targets":["commvault"],"user":{"display_name":"Back"}}`, "Idempotency-Key", "r-3"); status != 200 {
		t.Errorf("after Redis came back: %d %s", status, body)
	}
	if status, hdr, body := call(t, "PATCH", rbase+"/v1/users/demo", `{"targets":["commvault"],"user":{"display_name":"Back"}}`, "Idempotency-Key", "r-3"); status != 200 || hdr.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay after Redis came back: %d %v %s", status, hdr, body)
	}
	if status, _, _ := call(t, "GET", rbase+"/readyz", ""); status != 200 {
		t.Errorf("readyz %d with the store back", status)
	}
}

// SIGTERM during in-flight requests: they complete, new ones are refused.
// Commvault is a gate in front of its simulator that holds every request
// until the gateway logs that it is shutting down, so the three requests
// are in flight when shutdown starts, by construction rather than timing.
func TestGracefulShutdown(t *testing.T) {
	sims, cfg := devSims(t)
	arrived := make(chan struct{}, 16)
	stopping := &logWatch{want: []byte(`"msg":"shutting down"`), seen: make(chan struct{})}
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-stopping.seen:
		case <-r.Context().Done():
			return
		}
		sims.handlers["commvault"].ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	v := cfg.Vendors["commvault"]
	v.BaseURL = gate.URL
	cfg.Vendors["commvault"] = v
	base, shutdown := startGateway(t, cfg, buildOptions{LogOutput: stopping, AuthNone: true})
	results := make(chan int, 3)
	for i := 0; i < 3; i++ {
		go func(i int) {
			req, _ := http.NewRequest("PATCH", base+"/v1/users/demo", strings.NewReader(fmt.Sprintf(`{"targets":["commvault"],"user":{"display_name":"inflight %d"}}`, i)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- 0
				return
			}
			resp.Body.Close()
			results <- resp.StatusCode
		}(i)
	}
	// Wait until the three requests are at the vendor, then shut down.
	for range 3 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the requests never reached the vendor")
		}
	}
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- shutdown() }()
	for i := 0; i < 3; i++ {
		if s := <-results; s != 200 {
			t.Errorf("in-flight request ended with %d", s)
		}
	}
	if err := <-shutdownErr; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("a new request was accepted after shutdown")
	}
}

// logWatch is a log output that closes seen once a write holds want.
type logWatch struct {
	want []byte
	seen chan struct{}
	once sync.Once
}

func (w *logWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// Hostile inputs that only the real adapters can judge: each is a clear
// 4xx and reaches no simulator.
func TestHostileVendorInputs(t *testing.T) {
	base, sims := devGateway(t)
	cases := []struct {
		name, body string
		status     int
	}{
		{"negative commvault id", `{"targets":["commvault"],"vendor_ids":{"commvault":"-1"},"user":{"display_name":"x"}}`, 400},
		{"overflowing commvault id", `{"targets":["commvault"],"vendor_ids":{"commvault":"2147483648"},"user":{"display_name":"x"}}`, 400},
		{"commvault id with a plus", `{"targets":["commvault"],"vendor_ids":{"commvault":"+42"},"user":{"display_name":"x"}}`, 400},
		{"non-image bytes as image/png", `{"targets":["frontier"],"user":{"avatar":{"content_type":"image/png","data":"aGVsbG8gd29ybGQ="}}}`, 400},
		{"akana id of another tenant", `{"targets":["akana"],"vendor_ids":{"akana":"522320b9-cb6b-495d-ae07-e4b3bfdb3f6a.othercorp"},"user":{"given_name":"x"}}`, 400},
		{"frontier id that is not a uuid", `{"targets":["frontier"],"vendor_ids":{"frontier":"jane@example.com"},"user":{"display_name":"x"}}`, 400},
		{"extension not allowed", `{"targets":["commvault"],"user":{"display_name":"x"},"extensions":{"commvault":{"companyId":1}}}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]int{}
			for _, v := range []string{"volterra", "akana", "commvault", "frontier"} {
				before[v] = simRequests(t, sims, v)
			}
			status, _, body := call(t, "PATCH", base+"/v1/users/demo", tc.body)
			if status != tc.status {
				t.Fatalf("%d %s", status, body)
			}
			for v, n := range before {
				if got := simRequests(t, sims, v); got != n {
					t.Errorf("%s received %d requests", v, got-n)
				}
			}
		})
	}
}

// /readyz?verbose=1 lists every vendor's breaker state and last call, and
// reading it never calls a vendor.
func TestReadyzVerboseListsVendorsWithoutCallingThem(t *testing.T) {
	base, sims := devGatewayWith(t, func(c *config.Config) {
		v := c.Vendors["frontier"]
		zero := 0
		v.Retry.Max = &zero
		v.Breaker.ConsecutiveFailures = 1
		c.Vendors["frontier"] = v
	})
	type vendor struct {
		Vendor   string `json:"vendor"`
		Breaker  string `json:"breaker"`
		LastCall *struct {
			At      time.Time `json:"at"`
			Call    string    `json:"call"`
			Status  int       `json:"status"`
			Outcome string    `json:"outcome"`
		} `json:"last_call"`
	}
	readyz := func(path string) (map[string]vendor, json.RawMessage) {
		t.Helper()
		status, _, body := call(t, "GET", base+path, "")
		var doc struct {
			Status  string   `json:"status"`
			Vendors []vendor `json:"vendors"`
		}
		if err := json.Unmarshal(body, &doc); status != 200 || err != nil || doc.Status != "ready" {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		out := map[string]vendor{}
		for _, v := range doc.Vendors {
			out[v.Vendor] = v
		}
		return out, body
	}
	if vs, body := readyz("/readyz"); len(vs) != 0 {
		t.Errorf("plain /readyz lists vendors: %s", body)
	}
	reached := func() int {
		n := 0
		for _, v := range []string{"volterra", "akana", "commvault", "frontier"} {
			_, _, b := call(t, "GET", sims.addrs[v]+"/_sim/requests", "")
			var reqs []json.RawMessage
			_ = json.Unmarshal(b, &reqs)
			n += len(reqs)
		}
		return n
	}
	before := reached()
	vs, body := readyz("/readyz?verbose=1")
	if len(vs) != 4 {
		t.Fatalf("want 4 vendors: %s", body)
	}
	for name, v := range vs {
		if v.Breaker != "closed" || v.LastCall != nil {
			t.Errorf("%s before any call: %+v", name, v)
		}
	}
	if reached() != before {
		t.Error("/readyz?verbose=1 called a vendor")
	}

	status, _, resp := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["commvault"],"user":{"display_name":"Ready Z"}}`)
	if status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	fault(t, sims, "frontier", `{"fail_times":1,"status":503}`)
	status, _, resp = call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier"],"user":{"display_name":"Ready Z"}}`)
	if status < 500 {
		t.Fatalf("frontier with a 503: %d %s", status, resp)
	}
	before = reached()
	vs, body = readyz("/readyz?verbose=1")
	if reached() != before {
		t.Error("/readyz?verbose=1 called a vendor")
	}
	if c := vs["commvault"]; c.Breaker != "closed" || c.LastCall == nil || c.LastCall.Outcome != "ok" || c.LastCall.Status != 200 ||
		c.LastCall.Call != "put user" || time.Since(c.LastCall.At) > time.Minute {
		t.Errorf("commvault: %s", body)
	}
	if f := vs["frontier"]; f.Breaker != "open" || f.LastCall == nil || f.LastCall.Outcome != "http_error" || f.LastCall.Status != 503 {
		t.Errorf("frontier: %s", body)
	}
	if a := vs["akana"]; a.LastCall != nil {
		t.Errorf("akana was never called: %s", body)
	}
}
