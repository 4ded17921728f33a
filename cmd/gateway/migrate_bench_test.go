package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime is this process's user+system CPU so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// allocated is the bytes the process has allocated on the heap so far
// (runtime/metrics: no stop-the-world, unlike ReadMemStats).
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestMigrateBenchmark (BENCHMARKS.md) migrates MIGRATE_BENCH_USERS seeded
// users from the Akana simulator to Frontier and Commvault twice, on fresh
// simulators each time: with gateway migrate's engine, and as a client of
// the API would (GET the source, PATCH the destinations per user), at the
// same concurrency. It only runs when MIGRATE_BENCH_USERS is set.
func TestMigrateBenchmark(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MIGRATE_BENCH_USERS"))
	if n <= 0 {
		t.Skip("set MIGRATE_BENCH_USERS=N to run")
	}
	conc := 8
	if v, err := strconv.Atoi(os.Getenv("MIGRATE_BENCH_CONC")); err == nil && v > 0 {
		conc = v
	}
	report := func(name string, users int, wall, cpu time.Duration, alloc, heap uint64) {
		t.Logf("%-8s %d users in %v: %.0f users/s, CPU %v/user (process, simulators included), %d KiB allocated/user, heap after %d MiB",
			name, users, wall.Round(time.Millisecond), float64(users)/wall.Seconds(), (cpu / time.Duration(users)).Round(time.Microsecond),
			alloc/uint64(users)>>10, heap>>20)
	}
	heap := func() uint64 { var m runtime.MemStats; runtime.GC(); runtime.ReadMemStats(&m); return m.HeapAlloc }

	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("MIGRATE_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	// Each run is a subtest, so its simulators and store are closed before
	// the next starts; odd rounds run the client first, so neither side
	// always runs on the warmer (or more loaded) box.
	for round := range rounds {
		runs := []func(*testing.T){func(t *testing.T) { benchMigrate(t, n, conc, report, heap) }, func(t *testing.T) { benchAPI(t, n, conc, report, heap) }}
		names := []string{"migrate", "api"}
		if round%2 == 1 {
			runs[0], runs[1], names[0], names[1] = runs[1], runs[0], names[1], names[0]
		}
		for i := range runs {
			t.Run(fmt.Sprintf("round%d-%s", round, names[i]), runs[i])
		}
	}
}

// benchRig is a migration rig on REDIS_URL when it is set (under a key
// prefix of the run's own, as a deployment would run on a real Redis), so
// the numbers are not miniredis's: it runs each Lua script on a fresh
// interpreter, which was a third of the process's CPU.
func benchRig(t *testing.T, n int) *migrateRig {
	r := newMigrateRig(t, n)
	if os.Getenv("REDIS_URL") != "" {
		r.redisURL, r.redisPrefix, _ = testRedis(t)
	}
	return r
}

type benchReport func(name string, users int, wall, cpu time.Duration, alloc, heap uint64)

// benchMigrate is gateway migrate's engine, in-process.
func benchMigrate(t *testing.T, n, conc int, report benchReport, heap func() uint64) {
	{
		r := benchRig(t, n)
		m := r.migration(t, "bench")
		m.concurrency = conc
		// MIGRATE_BENCH_PROFILE=file writes a CPU profile of this run alone.
		if path := os.Getenv("MIGRATE_BENCH_PROFILE"); path != "" {
			// {run} in the path becomes the run's name, one profile per round.
			path = strings.ReplaceAll(path, "{run}", strings.ReplaceAll(t.Name(), "/", "-"))
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
			defer f.Close()
		}
		if path := os.Getenv("MIGRATE_BENCH_MEMPROFILE"); path != "" {
			runtime.MemProfileRate = 4096
			defer func() {
				runtime.MemProfileRate = 0
				f, err := os.Create(path)
				if err == nil {
					_ = pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}()
		}
		cpu0, alloc0, start := cpuTime(t), allocated(), time.Now()
		sum, err := m.run(context.Background(), sliceSource(r.users), n, io.Discard)
		wall, cpu, alloc := time.Since(start), cpuTime(t)-cpu0, allocated()-alloc0
		if err != nil || sum.users != n || sum.failed() {
			t.Fatalf("%d users, %d failed, %v", sum.users, sum.failedUsers, err)
		}
		pprof.StopCPUProfile()
		report("migrate", n, wall, cpu, alloc, heap())
	}
}

// benchAPI is a client doing GET + PATCH per user through the API.
func benchAPI(t *testing.T, n, conc int, report benchReport, heap func() uint64) {
	{
		r := benchRig(t, n)
		cfg, err := devConfig("", r.sims)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Idempotency.Store = "redis"
		cfg.Redis.URL, cfg.Redis.KeyPrefix = r.redisURL, r.redisPrefix
		cfg.Redis.AllowVolatile = true
		base, _ := serveBuilt(t, cfg, buildOptions{LogOutput: &bytes.Buffer{}})
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
		work := make(chan migrateUser)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		one := func(u migrateUser) error {
			q := url.Values{"targets": {"akana"}, "vendor_ids.akana": {u.VendorIDs["akana"]}}
			resp, err := client.Get(base + "/v1/users/" + u.ID + "?" + q.Encode())
			if err != nil {
				return err
			}
			var rd struct {
				Results map[string]struct {
					Snapshot struct {
						Fields map[string]struct{ Value any } `json:"fields"`
					} `json:"snapshot"`
				} `json:"results"`
			}
			err = json.NewDecoder(resp.Body).Decode(&rd)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				return fmt.Errorf("GET %d %v", resp.StatusCode, err)
			}
			body, _ := json.Marshal(map[string]any{"targets": []string{"frontier", "commvault"}, "on_unsupported": "skip",
				"vendor_ids": map[string]string{"frontier": u.VendorIDs["frontier"], "commvault": u.VendorIDs["commvault"]},
				"user":       map[string]any{"email": rd.Results["akana"].Snapshot.Fields["email"].Value}})
			req, _ := http.NewRequest(http.MethodPatch, base+"/v1/users/"+u.ID, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "bench/"+u.ID)
			resp, err = client.Do(req)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("PATCH %d %s", resp.StatusCode, b)
			}
			return nil
		}
		cpu0, alloc0, start := cpuTime(t), allocated(), time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for u := range work {
					if err := one(u); err != nil {
						mu.Lock()
						failures = append(failures, err.Error())
						mu.Unlock()
					}
				}
			}()
		}
		for _, u := range r.users {
			work <- u
		}
		close(work)
		wg.Wait()
		wall, cpu, alloc := time.Since(start), cpuTime(t)-cpu0, allocated()-alloc0
		if len(failures) > 0 {
			t.Fatalf("%d failures, first: %s", len(failures), failures[0])
		}
		report("api", n, wall, cpu, alloc, heap())
	}
}
