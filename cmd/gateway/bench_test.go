package main

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkUpdate is one canonical update through the whole gateway, as
// `gateway dev` wires it (memory idempotency with a fresh key per request,
// the audit trail, breaker, retries, spans recorded, the log line), to the
// in-process Commvault simulator: loadbench's update, sent one at a time
// over loopback. B/op and allocs/op count the client's and the simulator's
// allocations as well as the gateway's; those two are the same from one
// gateway version to the next, so a change in the gateway's allocations per
// update shows here exactly, where loadbench's CPU per request varies by
// several per cent from run to run.
func BenchmarkUpdate(b *testing.B) {
	_, cfg := devSims(b)
	base, _ := startGateway(b, cfg, buildOptions{LogOutput: io.Discard, AuthNone: true})
	client := &http.Client{}
	var body bytes.Buffer
	send := func(i int) {
		body.Reset()
		body.WriteString(`{"targets":["commvault"],"on_unsupported":"skip","user":{"display_name":"Load `)
		body.WriteString(strconv.Itoa(i%1000 + 1))
		body.WriteString(`","given_name":"L"}}`)
		req, _ := http.NewRequest(http.MethodPatch, base+"/v1/users/demo", &body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "bench-"+strconv.Itoa(i))
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for i := range 200 { // connections, pools and the session's login
		send(-1 - i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		send(i)
		i++
	}
}
