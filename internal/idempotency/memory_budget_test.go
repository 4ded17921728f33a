package idempotency_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// TestMemoryStoreBudget loads 100,000 four-target records into a store whose
// byte budget is a third of their natural size, and checks the live heap the
// store holds afterwards is the budget within 20%: the per-record accounting
// is honest, so memory_max_bytes is what an operator sizes the process by.
func TestMemoryStoreBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100,000 records")
	}
	const (
		n      = 100_000
		budget = 64 << 20
	)
	ctx := context.Background()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	s := idempotency.NewMemoryStore(idempotency.WithMaxBytes(budget))
	g := idempotency.NewGuard(s, idempotency.Options{})
	tmpl := fourTargetRecord(0)
	for i := 0; i < n; i++ {
		tk, err := g.Begin(ctx, "c", "key-"+strconv.Itoa(i), tmpl.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.Finish(ctx, 200, tmpl.Body, 0, tmpl.Targets); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	held := int64(ms.HeapAlloc) - int64(before)
	runtime.KeepAlive(g)
	kept := n - int(s.Evicted())
	t.Logf("budget %d, accounted %d, live heap %d: %d records kept, %d heap bytes each", budget, s.Bytes(), held, kept, held/int64(kept))
	if s.Evicted() == 0 {
		t.Fatal("nothing evicted: the budget is not below the natural size")
	}
	if lo, hi := int64(budget)*8/10, int64(budget)*12/10; held < lo || held > hi {
		t.Fatalf("live heap %d, want the %d budget within 20%% (%d..%d)", held, budget, lo, hi)
	}
}
