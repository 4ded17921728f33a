package main

// Issue 26: concurrent updates to one vendor account never undo each other.
// Every read-modify-write vendor (Volterra settings, Akana settings and user
// object, Frontier user) is driven through real gateways and the simulators,
// which keep the vendors' replace semantics: a PUT writes back the whole
// object, so a writer that read before another's write would put the old
// values back.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/identity-gateway/identity-gateway/adapters/akana/akanasim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/adapters/volterra/volterrasim"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/idempotency/redisstore"
)

// simWrite is one PUT a simulator received.
type simWrite struct {
	path string
	body map[string]any
}

// rmwVendor is one read-modify-write object of one vendor: how to change
// one of its fields, where the whole object is PUT, and what it holds.
type rmwVendor struct {
	name, target string
	// update is the user member of the i-th single-field update.
	update func(i int) string
	// putPath is the path the whole object is PUT to.
	putPath string
	// stored reads the object from the simulator, keyed like the PUT body,
	// limited to the fields the updates change.
	stored func(sims *simSet) map[string]any
	// writes lists the PUTs of the object, in the order the simulator
	// applied them.
	writes func(sims *simSet) []simWrite
}

func rmwVendors() []rmwVendor {
	frontier := func(s *simSet) *frontiersim.Sim { return s.handlers["frontier"].(*frontiersim.Sim) }
	volterra := func(s *simSet) *volterrasim.Sim { return s.handlers["volterra"].(*volterrasim.Sim) }
	akana := func(s *simSet) *akanasim.Sim { return s.handlers["akana"].(*akanasim.Sim) }
	puts := func(path string, reqs func() [][3]string) []simWrite {
		var out []simWrite
		for _, r := range reqs() {
			if r[0] != http.MethodPut || r[1] != path {
				continue
			}
			var body map[string]any
			_ = json.Unmarshal([]byte(r[2]), &body)
			out = append(out, simWrite{path: r[1], body: body})
		}
		return out
	}
	frontierPath := "/v1beta1/users/" + frontiersim.DemoUserID
	akanaUserPath := "/api/users/" + akanasim.DemoUserID
	return []rmwVendor{
		{name: "frontier user", target: "frontier", putPath: frontierPath,
			update: func(i int) string {
				if i%2 == 0 {
					return fmt.Sprintf(`{"display_name":"title %d"}`, i)
				}
				return fmt.Sprintf(`{"metadata":{"description":"meta %d"}}`, i)
			},
			stored: func(s *simSet) map[string]any {
				u, _ := frontier(s).User(frontiersim.DemoUserID)
				return jsonMap(map[string]any{"title": u.Title, "metadata": u.Metadata})
			},
			writes: func(s *simSet) []simWrite {
				return puts(frontierPath, func() (out [][3]string) {
					for _, r := range frontier(s).Requests() {
						out = append(out, [3]string{r.Method, r.Path, string(r.Body)})
					}
					return out
				})
			}},
		{name: "volterra settings", target: "volterra", putPath: "/api/web/namespaces/system/user/settings",
			update: func(i int) string {
				if i%2 == 0 {
					return fmt.Sprintf(`{"given_name":"given %d"}`, i)
				}
				return fmt.Sprintf(`{"family_name":"family %d"}`, i)
			},
			stored: func(s *simSet) map[string]any {
				u, _ := volterra(s).User(volterrasim.DemoUser)
				return jsonMap(map[string]any{"first_name": u.FirstName, "last_name": u.LastName})
			},
			writes: func(s *simSet) []simWrite {
				return puts("/api/web/namespaces/system/user/settings", func() (out [][3]string) {
					for _, r := range volterra(s).Requests() {
						out = append(out, [3]string{r.Method, r.Path, string(r.Body)})
					}
					return out
				})
			}},
		{name: "akana user", target: "akana", putPath: akanaUserPath,
			update: func(i int) string {
				if i%2 == 0 {
					return fmt.Sprintf(`{"given_name":"given %d"}`, i)
				}
				return fmt.Sprintf(`{"family_name":"family %d"}`, i)
			},
			stored: func(s *simSet) map[string]any {
				u, _ := akana(s).User(akanasim.DemoUserID)
				return jsonMap(map[string]any{"FirstName": u.FirstName, "LastName": u.LastName})
			},
			writes: func(s *simSet) []simWrite {
				return puts(akanaUserPath, func() (out [][3]string) {
					for _, r := range akana(s).Requests() {
						out = append(out, [3]string{r.Method, r.Path, string(r.Body)})
					}
					return out
				})
			}},
		{name: "akana settings", target: "akana", putPath: akanaUserPath + "/settings",
			update: func(i int) string {
				if i%2 == 0 {
					return fmt.Sprintf(`{"email":"jane%d@acmepaymentscorp.example"}`, i)
				}
				if i%4 == 1 {
					return `{"notifications":["ticket.change"]}`
				}
				return `{"notifications":["app.alert"]}`
			},
			stored: func(s *simSet) map[string]any {
				u, _ := akana(s).User(akanasim.DemoUserID)
				return jsonMap(map[string]any{"Email": u.Email, "OptedNotification": u.Opted})
			},
			writes: func(s *simSet) []simWrite {
				return puts(akanaUserPath+"/settings", func() (out [][3]string) {
					for _, r := range akana(s).Requests() {
						out = append(out, [3]string{r.Method, r.Path, string(r.Body)})
					}
					return out
				})
			}},
	}
}

// jsonMap normalises a value through JSON, so it compares with a decoded
// PUT body.
func jsonMap(v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// lostUpdates checks a serial history of whole-object PUTs made by
// single-field updates: each PUT may differ from the one before in at most
// one of the tracked fields (its writer's); a PUT that also changes another
// put an older value back, undoing an update. It returns how many fields
// were undone that way, and whether the stored object is the last PUT's.
func lostUpdates(writes []simWrite, stored map[string]any) (lost int, finalOK bool) {
	for i := 1; i < len(writes); i++ {
		changed := 0
		for k := range stored {
			if !reflect.DeepEqual(writes[i].body[k], writes[i-1].body[k]) {
				changed++
			}
		}
		if changed > 1 {
			lost += changed - 1
		}
	}
	if len(writes) == 0 {
		return lost, false
	}
	last := writes[len(writes)-1].body
	for k, v := range stored {
		if !reflect.DeepEqual(last[k], v) {
			return lost, false
		}
	}
	return lost, true
}

// testRedis is a Redis for the gateways of one test: REDIS_URL with a key
// prefix of the test's own, else a miniredis.
func testRedis(t *testing.T) (url, prefix string, m *miniredis.Miniredis) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix = "locks-test-" + hex.EncodeToString(b) + ":"
	if u := os.Getenv("REDIS_URL"); u != "" {
		purgeAtEnd(t, u, prefix)
		return u, prefix, nil
	}
	m = miniredis.RunT(t)
	return "redis://" + m.Addr(), prefix, m
}

// replicas starts n gateways on the same simulators: with redis, all on one
// Redis (idempotency and account locks shared); else each with its memory
// store (only meaningful for n = 1).
func replicas(t *testing.T, n int, redis bool, mod func(*config.Config)) ([]string, *simSet) {
	t.Helper()
	sims, cfg := devSims(t)
	if redis {
		url, prefix, _ := testRedis(t)
		cfg.Idempotency.Store, cfg.Redis.URL, cfg.Redis.KeyPrefix = "redis", url, prefix
		cfg.Redis.AllowVolatile = true // the test Redis (miniredis or CI's) keeps no append-only file
	}
	if mod != nil {
		mod(cfg)
	}
	var bases []string
	for i := 0; i < n; i++ {
		c := *cfg
		base, _ := startGateway(t, &c, buildOptions{LogOutput: io.Discard, AuthNone: true})
		bases = append(bases, base)
	}
	return bases, sims
}

// patch sends one update of the demo user to target and returns the status
// and the body.
func patch(base, target, user string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPatch, base+"/v1/users/demo",
		strings.NewReader(`{"targets":["`+target+`"],"user":`+user+`}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// Two updates to one account, touching different fields, sent at once; the
// simulator delays every PUT so both reads come before either write lands
// (without the lock both read the old object, and the second write puts
// the first one's field back). After both return applied, the vendor holds
// both changes: on one replica (memory store) and on two replicas sharing
// Redis.
func TestConcurrentWritersKeepBothChanges(t *testing.T) {
	for _, setup := range []struct {
		name     string
		replicas int
		redis    bool
	}{{"one replica", 1, false}, {"two replicas on redis", 2, true}} {
		for _, v := range rmwVendors() {
			t.Run(setup.name+"/"+v.name, func(t *testing.T) {
				bases, sims := replicas(t, setup.replicas, setup.redis, nil)
				fault(t, sims, v.target, `{"delay":"150ms","methods":["PUT"]}`)
				var wg sync.WaitGroup
				results := make([]string, 2)
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						status, body, err := patch(bases[i%len(bases)], v.target, v.update(i))
						if err != nil || status != http.StatusOK {
							results[i] = fmt.Sprintf("update %d: %d %s %v", i, status, body, err)
						}
					}()
				}
				wg.Wait()
				for _, r := range results {
					if r != "" {
						t.Fatal(r)
					}
				}
				stored := v.stored(sims)
				writes := v.writes(sims)
				if len(writes) != 2 {
					t.Fatalf("%d PUTs of the object, want 2", len(writes))
				}
				// Each update's own field holds its value.
				for i := range 2 {
					var want map[string]any
					_ = json.Unmarshal([]byte(v.update(i)), &want)
					if !holds(v, want, stored) {
						t.Errorf("update %d (%s) was undone: the vendor holds %v", i, v.update(i), stored)
					}
				}
			})
		}
	}
}

// holds reports whether stored carries the canonical single-field update u.
func holds(v rmwVendor, u map[string]any, stored map[string]any) bool {
	for f, val := range u {
		var got any
		switch f {
		case "display_name":
			got = stored["title"]
		case "metadata":
			got = stored["metadata"]
		case "given_name":
			got = firstOf(stored, "first_name", "FirstName")
		case "family_name":
			got = firstOf(stored, "last_name", "LastName")
		case "email":
			got = stored["Email"]
		case "notifications":
			codes, _ := stored["OptedNotification"].([]any)
			names := []any{}
			for _, c := range codes {
				names = append(names, strings.TrimPrefix(c.(string), "com.soa.notification.type."))
			}
			got = names
		}
		if !reflect.DeepEqual(got, val) {
			return false
		}
	}
	return true
}

func firstOf(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

// concurrentUpdates sends n single-field updates to one account at once,
// spread over bases, and checks the vendor's write history: every update
// applied, none undone, every field as its last writer left it.
func concurrentUpdates(t *testing.T, v rmwVendor, bases []string, sims *simSet, n int) {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		failures []string
	)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body, err := patch(bases[i%len(bases)], v.target, v.update(i))
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if (err != nil || status != http.StatusOK) && len(failures) < 5 {
				failures = append(failures, fmt.Sprintf("update %d: %d %s %v", i, status, body, err))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	writes := v.writes(sims)
	lost, finalOK := lostUpdates(writes, v.stored(sims))
	t.Logf("%s: %d updates over %d replica(s) in %s: statuses %v, %d PUTs, %d lost", v.name, n, len(bases), took.Round(time.Millisecond), statuses, len(writes), lost)
	if statuses[http.StatusOK] != n {
		t.Errorf("statuses %v, want %d applied; first failures: %v", statuses, n, failures)
	}
	if len(writes) != n {
		t.Errorf("%d PUTs of the object, want %d", len(writes), n)
	}
	if lost != 0 {
		t.Errorf("%d updates undone by a later write", lost)
	}
	if !finalOK {
		t.Errorf("the vendor holds %v, not what the last write left", v.stored(sims))
	}
	// Every update's value was written by its own PUT (the email and
	// the notification sets repeat, so only unique values are counted).
	seen := map[string]bool{}
	for _, w := range writes {
		b, _ := json.Marshal(w.body)
		seen[string(b)] = true
	}
	if len(seen) < n/2 {
		t.Errorf("only %d distinct objects written for %d updates", len(seen), n)
	}
}

// A hundred concurrent single-field updates to one account, on one replica:
// every one applied, none undone, every field as its last writer left it.
func TestHundredConcurrentUpdatesOneAccount(t *testing.T) {
	for _, v := range rmwVendors() {
		t.Run(v.name, func(t *testing.T) {
			bases, sims := replicas(t, 1, false, nil)
			concurrentUpdates(t, v, bases, sims, 100)
		})
	}
}

// The acceptance run of issue 26: 1,000 concurrent updates to one account,
// spread over two gateways sharing one Redis, lose nothing.
func TestThousandUpdatesAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 updates through two gateways: not in -short")
	}
	for _, v := range rmwVendors() {
		if !slices.Contains([]string{"frontier user", "volterra settings"}, v.name) {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			bases, sims := replicas(t, 2, true, func(c *config.Config) {
				// A thousand writers queue on one account: let them all wait.
				c.Idempotency.AccountLockWait = config.Duration(50 * time.Second)
			})
			concurrentUpdates(t, v, bases, sims, 1000)
		})
	}
}

// A writer that cannot get the account within account_lock_wait gets 409
// account_busy with Retry-After, and nothing is written for it; the other
// update applies.
func TestBusyAccountAnswers409(t *testing.T) {
	bases, sims := replicas(t, 1, false, func(c *config.Config) {
		c.Idempotency.AccountLockWait = config.Duration(100 * time.Millisecond)
	})
	fault(t, sims, "frontier", `{"delay":"1s","methods":["PUT"]}`)
	type answer struct {
		status int
		retry  string
		body   string
	}
	answers := make(chan answer, 2)
	for i := range 2 {
		go func() {
			req, _ := http.NewRequest(http.MethodPatch, bases[0]+"/v1/users/demo",
				strings.NewReader(`{"targets":["frontier"],"user":{"display_name":"busy `+fmt.Sprint(i)+`"}}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{body: err.Error()}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answers <- answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
		}()
	}
	got := map[int]answer{}
	for range 2 {
		a := <-answers
		got[a.status] = a
	}
	busy, ok := got[http.StatusConflict]
	if !ok || got[http.StatusOK].status != http.StatusOK {
		t.Fatalf("want one 200 and one 409: %+v", got)
	}
	if busy.retry != "1" || !strings.Contains(busy.body, `"code":"account_busy"`) {
		t.Errorf("409 without Retry-After 1 or account_busy: %+v", busy)
	}
	if n := len(rmwVendors()[0].writes(sims)); n != 1 {
		t.Errorf("%d PUTs, want 1 (the busy update writes nothing)", n)
	}
}

// purgeAtEnd removes every key under prefix from the Redis at url when the
// test ends, so repeated runs leave nothing in a shared Redis. It uses a
// context of its own: t.Context() is cancelled before cleanups run.
func purgeAtEnd(t *testing.T, url, prefix string) {
	t.Cleanup(func() {
		rc, err := redisstore.Open(context.Background(), redisstore.RedisOptions{URL: url})
		if err != nil {
			t.Errorf("purge: %v", err)
			return
		}
		defer rc.Close()
		if _, err := redisstore.Purge(context.Background(), rc, prefix); err != nil {
			t.Errorf("purge: %v", err)
		}
	})
}
