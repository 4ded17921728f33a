package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/identity-gateway/identity-gateway/internal/links"
)

// linksScenario measures identity links (issue 20): the same single-target
// update to one gateway backed by a PostgreSQL link store, once with
// vendor_ids in the request (the store is not consulted) and once addressed
// by the stored link (the demo user, seeded from gateway.yaml), alternated,
// at -conns connections and at one. The schema is the run's own and is
// dropped afterwards.
func linksScenario(dbURL string, conns int, dur time.Duration,
	start func(name, store, cfgPath string, extraEnv ...string) (string, func(), error), cfgPath string, vars map[string]string,
	atk func(vegeta.Targeter, int, time.Duration) result, alternate func([]string, []func() result) []result,
	addCheck func(name string, ok bool, val string), vs func(name, ratio string)) error {
	schema := fmt.Sprintf("loadbench_%d", time.Now().UnixNano())
	defer func() {
		s, err := links.OpenPG(context.Background(), links.PGOptions{URL: dbURL, Schema: schema})
		if err != nil {
			fmt.Println("loadbench: drop links schema:", err)
			return
		}
		defer s.Close()
		if err := s.DropSchema(context.Background()); err != nil {
			fmt.Println("loadbench: drop links schema:", err)
		}
	}()
	gw, stop, err := start("links-pg", "memory", cfgPath, "LINKS_STORE=postgres", "LINKS_DATABASE_URL="+dbURL, "LINKS_SCHEMA="+schema)
	if err != nil {
		return err
	}
	defer stop()
	var seq atomic.Int64
	target := func(vendorIDs bool) vegeta.Targeter {
		ids := ""
		if vendorIDs {
			ids = fmt.Sprintf(`"vendor_ids":{"commvault":%q},`, vars["COMMVAULT_DEMO_ID"])
		}
		return func(t *vegeta.Target) error {
			n := seq.Add(1)
			t.Method, t.URL = "PATCH", gw+"/v1/users/demo"
			t.Body = fmt.Appendf(nil, `{"targets":["commvault"],%s"user":{"display_name":"Load %d"}}`, ids, n%1000+1)
			t.Header = http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {fmt.Sprintf("lbl-%d-%d", time.Now().UnixNano(), n)}}
			return nil
		}
	}
	atk(target(true), 4, time.Second)
	atk(target(false), 4, time.Second)
	for _, c := range []int{conns, 1} {
		names := []string{fmt.Sprintf("links store postgres: vendor_ids in the request, %d conns", c),
			fmt.Sprintf("links store postgres: addressed by the stored link, %d conns", c)}
		fmt.Printf("identity links (postgres, cached), %d connections:\n", c)
		rs := alternate(names, []func() result{
			func() result { return atk(target(true), c, dur) },
			func() result { return atk(target(false), c, dur) },
		})
		vs(names[0], "baseline")
		vs(names[1], fmt.Sprintf("rps %.2fx vendor_ids; p50 %+dµs", rs[1].rps/rs[0].rps, (rs[1].p50-rs[0].p50).Microseconds()))
		if c == 1 {
			addCheck("stored link p50 <= vendor_ids p50 + 0.2 ms (1 conn)", rs[1].p50-rs[0].p50 <= 200*time.Microsecond, fmt.Sprintf("%+dµs", (rs[1].p50-rs[0].p50).Microseconds()))
		} else {
			addCheck(fmt.Sprintf("stored link >= 90%% of vendor_ids throughput (%d conns)", c), rs[1].rps >= 0.9*rs[0].rps, fmt.Sprintf("%.0f%%", 100*rs[1].rps/rs[0].rps))
		}
	}
	return nil
}
