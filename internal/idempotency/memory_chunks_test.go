package idempotency

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// holdsPointer reports whether values of ty hold a pointer the garbage
// collector follows.
func holdsPointer(ty reflect.Type) bool {
	switch ty.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.String, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Struct:
		for i := range ty.NumField() {
			if holdsPointer(ty.Field(i).Type) {
				return true
			}
		}
	case reflect.Array:
		return holdsPointer(ty.Elem())
	}
	return false
}

// TestMemoryRecordsHoldNoPointer: the point of the chunks. A pointer in a
// map's key or value, or in a slot, is one more pointer per record the
// collector follows on every cycle.
func TestMemoryRecordsHoldNoPointer(t *testing.T) {
	for _, ty := range []reflect.Type{reflect.TypeFor[memKey](), reflect.TypeFor[memRecord](), reflect.TypeFor[memLock](),
		reflect.TypeFor[memSlot](), reflect.TypeFor[orderEntry]()} {
		if holdsPointer(ty) {
			t.Errorf("%v holds a pointer", ty)
		}
	}
}

// checkChunks checks the store's bookkeeping against its records: each
// chunk's live bytes, the total, and the accounted size.
func checkChunks(t *testing.T, m *MemoryStore) {
	t.Helper()
	perChunk := map[uint32]int64{}
	var live int64
	for _, r := range m.records {
		if c := m.chunks[r.chunk]; c.buf == nil || int(r.off+r.n) > len(c.buf) {
			t.Fatalf("a record points past chunk %d (%d bytes)", r.chunk, len(c.buf))
		}
		perChunk[r.chunk] += int64(r.n)
		live += int64(r.n)
	}
	bytes := int64(len(m.records)) * RecordOverhead
	for i, c := range m.chunks {
		if c.live != perChunk[uint32(i)] {
			t.Fatalf("chunk %d counts %d live bytes, its records hold %d", i, c.live, perChunk[uint32(i)])
		}
		if c.buf == nil && c.live != 0 {
			t.Fatalf("chunk %d dropped with %d live bytes", i, c.live)
		}
		if c.buf != nil && c.live == 0 && uint32(i) != m.young && uint32(i) != m.old {
			t.Fatalf("chunk %d holds nothing and is not being filled, but was kept", i)
		}
		bytes += int64(cap(c.buf)) + int64(cap(c.slots))*slotSize
	}
	if _, buf := held(m); live != m.live || bytes != m.bytes || buf != m.held {
		t.Fatalf("live %d, held %d, accounted %d; the records and chunks say %d, %d and %d", m.live, m.held, m.bytes, live, buf, bytes)
	}
}

func held(m *MemoryStore) (chunks int, buf int64) {
	for _, c := range m.chunks {
		if c.buf != nil {
			chunks++
			buf += int64(cap(c.buf))
		}
	}
	return chunks, buf
}

// peek reads key's record as a replay would.
func peek(t *testing.T, m *MemoryStore, key string) Record {
	t.Helper()
	c, err := m.Claim(context.Background(), key, ClaimArgs{LockTTL: time.Minute, Retention: time.Hour, Peek: true})
	if err != nil || !c.Found {
		t.Fatalf("key %s: found %v, %v", key, c.Found, err)
	}
	return c.Record
}

// TestMemoryChunksEmptyAndAreCleaned: claims are written to chunks that
// empty as their requests finish; records replaced out of order leave old
// chunks part dead until cleaning moves what they still hold; every record
// reads back as last written throughout.
func TestMemoryChunksEmptyAndAreCleaned(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	key := func(i int) string { return fmt.Sprintf("%064x", i) }
	body := func(i, v int) []byte {
		return []byte(fmt.Sprintf(`{"id":"u-%d","v":%d,"pad":%q}`, i, v, strings.Repeat("x", i%300)))
	}
	const n = 5000
	for i := range n {
		c, err := m.Claim(ctx, key(i), ClaimArgs{LockTTL: time.Minute, Retention: time.Hour, Initial: Record{Fingerprint: "fp", Started: 1}})
		if err != nil || c.Found {
			t.Fatalf("claim %d: %+v %v", i, c, err)
		}
		if err := m.Finish(ctx, key(i), c.Token, Record{Fingerprint: "fp", Done: true, Status: 200, Body: body(i, 0)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	checkChunks(t, m)
	// The claims' chunks emptied: what is held is the finished records and
	// the two chunks being filled.
	if _, buf := held(m); buf > m.live+int64(m.youngSize+2*m.oldSize) {
		t.Fatalf("%d chunk bytes held for %d live after claim and finish", buf, m.live)
	}
	// Rewrite every other key, oldest first, many times; then let three
	// keys in four of a new batch expire: each of its chunks is left a
	// quarter live, which only cleaning gets back.
	for round := 1; round <= 6; round++ {
		for i := 0; i < n; i += 2 {
			if err := m.Save(ctx, key(i), Record{Fingerprint: "fp", Done: true, Status: 200, Body: body(i, round)}, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		checkChunks(t, m)
	}
	start := time.Now()
	m.now = func() time.Time { return start }
	for i := n; i < 3*n; i++ {
		retention := time.Minute
		if i%4 == 0 {
			retention = time.Hour
		}
		if err := m.Save(ctx, key(i), Record{Fingerprint: "fp", Done: true, Status: 200, Body: body(i, 0)}, retention); err != nil {
			t.Fatal(err)
		}
	}
	m.now = func() time.Time { return start.Add(2 * time.Minute) }
	m.lastGC = time.Time{}
	m.gc(m.now())
	checkChunks(t, m)
	if _, buf := held(m); buf < 2*m.live {
		t.Fatalf("%d chunk bytes held for %d live: the expiry left too little to clean", buf, m.live)
	}
	for i := 3 * n; i < 4*n; i++ {
		if err := m.Save(ctx, key(i), Record{Fingerprint: "fp", Done: true, Status: 200, Body: body(i, 0)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	checkChunks(t, m)
	if _, buf := held(m); buf > m.live*3/2+int64(6*m.oldSize) {
		t.Fatalf("%d chunk bytes held for %d live after cleaning", buf, m.live)
	}
	for i := range 4 * n {
		v := 0
		if i < n && i%2 == 0 {
			v = 6
		}
		if i >= n && i < 3*n && i%4 != 0 {
			continue // expired
		}
		if r := peek(t, m, key(i)); string(r.Body) != string(body(i, v)) || !r.Done || r.Fingerprint != "fp" {
			t.Fatalf("key %d reads back as %+v", i, r)
		}
	}
	// Expiry drops the chunks with their records.
	m.now = func() time.Time { return start.Add(2 * time.Hour) }
	m.lastGC = time.Time{}
	m.gc(m.now())
	checkChunks(t, m)
	if chunks, _ := held(m); len(m.records) != 0 || chunks > 2 {
		t.Fatalf("after expiry: %d records, %d chunks held", len(m.records), chunks)
	}
}

// TestMemoryReadsWhileCleaning: a claim decodes the record it found after
// unlocking, while other requests' writes clean and drop chunks (run with
// -race).
func TestMemoryReadsWhileCleaning(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore(WithMaxBytes(1 << 20))
	key := func(i int) string { return fmt.Sprintf("%064x", i) }
	const n = 200
	for i := range n {
		if err := m.Save(ctx, key(i), Record{Fingerprint: "fp", Done: true, Status: 200, Body: []byte(key(i))}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for round := range 50 {
			for i := 0; i < n; i += 3 {
				if err := m.Save(ctx, key(i), Record{Fingerprint: "fp", Done: true, Status: 200 + round, Body: []byte(key(i))}, time.Hour); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	for range 20 {
		for i := range n {
			c, err := m.Claim(ctx, key(i), ClaimArgs{LockTTL: time.Minute, Retention: time.Hour, Peek: true})
			if err != nil || !c.Found || string(c.Record.Body) != key(i) {
				t.Fatalf("key %d: %+v %v", i, c, err)
			}
		}
	}
	wg.Wait()
	checkChunks(t, m)
}

// BenchmarkMemoryStoreGC: one collection with 100,000 finished one-target
// records held. With a slice per record the collector followed a pointer
// per record here on every cycle under load.
func BenchmarkMemoryStoreGC(b *testing.B) {
	ctx := context.Background()
	s := NewMemoryStore()
	body := []byte(`{"id":"u-1","results":{"commvault":{"status":"applied","vendor_id":"1001","calls":1,"attempts":1}},"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`)
	for i := range 100_000 {
		if err := s.Save(ctx, fmt.Sprintf("%064x", i), Record{Fingerprint: "fp", Done: true, Status: 200, Body: body}, 24*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(s)
}
