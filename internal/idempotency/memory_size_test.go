package idempotency_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// TestMemoryRecordSize: a finished four-target record costs the memory store
// at most 2.6 KB of live heap (it was 5.0 KB: the per-target results were
// kept beside the body that repeats them, and the body was held as base64),
// and the accounting (Bytes) is within 10% of it.
func TestMemoryRecordSize(t *testing.T) {
	ctx := context.Background()
	s := idempotency.NewMemoryStore()
	g := idempotency.NewGuard(s, idempotency.Options{})
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	const n = 20000
	for i := 0; i < n; i++ {
		r := fourTargetRecord(i)
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
	t.Logf("live heap per record %d bytes, accounted %d (body %d bytes)", per, acc, len(fourTargetRecord(1).Body))
	if per > 2600 {
		t.Errorf("%d bytes of live heap per record, want at most 2600", per)
	}
	if acc < per*9/10 || acc > per*11/10 {
		t.Errorf("accounted %d bytes per record, live heap %d: more than 10%% apart", acc, per)
	}
}
