package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"
)

// heapInUse is the live heap after two collections: the first moves
// sync.Pool contents (fasthttp's requests, responses and buffers among
// them) to the pools' victim caches, the second frees them, so pooled
// objects do not count as the run's memory.
func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestMigrateMemoryIsFlat migrates 500 and then 5,000 users (a dry run:
// reads and plans, so no store grows with the users) from a streamed
// users file and measures the live heap the moment the last user finishes,
// while the run is still alive, against the heap before it started. The
// growth must not scale with the users: the report streams to its writer,
// the users file is read line by line, the summary is counters. (Holding
// every report line, as the first version did, grows it by megabytes.)
func TestMigrateMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("migrates 5,500 users")
	}
	growth := func(n int) int64 {
		r := newMigrateRig(t, n)
		users := filepath.Join(t.TempDir(), "users.jsonl")
		if err := writeSeededUsers(users, n); err != nil {
			t.Fatal(err)
		}
		m := r.migration(t, fmt.Sprint("memory-", n))
		m.dry, m.concurrency = true, 8
		var at int64
		m.onDone = func(done int) {
			if done != n {
				return
			}
			// The simulators' request logs grow with the calls (bounded
			// at simlog.Limit); they are not the migration's memory.
			for name, url := range r.sims.addrs {
				resp, err := http.Post(url+"/_sim/reset", "application/json", nil)
				if err != nil || resp.StatusCode >= 300 {
					t.Errorf("%s reset: %v %v", name, resp, err)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
			at = heapInUse()
		}
		before := heapInUse()
		sum, err := m.run(context.Background(), fileSource(users), n, io.Discard)
		if err != nil || sum.users != n || sum.failed() {
			t.Fatalf("%d users, %d failed: %v", sum.users, sum.failedUsers, err)
		}
		t.Logf("%d users: live heap %+d KiB over the run", n, (at-before)>>10)
		return at - before
	}
	small, large := growth(500), growth(5_000)
	// Ten times the users: the growth may differ by noise (connection
	// pools, caches warmed to their bounds), not by a per-user amount.
	// A run whose heap shrank (what the previous one left was freed during
	// it) is a growth of zero, not a lower bar for the other.
	const tolerance = 1 << 20
	if large-max(small, 0) > tolerance {
		t.Fatalf("live heap grew %d KiB with 500 users and %d KiB with 5,000: memory scales with the users", small>>10, large>>10)
	}
}
