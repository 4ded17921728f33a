// Command loadbench is the gateway's load benchmark (issue 11). It builds the
// gateway, starts the four simulators (`gateway sim`) and the gateway
// (`gateway serve`) as separate processes on loopback, starts two baselines
// in process, and drives everything with vegeta, alternating runs and taking
// the median of several, so every figure is a ratio to a baseline measured
// in the same run on the same noisy machine:
//
//   - direct: the exact vendor calls the gateway makes for the update (for
//     Frontier: GET then PUT), in sequence per request, straight at the
//     simulator (a closed loop here, since vegeta sends single requests);
//
//   - passthrough: a minimal Fiber server with the same upstream net/http
//     transport settings forwarding one fixed request through a default
//     go-retryablehttp client (issue 25's "bare Fiber + go-retryablehttp
//     hop"; -passthrough nethttp drops go-retryablehttp): the floor cost of
//     a hop, with no decoding, adapters, idempotency, breaker or telemetry.
//
// After the targets it prints the bounds the machine sets at the run's CPU
// costs (bounds.go): every process here shares the same CPUs.
//
//	go run -C tools/loadbench . [-duration 4s] [-runs 3] [-conns 64] [-rate 0]
//	[-scenarios throughput,latency,fanout,replay,store] (also: costs, locks)
//	[-redis redis://127.0.0.1:6379] [-telemetry otlp|none] [-profile dir]
//	[-database-url postgres://...] (the links scenario: -scenarios links)
//	[-procs N] (GOMAXPROCS for the gateway and the passthrough)
//	[-max-time 20m]
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hashicorp/go-retryablehttp"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/identity-gateway/identity-gateway/adapters/builtin"
	"github.com/identity-gateway/identity-gateway/internal/idempotency/redisstore"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == passthroughCmd {
		// The passthrough baseline runs as a process of its own (this
		// binary, re-executed), so its CPU is read alone rather than inside
		// the load generator's.
		if err := servePassthrough(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench passthrough:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// noKey, as update's key, sends no Idempotency-Key header.
const noKey = "-"

// lockUsers is how many seeded users the locks scenario's spread load
// cycles through.
const lockUsers = 5000

type result struct {
	rps           float64
	p50, p90, p99 time.Duration
	errors        int
	// cpu is CPU time per request by process (gateway, simulators, this
	// process: the load generator and the in-process baselines), read from
	// /proc around the run; empty where /proc is not available.
	cpu map[string]time.Duration
}

func run() error {
	dur := flag.Duration("duration", 4*time.Second, "length of each measured run")
	runs := flag.Int("runs", 3, "runs per scenario (median reported)")
	conns := flag.Int("conns", 64, "connections for throughput scenarios")
	rate := flag.Int("rate", 0, "requests per second per attack (0: as fast as the connections allow)")
	redisURL := flag.String("redis", os.Getenv("REDIS_URL"), "Redis URL for the Redis-store scenario (empty: skip it)")
	dbURL := flag.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL for the links scenario (empty: skip it)")
	scenarios := flag.String("scenarios", "throughput,latency,fanout,replay,store", "comma-separated scenarios to run (also: costs, what each feature costs; links, stored links against vendor_ids; locks, the account lock's cost on a hot and a spread load; soak, -duration at half the maximum rate, sampling the gateway's RSS)")
	exporter := flag.String("telemetry", "otlp", "the gateway's span exporter: otlp (to a sink this command runs on loopback, so spans are really encoded and sent) or none (spans recorded, not exported)")
	maxTime := flag.Duration("max-time", 20*time.Minute, "abort (exit 2, children killed) if the whole benchmark runs longer")
	profDir := flag.String("profile", "", "write pprof CPU and alloc profiles of the gateway under the 64-connection load (and under one connection, the fan-out and the Redis store, at 64 connections and fanning out at one, when those scenarios run) to this directory")
	ptClient := flag.String("passthrough", "retryablehttp", "the passthrough's upstream client: retryablehttp (the bare Fiber + go-retryablehttp hop issue 25 compares against) or nethttp (net/http alone, the floor this benchmark used before)")
	maxProcs := flag.Int("procs", 0, "GOMAXPROCS for the gateway and the passthrough (0: every CPU). On a machine with CPUs to spare, the simulators, this process and Redis then run beside them rather than on their CPUs, as they would in production")
	warmup := flag.Duration("warmup", 3*time.Second, "unmeasured load on the gateway and the passthrough before the throughput scenario's runs (connections opened, pools and heap grown), so its first run does not measure a cold process")
	flag.Parse()
	// The benchmark is its own module (tools/loadbench): `go run -C
	// tools/loadbench .` runs it here, but it builds ./cmd/gateway and reads
	// gateway.yaml at the repository root.
	if _, err := os.Stat("gateway.yaml"); err != nil {
		if err := os.Chdir("../.."); err != nil {
			return err
		}
	}
	procs := map[string]int{"loadgen": os.Getpid()} // name -> pid, for CPU accounting
	var (
		childMu  sync.Mutex
		children []*os.Process
	)
	adopt := func(p *os.Process) { childMu.Lock(); children = append(children, p); childMu.Unlock() }
	watchdog := time.AfterFunc(*maxTime, func() {
		childMu.Lock()
		for _, p := range children {
			_ = p.Kill()
		}
		childMu.Unlock()
		fmt.Fprintf(os.Stderr, "loadbench: still running after -max-time %s: aborted\n", *maxTime)
		os.Exit(2)
	})
	defer watchdog.Stop()
	atk := func(tr vegeta.Targeter, c int, d time.Duration) result {
		before := cpuTimes(procs)
		r := attack(tr, c, d, *rate)
		r.cpu = perRequest(before, cpuTimes(procs), r.rps*d.Seconds())
		return r
	}
	want := map[string]bool{}
	for _, sc := range strings.Split(*scenarios, ",") {
		switch sc = strings.TrimSpace(sc); sc {
		case "throughput", "latency", "fanout", "replay", "store", "costs", "locks", "links", "soak":
			want[sc] = true
		default:
			return fmt.Errorf("-scenarios: unknown scenario %q (throughput, latency, fanout, replay, store, costs, locks, links, soak)", sc)
		}
	}
	log.SetOutput(io.Discard) // net/http's notes about idle connections the servers closed

	dir, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/gateway").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	base := 20000 + int(time.Now().UnixNano()%10000) // below the ephemeral port range
	sim := exec.Command(bin, "sim", "--base-port", fmt.Sprint(base))
	if want["locks"] {
		// The spread load writes each update to a user of its own.
		sim.Args = append(sim.Args, "--seed-users", fmt.Sprint(lockUsers))
	}
	var simOut syncBuf
	sim.Stdout, sim.Stderr = &simOut, &simOut
	if err := sim.Start(); err != nil {
		return err
	}
	defer func() { _ = sim.Process.Kill(); _ = sim.Wait() }()
	procs["simulators"] = sim.Process.Pid
	adopt(sim.Process)
	frontier := fmt.Sprintf("http://127.0.0.1:%d", base+builtin.PortOffset("frontier"))
	if err := waitHTTP(frontier + "/_sim/requests"); err != nil {
		return fmt.Errorf("%w\n%s", err, simOut.String())
	}
	env := os.Environ()
	// procsEnv is for the two processes measured against each other.
	var procsEnv []string
	if *maxProcs < 0 {
		return fmt.Errorf("-procs %d: want 0 (every CPU) or more", *maxProcs)
	} else if *maxProcs > 0 {
		procsEnv = []string{fmt.Sprintf("GOMAXPROCS=%d", *maxProcs)}
	}
	vars := map[string]string{}
	for _, line := range strings.Split(simOut.String(), "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			env = append(env, kv)
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
	}
	conf, err := os.ReadFile("gateway.yaml")
	if err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	conf = bytes.Replace(conf, []byte("mode: api_key"), []byte("mode: none"), 1)
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfg, conf, 0o600); err != nil {
		return err
	}
	// The gateway's log lines go to /dev/null rather than through a pipe this
	// process would have to drain on the same two cores.
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devNull.Close()
	var spans atomic.Int64
	if *exporter == "otlp" {
		sink, stopSink, err := otlpSink(&spans)
		if err != nil {
			return err
		}
		defer stopSink()
		env = append(env, "OTEL_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT="+sink, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
	} else if *exporter != "none" {
		return fmt.Errorf("-telemetry: %q is not otlp or none", *exporter)
	}
	pprofAddr := map[string]string{}
	// The Redis store writes under a prefix of this run's own, removed at the
	// end: a run leaves about a million records behind otherwise.
	keyPrefix := fmt.Sprintf("idgw-loadbench-%d:", time.Now().UnixNano())
	if *redisURL != "" && (want["store"] || want["locks"]) {
		defer func() {
			rc, err := redisstore.Open(context.Background(), redisstore.RedisOptions{URL: *redisURL})
			if err != nil {
				fmt.Fprintln(os.Stderr, "loadbench: purge:", err)
				return
			}
			defer rc.Close()
			if n, err := redisstore.Purge(context.Background(), rc, keyPrefix); err != nil {
				fmt.Fprintln(os.Stderr, "loadbench: purge:", err)
			} else {
				fmt.Printf("removed the run's %d Redis keys (%s*)\n", n, keyPrefix)
			}
		}()
	}
	startGatewayWith := func(name, store, cfgPath string, extraEnv ...string) (string, func(), error) {
		port, err := freePort()
		if err != nil {
			return "", nil, err
		}
		args := []string{"serve", "--config", cfgPath, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}
		if *profDir != "" {
			pp, err := freePort()
			if err != nil {
				return "", nil, err
			}
			pprofAddr[name] = fmt.Sprintf("127.0.0.1:%d", pp)
			args = append(args, "--pprof", pprofAddr[name])
		}
		cmd := exec.Command(bin, args...)
		// Later entries win: extraEnv overrides the run's defaults.
		cmd.Env = append(append(append([]string{}, env...), "IDEMPOTENCY_STORE="+store, "REDIS_URL="+*redisURL, "REDIS_KEY_PREFIX="+keyPrefix,
			"REDIS_ALLOW_VOLATILE=true"), slices.Concat(procsEnv, extraEnv)...) // a benchmark's Redis need not persist
		cmd.Stdout, cmd.Stderr = devNull, devNull
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		procs["gateway-"+name] = cmd.Process.Pid
		adopt(cmd.Process)
		stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
		if err := waitHTTP(url + "/healthz"); err != nil {
			stop()
			return "", nil, err
		}
		return url, stop, nil
	}
	startGateway := func(store string) (string, func(), error) { return startGatewayWith(store, store, cfg) }
	gw, stopGW, err := startGateway("memory")
	if err != nil {
		return err
	}
	defer stopGW()
	// The measured single-target update goes to Commvault: one PUT per update
	// once the token is cached, so direct and passthrough are exactly the
	// vendor call the gateway makes.
	commvault := fmt.Sprintf("http://127.0.0.1:%d", base+builtin.PortOffset("commvault"))
	token, err := commvaultToken(commvault, vars)
	if err != nil {
		return err
	}
	putURL := commvault + "/V4/user/" + vars["COMMVAULT_DEMO_ID"]
	putBody := []byte(`{"fullName":"Load 1"}`)
	pt, ptProc, stopPT, err := passthrough(putURL, token, putBody, *ptClient, procsEnv)
	if err != nil {
		return err
	}
	defer stopPT()
	procs["passthrough"] = ptProc.Pid
	adopt(ptProc)
	var seq atomic.Int64
	// update targets the gateway at base.
	update := func(base, targets, key string) vegeta.Targeter {
		return func(t *vegeta.Target) error {
			n := seq.Add(1)
			t.Method, t.URL = "PATCH", base+"/v1/users/demo"
			name := n % 1000
			if key != "" && key != noKey {
				name = 0 // a replay must repeat the identical request
			}
			t.Body = []byte(fmt.Sprintf(`{"targets":[%s],"on_unsupported":"skip","user":{"display_name":"Load %d","given_name":"L"}}`, targets, name+1))
			t.Header = http.Header{"Content-Type": {"application/json"}}
			switch k := key; k {
			case noKey:
			case "":
				t.Header.Set("Idempotency-Key", fmt.Sprintf("lb-%d-%d", time.Now().UnixNano(), n))
			default:
				t.Header.Set("Idempotency-Key", k)
			}
			return nil
		}
	}
	ptTarget := func(t *vegeta.Target) error {
		t.Method, t.URL = "PATCH", pt+"/forward"
		t.Body = []byte(`{"user":{"display_name":"x"}}`)
		t.Header = http.Header{"Content-Type": {"application/json"}}
		return nil
	}
	direct := func(c int, d time.Duration) result {
		before := cpuTimes(procs)
		r := closedLoop(c, d, func(cl *http.Client) error {
			req, _ := http.NewRequest("PUT", putURL, bytes.NewReader(putBody))
			req.Header.Set("Authtoken", token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := cl.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
		r.cpu = perRequest(before, cpuTimes(procs), r.rps*d.Seconds())
		return r
	}

	fmt.Printf("loadbench: %d runs x %s, %d connections for throughput; gateway %s (span exporter: %s), simulators %s\n", *runs, *dur, *conns, gw, *exporter, simOut.first())
	if *exporter == "otlp" {
		defer func() { fmt.Printf("OTLP sink: %d export requests received from the gateways\n", spans.Load()) }()
	}
	// Warm up every path once.
	atk(update(gw, `"commvault"`, ""), 4, time.Second)
	atk(ptTarget, 4, time.Second)

	type row struct {
		name  string
		r     result
		ratio string // to this row's baseline, in the same run
	}
	var (
		rows        []row
		totalErrors int
	)
	// med summarises one system's runs: the median of each figure.
	med := func(name string, rs []result) result {
		sort.Slice(rs, func(i, j int) bool { return rs[i].rps < rs[j].rps })
		m := rs[len(rs)/2]
		sort.Slice(rs, func(i, j int) bool { return rs[i].p50 < rs[j].p50 })
		m.p50 = rs[len(rs)/2].p50
		sort.Slice(rs, func(i, j int) bool { return rs[i].p90 < rs[j].p90 })
		m.p90 = rs[len(rs)/2].p90
		sort.Slice(rs, func(i, j int) bool { return rs[i].p99 < rs[j].p99 })
		m.p99 = rs[len(rs)/2].p99
		m.errors = 0
		m.cpu = map[string]time.Duration{}
		for _, r := range rs {
			m.errors += r.errors
			for k, v := range r.cpu {
				m.cpu[k] += v / time.Duration(len(rs))
			}
		}
		totalErrors += m.errors
		rows = append(rows, row{name: name, r: m})
		fmt.Printf("  %-62s %9.0f req/s  p50 %8s  p90 %8s  p99 %8s  errors %d  %s\n", name, m.rps, m.p50.Round(time.Microsecond), m.p90.Round(time.Microsecond), m.p99.Round(time.Microsecond), m.errors, cpuString(m.cpu))
		return m
	}
	// vs records a row's ratio to its baseline.
	vs := func(name, ratio string) {
		for i := range rows {
			if rows[i].name == name {
				rows[i].ratio = ratio
			}
		}
	}
	// perRun keeps each system's runs, in order, for the ranges of the
	// ratios (run i of one system against run i of its baseline).
	perRun := map[string][]result{}
	// spread is the range over the runs of f(run of a, run of b).
	spread := func(a, b string, f func(x, y result) float64, format string) string {
		var vs []float64
		for i := range min(len(perRun[a]), len(perRun[b])) {
			vs = append(vs, f(perRun[a][i], perRun[b][i]))
		}
		if len(vs) == 0 {
			return ""
		}
		return fmt.Sprintf("; runs "+format+" to "+format, slices.Min(vs), slices.Max(vs))
	}
	// Alternate the measured systems inside each run so drift hits both.
	alternate := func(names []string, fs []func() result) []result {
		all := make([][]result, len(fs))
		for i := 0; i < *runs; i++ {
			for j, f := range fs {
				all[j] = append(all[j], f())
			}
		}
		for j := range fs {
			perRun[names[j]] = slices.Clone(all[j])
		}
		out := make([]result, len(fs))
		for j := range fs {
			out[j] = med(names[j], all[j])
		}
		return out
	}

	type check struct {
		name string
		ok   bool
		val  string
	}
	var checks []check
	// bounds say what this machine allows a target at the run's CPU costs,
	// from the CPU every process on it spent per request: the gateway shares
	// its CPUs with the simulators, this process and Redis.
	var bounds []string
	full := func(c int) func() result { return func() result { return atk(update(gw, `"commvault"`, ""), c, *dur) } }

	if want["throughput"] {
		fmt.Printf("throughput, single target (commvault: one PUT per update), %d connections:\n", *conns)
		if *warmup > 0 {
			attack(ptTarget, *conns, *warmup, *rate)
			attack(update(gw, `"commvault"`, ""), *conns, *warmup, *rate)
		}
		tp := alternate([]string{fmt.Sprintf("passthrough, %d conns", *conns), fmt.Sprintf("gateway full (telemetry, breaker, retries, memory idem.), %d conns", *conns)},
			[]func() result{func() result { return atk(ptTarget, *conns, *dur) }, full(*conns)})
		gwCPU, ptCPU := sumCPU(tp[1].cpu, "gateway-"), tp[0].cpu["passthrough"]
		cpuRatio := 0.0
		if ptCPU > 0 {
			cpuRatio = float64(gwCPU) / float64(ptCPU)
		}
		pt, gwName := fmt.Sprintf("passthrough, %d conns", *conns), fmt.Sprintf("gateway full (telemetry, breaker, retries, memory idem.), %d conns", *conns)
		checks = append(checks,
			check{"gateway >= 65% of passthrough throughput", tp[1].rps >= 0.65*tp[0].rps, fmt.Sprintf("%.2fx", tp[1].rps/tp[0].rps) +
				spread(gwName, pt, func(g, p result) float64 { return g.rps / p.rps }, "%.2fx")},
			check{"gateway CPU per request <= 2x passthrough's", ptCPU > 0 && cpuRatio <= 2, fmt.Sprintf("%.2fx (%dµs vs %dµs)", cpuRatio, gwCPU.Microseconds(), ptCPU.Microseconds()) +
				spread(gwName, pt, func(g, p result) float64 {
					return float64(sumCPU(g.cpu, "gateway-")) / float64(max(p.cpu["passthrough"], 1))
				}, "%.2fx")},
			check{"gateway p99 <= 1.5x passthrough's", float64(tp[1].p99) <= 1.5*float64(tp[0].p99), fmt.Sprintf("%.2fx", float64(tp[1].p99)/float64(tp[0].p99)) +
				spread(gwName, pt, func(g, p result) float64 { return float64(g.p99) / float64(p.p99) }, "%.2fx")})
		vs(fmt.Sprintf("passthrough, %d conns", *conns), "baseline")
		vs(fmt.Sprintf("gateway full (telemetry, breaker, retries, memory idem.), %d conns", *conns), fmt.Sprintf("rps %.2fx passthrough", tp[1].rps/tp[0].rps))
		if *profDir != "" {
			if err := profile(*profDir, "memory", pprofAddr["memory"], *dur, func() { atk(update(gw, `"commvault"`, ""), *conns, *dur+time.Second) }); err != nil {
				return err
			}
		}
	}
	if want["latency"] {
		fmt.Println("latency, 1 connection:")
		lat := alternate([]string{"direct (the same PUT at the simulator), 1 conn", "gateway, the same update (commvault), 1 conn", "passthrough, 1 conn"},
			[]func() result{func() result { return direct(1, *dur) }, full(1), func() result { return atk(ptTarget, 1, *dur) }})
		vs("direct (the same PUT at the simulator), 1 conn", "baseline")
		vs("passthrough, 1 conn", fmt.Sprintf("p50 +%s over direct", (lat[2].p50-lat[0].p50).Round(time.Microsecond)))
		vs("gateway, the same update (commvault), 1 conn", fmt.Sprintf("p50 +%s, p99 +%s over direct; p50 +%s over passthrough",
			(lat[1].p50-lat[0].p50).Round(time.Microsecond), (lat[1].p99-lat[0].p99).Round(time.Microsecond), (lat[1].p50-lat[2].p50).Round(time.Microsecond)))
		checks = append(checks, check{"added latency over passthrough at 1 conn, p50 <= 100µs", lat[1].p50-lat[2].p50 <= 100*time.Microsecond, (lat[1].p50 - lat[2].p50).Round(time.Microsecond).String() +
			spread("gateway, the same update (commvault), 1 conn", "passthrough, 1 conn", func(g, p result) float64 { return float64((g.p50 - p.p50).Microseconds()) }, "%.0fµs")})
		checks = append(checks,
			check{"added latency p50 <= 0.5 ms", lat[1].p50-lat[0].p50 <= 500*time.Microsecond, (lat[1].p50 - lat[0].p50).Round(time.Microsecond).String()},
			check{"added latency p99 <= 2 ms", lat[1].p99-lat[0].p99 <= 2*time.Millisecond, (lat[1].p99 - lat[0].p99).Round(time.Microsecond).String()})
		if *profDir != "" {
			if err := profile(*profDir, "memory-1conn", pprofAddr["memory"], *dur, func() { atk(update(gw, `"commvault"`, ""), 1, *dur+time.Second) }); err != nil {
				return err
			}
		}
	}
	// all names every vendor as a target: the fan-out.
	var vendors, quoted []string
	for _, v := range builtin.Vendors() {
		vendors = append(vendors, v.Type)
		quoted = append(quoted, `"`+v.Type+`"`)
	}
	all := strings.Join(quoted, ",")
	if want["fanout"] {
		fmt.Println("fan-out, 1 connection:")
		names := []string{}
		fs := []func() result{}
		for _, v := range vendors {
			names = append(names, "gateway single target "+v+", 1 conn")
			fs = append(fs, func() result { return atk(update(gw, `"`+v+`"`, ""), 1, *dur) })
		}
		names = append(names, "gateway fan-out to all four, 1 conn")
		fs = append(fs, func() result { return atk(update(gw, all, ""), 1, *dur) })
		rs := alternate(names, fs)
		slowest, slowestName := time.Duration(0), ""
		for i, r := range rs[:len(vendors)] {
			if r.p50 > slowest {
				slowest, slowestName = r.p50, names[i]
			}
		}
		vs(slowestName, "baseline (the slowest single target)")
		fan := rs[len(vendors)]
		// Per run: the fan-out against that run's slowest single target.
		var perRunRatios []float64
		for i := range *runs {
			var slow time.Duration
			for _, n := range names[:len(vendors)] {
				slow = max(slow, perRun[n][i].p50)
			}
			perRunRatios = append(perRunRatios, float64(perRun[names[len(vendors)]][i].p50)/float64(slow))
		}
		everyRun := slices.Max(perRunRatios) <= 1.3
		checks = append(checks, check{"fan-out p50 <= 1.3x slowest single-target p50, every run", float64(fan.p50) <= 1.3*float64(slowest) && everyRun,
			fmt.Sprintf("%.2fx; runs %.2fx to %.2fx", float64(fan.p50)/float64(slowest), slices.Min(perRunRatios), slices.Max(perRunRatios))})
		vs("gateway fan-out to all four, 1 conn", fmt.Sprintf("p50 %.2fx slowest single target", float64(fan.p50)/float64(slowest)))
		if b, ok := fanOutFloor(fan.cpu, slowest, runtime.NumCPU()); ok {
			bounds = append(bounds, b)
		}
		if *profDir != "" {
			if err := profile(*profDir, "fanout", pprofAddr["memory"], *dur, func() {
				atk(update(gw, all, ""), 1, *dur+time.Second)
			}); err != nil {
				return err
			}
		}
	}
	if want["replay"] {
		fmt.Printf("idempotent replay, %d connections:\n", *conns)
		atk(update(gw, `"commvault"`, "replay-key"), 1, 200*time.Millisecond)
		rs := alternate([]string{fmt.Sprintf("gateway full update (reference), %d conns", *conns), fmt.Sprintf("gateway replay (same key), %d conns", *conns)},
			[]func() result{full(*conns), func() result { return atk(update(gw, `"commvault"`, "replay-key"), *conns, *dur) }})
		checks = append(checks, check{"replay >= 2x full update throughput", rs[1].rps >= 2*rs[0].rps, fmt.Sprintf("%.2fx", rs[1].rps/rs[0].rps)})
		vs(fmt.Sprintf("gateway full update (reference), %d conns", *conns), "baseline")
		vs(fmt.Sprintf("gateway replay (same key), %d conns", *conns), fmt.Sprintf("rps %.2fx full update", rs[1].rps/rs[0].rps))
	}
	if want["costs"] {
		// What the features cost: the full gateway against itself without
		// one of them, each a separate process, alternated like the rest.
		quiet := filepath.Join(dir, "gateway-quiet.yaml")
		if err := os.WriteFile(quiet, bytes.Replace(conf, []byte("log_level: info"), []byte("log_level: warn"), 1), 0o600); err != nil {
			return err
		}
		gwNoExport, stop1, err := startGatewayWith("no-export", "memory", cfg, "OTEL_EXPORTER=none")
		if err != nil {
			return err
		}
		defer stop1()
		gwQuiet, stop2, err := startGatewayWith("no-log", "memory", quiet)
		if err != nil {
			return err
		}
		defer stop2()
		fmt.Printf("what the features cost, %d connections:\n", *conns)
		on := func(url, key string) func() result {
			return func() result { return atk(update(url, `"commvault"`, key), *conns, *dur) }
		}
		names := []string{
			fmt.Sprintf("gateway full (reference for the costs), %d conns", *conns),
			fmt.Sprintf("gateway without an idempotency key, %d conns", *conns),
			fmt.Sprintf("gateway with spans recorded, not exported, %d conns", *conns),
			fmt.Sprintf("gateway without the request log line, %d conns", *conns),
		}
		rs := alternate(names, []func() result{on(gw, ""), on(gw, noKey), on(gwNoExport, ""), on(gwQuiet, "")})
		vs(names[0], "baseline")
		for i := 1; i < len(rs); i++ {
			cpu0, cpu1 := sumCPU(rs[0].cpu, "gateway-"), sumCPU(rs[i].cpu, "gateway-")
			vs(names[i], fmt.Sprintf("rps %.2fx full; gateway CPU %+dµs per request", rs[i].rps/rs[0].rps, (cpu1-cpu0).Microseconds()))
		}
	}
	if want["locks"] {
		// The account lock's cost (issue 26) on Frontier, a read-modify-write
		// vendor (GET then PUT under the lock): the gateway with locks
		// against itself without, for a spread load (each update to a user of
		// its own) and a hot one (every update to the demo user, which the
		// lock serialises).
		unlocked := filepath.Join(dir, "gateway-unlocked.yaml")
		if err := os.WriteFile(unlocked, bytes.Replace(conf, []byte(`account_locks: "on"`), []byte(`account_locks: "off"`), 1), 0o600); err != nil {
			return err
		}
		gwOff, stopOff, err := startGatewayWith("unlocked", "memory", unlocked)
		if err != nil {
			return err
		}
		defer stopOff()
		frontierUpdate := func(url string, hot bool) func() result {
			return func() result {
				return atk(func(t *vegeta.Target) error {
					n := seq.Add(1)
					id := vars["FRONTIER_DEMO_ID"]
					if !hot {
						id = fmt.Sprintf("00000000-0000-4000-8000-%012d", n%lockUsers)
					}
					t.Method, t.URL = "PATCH", url+"/v1/users/demo"
					t.Body = []byte(fmt.Sprintf(`{"targets":["frontier"],"vendor_ids":{"frontier":%q},"user":{"display_name":"Load %d"}}`, id, n%1000))
					t.Header = http.Header{"Content-Type": {"application/json"}}
					return nil
				}, *conns, *dur)
			}
		}
		fmt.Printf("account locks (frontier: GET + PUT per update), %d connections:\n", *conns)
		names := []string{
			fmt.Sprintf("frontier spread, locks off, %d conns", *conns), fmt.Sprintf("frontier spread, locks on (memory), %d conns", *conns),
			fmt.Sprintf("frontier hot account, locks off, %d conns", *conns), fmt.Sprintf("frontier hot account, locks on (memory), %d conns", *conns),
		}
		fs := []func() result{frontierUpdate(gwOff, false), frontierUpdate(gw, false), frontierUpdate(gwOff, true), frontierUpdate(gw, true)}
		if *redisURL != "" {
			// The Redis lock, against the Redis gateway without locks (the
			// store's own cost is the store scenario's).
			redisUnlocked := filepath.Join(dir, "gateway-redis-unlocked.yaml")
			if err := os.WriteFile(redisUnlocked, bytes.Replace(conf, []byte(`account_locks: "on"`), []byte(`account_locks: "off"`), 1), 0o600); err != nil {
				return err
			}
			gwR, stopR, err := startGatewayWith("redis-locks", "redis", cfg)
			if err != nil {
				return err
			}
			defer stopR()
			gwROff, stopROff, err := startGatewayWith("redis-unlocked", "redis", redisUnlocked)
			if err != nil {
				return err
			}
			defer stopROff()
			names = append(names, fmt.Sprintf("frontier spread, redis store, locks off, %d conns", *conns), fmt.Sprintf("frontier spread, locks on (redis), %d conns", *conns),
				fmt.Sprintf("frontier hot account, locks on (redis), %d conns", *conns))
			fs = append(fs, frontierUpdate(gwROff, false), frontierUpdate(gwR, false), frontierUpdate(gwR, true))
		}
		rs := alternate(names, fs)
		checks = append(checks, check{"spread load with locks >= 95% of without", rs[1].rps >= 0.95*rs[0].rps, fmt.Sprintf("%.0f%%", 100*rs[1].rps/rs[0].rps)})
		vs(names[0], "baseline")
		vs(names[1], fmt.Sprintf("rps %.2fx locks off", rs[1].rps/rs[0].rps))
		vs(names[2], "baseline (updates undo each other)")
		vs(names[3], fmt.Sprintf("rps %.2fx locks off (serialised)", rs[3].rps/rs[2].rps))
		if len(rs) > 4 {
			checks = append(checks, check{"spread load with Redis locks >= 95% of without", rs[5].rps >= 0.95*rs[4].rps, fmt.Sprintf("%.0f%%", 100*rs[5].rps/rs[4].rps)})
			vs(names[4], "baseline")
			vs(names[5], fmt.Sprintf("rps %.2fx locks off", rs[5].rps/rs[4].rps))
			vs(names[6], fmt.Sprintf("rps %.2fx spread, locks off (serialised)", rs[6].rps/rs[4].rps))
		}
	}
	if want["store"] {
		if *redisURL == "" {
			fmt.Println("idempotency store: skipped (no -redis URL and no REDIS_URL)")
		} else {
			gwR, stopR, err := startGateway("redis")
			if err != nil {
				return err
			}
			defer stopR()
			// Redis's own CPU counts too when it runs on this machine.
			if out, err := exec.Command("pgrep", "-x", "-o", "redis-server").Output(); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
					procs["redis-server"] = pid
				}
			}
			fmt.Printf("idempotency store, %d connections:\n", *conns)
			rs := alternate([]string{fmt.Sprintf("gateway memory store, %d conns", *conns), fmt.Sprintf("gateway redis store, %d conns", *conns)}, []func() result{
				func() result { return atk(update(gw, `"commvault"`, ""), *conns, *dur) },
				func() result { return atk(update(gwR, `"commvault"`, ""), *conns, *dur) },
			})
			checks = append(checks, check{"redis store >= 90% of memory store throughput", rs[1].rps >= 0.9*rs[0].rps, fmt.Sprintf("%.2fx", rs[1].rps/rs[0].rps) +
				spread(fmt.Sprintf("gateway redis store, %d conns", *conns), fmt.Sprintf("gateway memory store, %d conns", *conns), func(r, m result) float64 { return r.rps / m.rps }, "%.2fx")})
			vs(fmt.Sprintf("gateway memory store, %d conns", *conns), "baseline")
			vs(fmt.Sprintf("gateway redis store, %d conns", *conns), fmt.Sprintf("rps %.2fx memory store", rs[1].rps/rs[0].rps))
			if b, ok := redisCeiling(rs[0].cpu, rs[1].cpu, runtime.NumCPU()); ok {
				bounds = append(bounds, b)
			}
			// What the store adds to a fan-out's latency: its claim, a save
			// per target applied before the last, and the finish, each a
			// round trip with Redis.
			fmt.Println("idempotency store, fan-out to all four, 1 connection:")
			fo := alternate([]string{"gateway memory store, fan-out to all four, 1 conn", "gateway redis store, fan-out to all four, 1 conn"}, []func() result{
				func() result { return atk(update(gw, all, ""), 1, *dur) },
				func() result { return atk(update(gwR, all, ""), 1, *dur) },
			})
			vs("gateway memory store, fan-out to all four, 1 conn", "baseline")
			vs("gateway redis store, fan-out to all four, 1 conn", fmt.Sprintf("p50 +%s over memory store", (fo[1].p50-fo[0].p50).Round(time.Microsecond)))
			if *profDir != "" {
				if err := profile(*profDir, "redis", pprofAddr["redis"], *dur, func() { atk(update(gwR, `"commvault"`, ""), *conns, *dur+time.Second) }); err != nil {
					return err
				}
				if err := profile(*profDir, "redis-fanout", pprofAddr["redis"], *dur, func() { atk(update(gwR, all, ""), 1, *dur+time.Second) }); err != nil {
					return err
				}
			}
		}
	}

	if want["soak"] {
		// A gateway of its own whose memory store holds 64 MiB: at half the
		// maximum rate it is full within the first minutes, so most of the
		// run shows the steady state (the default 256 MiB took 8 of 10
		// minutes to fill). Only the budget differs from the quick start.
		soakCfg := filepath.Join(dir, "gateway-soak.yaml")
		if err := os.WriteFile(soakCfg, bytes.Replace(conf, []byte("  lock_ttl: 60s\n"), []byte("  lock_ttl: 60s\n  memory_max_bytes: 67108864\n"), 1), 0o600); err != nil {
			return err
		}
		gwSoak, stopSoak, err := startGatewayWith("soak", "memory", soakCfg)
		if err != nil {
			return err
		}
		defer stopSoak()
		if err := soak(gwSoak, procs["gateway-soak"], *conns, *dur, update(gwSoak, `"commvault"`, ""),
			func(name string, ok bool, val string) { checks = append(checks, check{name, ok, val}) }); err != nil {
			return err
		}
	}

	if want["links"] {
		if *dbURL == "" {
			fmt.Println("identity links: skipped (no -database-url and no DATABASE_URL)")
		} else if err := linksScenario(*dbURL, *conns, *dur, startGatewayWith, cfg, vars, atk, alternate,
			func(name string, ok bool, val string) { checks = append(checks, check{name, ok, val}) }, vs); err != nil {
			return err
		}
	}

	fmt.Println("targets (ratios within this run):")
	for _, c := range checks {
		mark := "PASS"
		if !c.ok {
			mark = "MISS"
		}
		fmt.Printf("  [%s] %-58s %s\n", mark, c.name, c.val)
	}
	if len(bounds) > 0 {
		fmt.Println("bounds at this run's CPU costs (every process's CPU per request, spread over this machine's CPUs with none idle):")
		for _, b := range bounds {
			fmt.Println("  " + b)
		}
	}
	fmt.Println("\nmarkdown (medians):\n\n| scenario | rps | p50 | p90 | p99 | errors | vs baseline (same run) | CPU per request |\n|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %.0f | %s | %s | %s | %d | %s | %s |\n", r.name, r.r.rps, r.r.p50.Round(time.Microsecond), r.r.p90.Round(time.Microsecond), r.r.p99.Round(time.Microsecond), r.r.errors,
			r.ratio, strings.TrimPrefix(cpuString(r.r.cpu), "cpu/req: "))
	}
	if totalErrors > 0 {
		return fmt.Errorf("%d requests failed", totalErrors)
	}
	return nil
}

// soak measures the gateway's maximum rate for a few seconds, then sends
// half of it for d while sampling the gateway's resident set every d/40.
// A fresh key per request fills the memory idempotency store towards its
// budget, so RSS grows until the store is full: its first early eviction
// (gateway_idempotency_evictions_total > 0 in /metrics) says it is, and it
// stays at its budget from then on. Warm-up ends d/10 after that, since
// the garbage collector's heap target follows the live heap one cycle late
// and RSS follows the heap. After it, RSS must stay within 10% of its
// lowest sample.
func soak(gw string, pid, conns int, d time.Duration, tr vegeta.Targeter, addCheck func(string, bool, string)) error {
	peak := attack(tr, conns, 5*time.Second, 0)
	rate := int(peak.rps / 2)
	if rate < 1 {
		return fmt.Errorf("soak: the gateway at %s reached no rate (%d errors)", gw, peak.errors)
	}
	fmt.Printf("soak: maximum %.0f req/s; %d req/s for %s, RSS sampled every %s:\n", peak.rps, rate, d, d/40)
	done := make(chan result, 1)
	go func() { done <- attack(tr, conns, d, rate) }()
	var samples []int64
	full, warm := -1, -1 // the first samples with the store full, and after warm-up
	tick := time.NewTicker(d / 40)
	defer tick.Stop()
	var r result
wait:
	for {
		select {
		case r = <-done:
			break wait
		case <-tick.C:
			kb, err := rssKB(pid)
			if err != nil {
				return err
			}
			samples = append(samples, kb)
			if full < 0 && evictions(gw) > 0 {
				full = len(samples) - 1
			}
			if full >= 0 && warm < 0 && len(samples)-1 >= full+4 {
				warm = len(samples) - 1 // d/10 = four samples later
			}
		}
	}
	fmt.Printf("  %.0f req/s, p50 %s, p99 %s, errors %d\n  RSS (MiB):", r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors)
	for i, kb := range samples {
		switch i {
		case full:
			fmt.Print(" [full]") // the store is full from here on
		case warm:
			fmt.Print(" [warm]")
		}
		fmt.Printf(" %.0f", float64(kb)/1024)
	}
	fmt.Println()
	if warm < 0 || len(samples)-warm < 8 {
		addCheck("soak: RSS after warm-up within 10% of its lowest", false,
			fmt.Sprintf("the idempotency store was not full soon enough to judge (%d samples after warm-up); run longer", max(0, len(samples)-warm)))
		return nil
	}
	after := samples[warm:]
	lo, hi := slices.Min(after), slices.Max(after)
	growth := float64(hi-lo) / float64(lo)
	addCheck("soak: RSS after warm-up within 10% of its lowest", growth <= 0.10 && r.errors == 0,
		fmt.Sprintf("%.1f%% (%.0f-%.0f MiB over the last %s, after warm-up; %d errors)", 100*growth, float64(lo)/1024, float64(hi)/1024,
			time.Duration(len(after))*d/40, r.errors))
	return nil
}

// evictions reads gateway_idempotency_evictions_total from the gateway's
// /metrics (0 when it cannot).
func evictions(gw string) float64 {
	resp, err := http.Get(gw + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "gateway_idempotency_evictions_total "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return n
		}
	}
	return 0
}

// rssKB reads a process's resident set size from /proc.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("soak: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("soak: no VmRSS in /proc status")
}

// attack runs vegeta with conns workers for d, at rate per second or, with
// rate 0, as fast as they go.
func attack(tr vegeta.Targeter, conns int, d time.Duration, rate int) result {
	a := vegeta.NewAttacker(vegeta.Workers(uint64(conns)), vegeta.MaxWorkers(uint64(conns)), vegeta.Connections(conns),
		vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second))
	var m vegeta.Metrics
	for r := range a.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, d, "bench") {
		m.Add(r)
	}
	m.Close()
	errs := 0
	for code, n := range m.StatusCodes {
		if code != "200" {
			errs += n
		}
	}
	return result{rps: m.Throughput, p50: m.Latencies.P50, p90: m.Latencies.P90, p99: m.Latencies.P99, errors: errs}
}

// cpuTimes reads each process's user+system CPU time from /proc (Linux);
// processes it cannot read are left out.
func cpuTimes(procs map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command name; utime and stime are
		// the 14th and 15th fields, in clock ticks (100 per second on Linux).
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[name] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}

func perRequest(before, after map[string]time.Duration, requests float64) map[string]time.Duration {
	out := map[string]time.Duration{}
	if requests < 1 {
		return out
	}
	for name, a := range after {
		// A process that used no more than one clock tick (10 ms) over the
		// whole run took no part in it.
		if b, ok := before[name]; ok && a-b > 10*time.Millisecond {
			out[name] = time.Duration(float64(a-b) / requests)
		}
	}
	return out
}

// sumCPU adds the CPU shares of the processes whose name starts with prefix.
func sumCPU(cpu map[string]time.Duration, prefix string) time.Duration {
	var t time.Duration
	for n, d := range cpu {
		if strings.HasPrefix(n, prefix) {
			t += d
		}
	}
	return t
}

func cpuString(cpu map[string]time.Duration) string {
	if len(cpu) == 0 {
		return ""
	}
	names := make([]string, 0, len(cpu))
	for n := range cpu {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := []string{}
	for _, n := range names {
		if us := cpu[n].Microseconds(); us > 0 {
			parts = append(parts, fmt.Sprintf("%s %dµs", n, us))
		}
	}
	return "cpu/req: " + strings.Join(parts, ", ")
}

// profile records CPU and allocation profiles and an execution trace of the
// gateway at addr while load runs (outside the measured runs: profiling slows
// the process down). The CPU profile covers all but the last second of d and
// the one-second execution trace that last second: run together, the trace
// would land in the CPU profile (the runtime's tracer, and the span SDK's
// runtime/trace tasks, which it makes only while a trace is on) and inflate
// what telemetry seems to cost.
func profile(dir, name, addr string, d time.Duration, load func()) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cpuSecs := max(1, int(d.Seconds())-1)
	get := func(kind string, secs int, file string) error {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", addr, kind, secs))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("pprof %s: status %d", kind, resp.StatusCode)
		}
		f, err := os.Create(filepath.Join(dir, "gateway-"+name+"-"+file))
		if err != nil {
			return err
		}
		_, err = io.Copy(f, resp.Body)
		return errors.Join(err, f.Close())
	}
	var wg sync.WaitGroup
	var cpuErr, allocErr, traceErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		if cpuErr = get("profile", cpuSecs, "cpu.pprof"); cpuErr == nil {
			traceErr = get("trace", 1, "trace.out")
		}
	}()
	go func() {
		defer wg.Done()
		allocErr = get("allocs", cpuSecs, "allocs.pprof")
	}()
	load()
	wg.Wait()
	if err := errors.Join(cpuErr, allocErr, traceErr); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	fmt.Printf("  profiles of the gateway (%s) under %s of load written to %s\n", name, d, dir)
	return nil
}

// closedLoop runs fn from conns goroutines for d and measures each call.
func closedLoop(conns int, d time.Duration, fn func(*http.Client) error) result {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	cl := &http.Client{Transport: tr}
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	end := time.Now().Add(d)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				s := time.Now()
				err := fn(cl)
				l := time.Since(s)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lats = append(lats, l)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) == 0 {
		return result{errors: errs}
	}
	return result{rps: float64(len(lats)) / d.Seconds(), p50: lats[len(lats)/2], p90: lats[len(lats)*9/10], p99: lats[len(lats)*99/100], errors: errs}
}

// passthroughCmd is the hidden subcommand that serves the passthrough.
const passthroughCmd = "__passthrough"

// passthrough starts the floor as a process of its own: a Fiber server that
// forwards one fixed request (the Commvault PUT) with the same upstream
// transport settings, and nothing else. It returns its URL and its process.
// client is retryablehttp (a bare Fiber + go-retryablehttp hop, as issue 25
// defines the baseline) or nethttp (net/http's client alone).
func passthrough(target, token string, body []byte, client string, env []string) (string, *os.Process, func(), error) {
	if client != "retryablehttp" && client != "nethttp" {
		return "", nil, nil, fmt.Errorf("-passthrough: %q is neither retryablehttp nor nethttp", client)
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		return "", nil, nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(self, passthroughCmd, "-listen", addr, "-target", target, "-body", string(body), "-client", client)
	cmd.Env = append(append(os.Environ(), env...), "LOADBENCH_PASSTHROUGH_TOKEN="+token)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	url := "http://" + addr
	if err := waitHTTP(url + "/healthz"); err != nil {
		stop()
		return "", nil, nil, err
	}
	return url, cmd.Process, stop, nil
}

// servePassthrough is the passthrough process (passthroughCmd).
func servePassthrough(args []string) error {
	fs := flag.NewFlagSet(passthroughCmd, flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	target := fs.String("target", "", "the URL every request is forwarded to (PUT)")
	body := fs.String("body", "", "the body forwarded")
	client := fs.String("client", "retryablehttp", "retryablehttp or nethttp")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token := os.Getenv("LOADBENCH_PASSTHROUGH_TOKEN")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 512, 256
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	// The bare hop as someone would write it with go-retryablehttp: its
	// defaults (retries, backoff, the error handler), minus the debug line it
	// would log per request (the gateway logs one line too, but its own).
	rc := retryablehttp.NewClient()
	rc.HTTPClient, rc.Logger = cl, nil
	send := func(ctx context.Context) (*http.Response, error) {
		req, err := retryablehttp.NewRequestWithContext(ctx, "PUT", *target, []byte(*body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authtoken", token)
		req.Header.Set("Content-Type", "application/json")
		return rc.Do(req)
	}
	if *client == "nethttp" {
		send = func(ctx context.Context) (*http.Response, error) {
			req, err := http.NewRequestWithContext(ctx, "PUT", *target, strings.NewReader(*body))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authtoken", token)
			req.Header.Set("Content-Type", "application/json")
			return cl.Do(req)
		}
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendStatus(http.StatusNoContent) })
	app.Patch("/forward", func(c *fiber.Ctx) error {
		resp, err := send(context.Background())
		if err != nil {
			return c.SendStatus(502)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return c.Status(resp.StatusCode).Send(b)
	})
	return app.Listen(*listen)
}

// otlpSink is a minimal OTLP/HTTP trace receiver on loopback: it reads and
// drops each export and answers with an empty (valid) protobuf response, so
// the gateway pays the real cost of encoding and sending its spans.
func otlpSink(exports *atomic.Int64) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		exports.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// commvaultToken logs in once, as the gateway's adapter does.
func commvaultToken(base string, vars map[string]string) (string, error) {
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, vars["COMMVAULT_USERNAME"], base64.StdEncoding.EncodeToString([]byte(vars["COMMVAULT_PASSWORD"])))
	resp, err := http.Post(base+"/Login", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("commvault login failed: %v", err)
	}
	return out.Token, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s never came up", url)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
func (s *syncBuf) first() string {
	line, _, _ := strings.Cut(s.String(), "\n")
	return strings.TrimPrefix(line, "simulators: ")
}
