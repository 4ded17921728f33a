package audit

import (
	"context"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMemoryEntryHoldsNoPointer: the point of memEntry's layout. A pointer
// in it makes every kept record one more pointer the collector follows.
func TestMemoryEntryHoldsNoPointer(t *testing.T) {
	var walk func(reflect.Type) bool
	walk = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.String, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return true
		case reflect.Struct:
			for i := range ty.NumField() {
				if walk(ty.Field(i).Type) {
					return true
				}
			}
		case reflect.Array:
			return walk(ty.Elem())
		}
		return false
	}
	if walk(reflect.TypeFor[memEntry]()) {
		t.Fatal("memEntry holds a pointer")
	}
}

// TestMemoryStoreChunks: a bounded store going round its ring many times,
// with records larger than a chunk among them, holds only the chunks its
// kept records are in, and reads every kept record back as it was given.
func TestMemoryStoreChunks(t *testing.T) {
	ctx := context.Background()
	const max = 300
	s := NewBoundedMemoryStore(max)
	big := strings.Repeat("x", memChunkSize)
	rec := func(i int) Record {
		r := Record{Time: time.Unix(int64(i), 0).UTC(), Action: ActionUserUpdate, User: "user-" + strconv.Itoa(i), Client: "client-" + strconv.Itoa(i%7),
			Status: "applied", Detail: map[string]string{"i": strconv.Itoa(i)}}
		if i%97 == 0 {
			r.Detail["big"] = big
		}
		return r
	}
	const n = 20_000
	for i := range n {
		r := rec(i)
		if err := s.Append(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	held, kept := 0, 0
	for _, c := range s.chunks {
		held += cap(c.buf)
	}
	in := map[uint32]int{}
	s.each(func(e *memEntry) {
		kept += int(e.user + e.client + e.raw)
		in[e.chunk]++
	})
	for i, c := range s.chunks {
		if c.live != in[uint32(i)] {
			t.Fatalf("chunk %d counts %d entries, holds %d", i, c.live, in[uint32(i)])
		}
		if c.buf == nil && c.live != 0 {
			t.Fatalf("chunk %d was dropped with %d entries", i, c.live)
		}
	}
	// At most the partly filled chunks at the ends, and a chunk's tail left
	// when a record did not fit, besides the kept bytes.
	if limit := kept + 3*memChunkSize + len(big)*(max/97+2); held > limit {
		t.Fatalf("%d chunk bytes held for %d bytes kept (limit %d); chunk table %d", held, kept, limit, len(s.chunks))
	}
	if len(s.chunks) > 64 {
		t.Fatalf("chunk table of %d after %d appends", len(s.chunks), n)
	}
	var got []Record
	q := Query{Limit: 100}
	for {
		p, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Records...)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if len(got) != max {
		t.Fatalf("read back %d records, want %d", len(got), max)
	}
	for k, r := range got {
		i := n - 1 - k
		want := rec(i)
		if r.ID != int64(i+1) || r.User != want.User || r.Client != want.Client || !r.Time.Equal(want.Time) || r.Detail["i"] != want.Detail["i"] || r.Detail["big"] != want.Detail["big"] {
			t.Fatalf("record %d = id %d user %q client %q time %v", k, r.ID, r.User, r.Client, r.Time)
		}
	}
	// A prune releases the chunks of what it removes.
	if pruned, err := s.Prune(ctx, time.Unix(n, 0)); err != nil || pruned != max {
		t.Fatalf("pruned %d: %v", pruned, err)
	}
	for i, c := range s.chunks {
		if c.live != 0 || (uint32(i) != s.cur && c.buf != nil) {
			t.Fatalf("after pruning everything chunk %d holds %d entries, %d bytes", i, c.live, cap(c.buf))
		}
	}
}

// TestMemoryQueryWhileAppending: a query reads its matches' bytes after
// unlocking, while appends fill chunks and drop old ones (run with -race).
func TestMemoryQueryWhileAppending(t *testing.T) {
	ctx := context.Background()
	s := NewBoundedMemoryStore(50)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 5_000 {
			r := Record{Action: ActionUserUpdate, User: "u", Client: "c", Detail: map[string]string{"n": strconv.Itoa(i)}}
			if err := s.Append(ctx, &r); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 200 {
		p, err := s.Query(ctx, Query{User: "u", Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			if r.Client != "c" || r.Detail["n"] != strconv.FormatInt(r.ID-1, 10) {
				t.Fatalf("record %d read back as %+v", r.ID, r)
			}
		}
	}
	wg.Wait()
}

// BenchmarkMemoryStoreGC: one collection with the gateway's memory sink
// full (100,000 records). With a slice and two strings per record the
// collector followed 300,000 pointers here on every cycle under load.
func BenchmarkMemoryStoreGC(b *testing.B) {
	ctx := context.Background()
	s := NewBoundedMemoryStore(100_000)
	for i := range 100_000 {
		r := Record{Time: time.Now(), Action: ActionUserUpdate, User: "user" + strconv.Itoa(i), Client: "default", AuthMethod: "api_key",
			Fields: []string{"email"}, Values: map[string]string{"email": "sha256:" + strings.Repeat("ab", 32)}, Status: "applied", HTTPStatus: 200,
			Targets:        map[string]TargetOutcome{"commvault": {VendorID: strconv.Itoa(1000 + i), Status: "applied"}},
			IdempotencyKey: "key-" + strconv.Itoa(i), TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
		_ = s.Append(ctx, &r)
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(s)
}
