package idempotency_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// TestMemoryRecordSize: a finished record costs the memory store at most
// 1 KB of live heap per target (issue 25); a four-target record was 5.0 KB
// when the per-target results were kept beside the body that repeats them
// and the body was held as base64. The accounting (Bytes) is within 10% of
// the live heap.
func TestMemoryRecordSize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		targets []string
	}{
		{"four targets", []string{"akana", "commvault", "frontier", "volterra"}},
		{"one target (commvault, the load benchmark's update)", []string{"commvault"}},
		{"one target (frontier)", []string{"frontier"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := idempotency.NewMemoryStore()
			g := idempotency.NewGuard(s, idempotency.Options{})
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			before := ms.HeapAlloc
			const n = 20000
			for i := 0; i < n; i++ {
				r := targetRecord(i, tc.targets...)
				tk, err := g.Begin(ctx, "c", "key-"+strconv.Itoa(i), r.Fingerprint)
				if err != nil {
					t.Fatal(err)
				}
				if err := tk.Finish(ctx, 200, r.Body, 0, r.Targets); err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&ms)
			per := (int64(ms.HeapAlloc) - int64(before)) / n
			runtime.KeepAlive(g)
			acc := s.Bytes() / n
			t.Logf("live heap per record %d bytes (%d per target), accounted %d (body %d bytes)", per, per/int64(len(tc.targets)), acc, len(targetRecord(1, tc.targets...).Body))
			if limit := int64(1024 * len(tc.targets)); per > limit {
				t.Errorf("%d bytes of live heap per record, want at most %d (1 KB per target)", per, limit)
			}
			if acc < per*9/10 || acc > per*11/10 {
				t.Errorf("accounted %d bytes per record, live heap %d: more than 10%% apart", acc, per)
			}
		})
	}
}
