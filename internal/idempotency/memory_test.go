package idempotency_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
	canonicaldecode "github.com/identity-gateway/identity-gateway/canonical/decode"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/idempotency/storetest"
)

// TestMemoryStore runs the contract on the store's own clock, which the
// suite moves forward: expiry cases wait for nothing. The clock is real
// time plus the suite's advances, because the guard compares deadlines
// with real time.
func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) (idempotency.Store, func(time.Duration)) {
		var offset atomic.Int64
		s := idempotency.NewMemoryStore(idempotency.WithClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
		return s, func(d time.Duration) { offset.Add(int64(d)) }
	})
}

type brokenStore struct{}

var errDown = errors.New("down")

func (brokenStore) Claim(context.Context, string, idempotency.ClaimArgs) (idempotency.Claim, error) {
	return idempotency.Claim{}, errDown
}
func (brokenStore) Save(context.Context, string, idempotency.Record, time.Duration) error {
	return errDown
}
func (brokenStore) Finish(context.Context, string, string, idempotency.Record, time.Duration) error {
	return errDown
}
func (brokenStore) Release(context.Context, string, string) error { return errDown }
func (brokenStore) Ping(context.Context) error                    { return errDown }

func TestStoreDown(t *testing.T) {
	_, err := idempotency.NewGuard(brokenStore{}, idempotency.Options{}).Begin(context.Background(), "c", "k", "fp")
	if !errors.Is(err, idempotency.ErrUnavailable) {
		t.Errorf("fail closed: %v", err)
	}
	tk, err := idempotency.NewGuard(brokenStore{}, idempotency.Options{FailOpen: true}).Begin(context.Background(), "c", "k", "fp")
	if err != nil || !tk.Bypass {
		t.Errorf("fail open: %+v %v", tk, err)
	}
}

func decode(t *testing.T, body string) canonical.Request {
	t.Helper()
	r, err := canonicaldecode.Request([]byte(body), "jdoe")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFingerprint(t *testing.T) {
	const base = `{"targets":["a","b"],"vendor_ids":{"a":"1","b":"2"},"user":{"given_name":"J","password":{"new":"pw1"},"metadata":{"x":1,"y":2},"groups":{"op":"add","items":[{"id":1},{"name":"ops"}]}},"extensions":{"a":{"k":{"p":1,"q":[1,2]}}}}`
	fp := func(path, body string) string { return idempotency.Fingerprint("PATCH", path, decode(t, body)) }
	a := fp("/v1/users/jdoe", base)
	same := map[string]string{
		"key order and whitespace": "{ \"user\" : {\"groups\":{\"items\":[{\"id\":1},{\"name\":\"ops\"}],\"op\":\"add\"},\"metadata\":{\"y\":2,\"x\":1}, \"password\":{\"new\":\"pw1\"},\"given_name\":\"J\"},\n\"vendor_ids\":{\"b\":\"2\",\"a\":\"1\"},\"extensions\":{\"a\":{\"k\":{ \"q\":[1, 2],\"p\":1}}},\"targets\":[\"a\",\"b\"]}",
	}
	for name, body := range same {
		if got := fp("/v1/users/jdoe", body); got != a {
			t.Errorf("%s changed the fingerprint", name)
		}
	}
	differ := map[string]string{
		"password":        strings.Replace(base, `"pw1"`, `"pw2"`, 1),
		"target order":    strings.Replace(base, `["a","b"]`, `["b","a"]`, 1),
		"vendor id":       strings.Replace(base, `"b":"2"`, `"b":"3"`, 1),
		"metadata value":  strings.Replace(base, `"y":2`, `"y":3`, 1),
		"group item":      strings.Replace(base, `{"id":1}`, `{"id":11}`, 1),
		"group id->name":  strings.Replace(base, `{"id":1}`, `{"name":"1"}`, 1),
		"group op":        strings.Replace(base, `"op":"add"`, `"op":"remove"`, 1),
		"extension value": strings.Replace(base, `"p":1`, `"p":2`, 1),
		"one more field":  strings.Replace(base, `"given_name":"J"`, `"given_name":"J","family_name":"D"`, 1),
		"field moved":     strings.Replace(base, `"given_name":"J"`, `"family_name":"J"`, 1),
		"value split":     strings.Replace(base, `"given_name":"J"`, `"given_name":"","family_name":"J"`, 1),
		"on_unsupported":  strings.Replace(base, `{"targets"`, `{"on_unsupported":"skip","targets"`, 1),
	}
	for name, body := range differ {
		if got := fp("/v1/users/jdoe", body); got == a {
			t.Errorf("a different %s gave the same fingerprint", name)
		}
	}
	if fp("/v1/users/other", base) == a {
		t.Error("a different path gave the same fingerprint")
	}
	if strings.Contains(a, "pw1") || len(a) != 64 {
		t.Errorf("fingerprint %q", a)
	}
}

func BenchmarkFingerprint(b *testing.B) {
	r, err := canonicaldecode.Request([]byte(`{"targets":["commvault"],"on_unsupported":"skip","user":{"display_name":"Load 1","given_name":"L","email":"l@example.com","enabled":true}}`), "demo")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = idempotency.Fingerprint("PATCH", "/v1/users/demo", r)
	}
}

func BenchmarkMemoryBeginFinish(b *testing.B) {
	g := idempotency.NewGuard(idempotency.NewMemoryStore(), idempotency.Options{})
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		tk, err := g.Begin(ctx, "c", "key-"+strconv.Itoa(i), "fp")
		if err != nil {
			b.Fatal(err)
		}
		_ = tk.Finish(ctx, 200, []byte(`{}`), 0, nil)
	}
}

// TestMemoryStoreBound: past MaxBytes the oldest finished keys are
// forgotten first, keys in progress never are, and the newest still replay.
func TestMemoryStoreBound(t *testing.T) {
	ctx := context.Background()
	// About a hundred small finished records (about 64 bytes each, and a
	// 36-byte slot in their chunk's list).
	const limit = 100 * (100 + idempotency.RecordOverhead)
	s := idempotency.NewMemoryStore(idempotency.WithMaxBytes(limit))
	g := idempotency.NewGuard(s, idempotency.Options{})
	// Five requests still running, claimed first (so the oldest).
	var running []*idempotency.Ticket
	for i := 0; i < 5; i++ {
		tk, err := g.Begin(ctx, "c", "running-"+strconv.Itoa(i), "fp")
		if err != nil {
			t.Fatal(err)
		}
		running = append(running, tk)
	}
	for i := 0; i < 1000; i++ {
		tk, err := g.Begin(ctx, "c", "k-"+strconv.Itoa(i), "fp")
		if err != nil || tk.Replay != nil {
			t.Fatalf("key %d: %+v %v", i, tk, err)
		}
		if err := tk.Finish(ctx, 200, []byte(`{}`), 0, map[string]result.Target{"x": {Status: result.StatusApplied}}); err != nil {
			t.Fatal(err)
		}
		if b := s.Bytes(); b > limit {
			t.Fatalf("key %d: %d bytes held, over the %d budget", i, b, limit)
		}
	}
	// The chunks' room not yet filled, and their slot lists' spare room,
	// count too: some records fewer.
	if got := s.Evicted(); got < 890 || got > 945 {
		t.Errorf("evicted %d, want about 900 to 940 (1005 keys into about 100 places, less the chunks' spare room)", got)
	}
	for i := 0; i < 5; i++ {
		if _, err := g.Begin(ctx, "c", "running-"+strconv.Itoa(i), "fp"); !errors.Is(err, idempotency.ErrInProgress) {
			t.Errorf("running key %d: %v, want in progress", i, err)
		}
	}
	for i := 945; i < 1000; i++ {
		tk, err := g.Begin(ctx, "c", "k-"+strconv.Itoa(i), "fp")
		if err != nil || tk.Replay == nil {
			t.Fatalf("recent key %d not replayed: %+v %v", i, tk, err)
		}
	}
	// The oldest finished key was forgotten: it runs again.
	tk, err := g.Begin(ctx, "c", "k-0", "fp")
	if err != nil || tk.Replay != nil || tk.Uncertain {
		t.Fatalf("evicted key: %+v %v", tk, err)
	}
	for _, r := range running {
		_ = r.Abandon(ctx)
	}
}

// TestMemoryKeys: the Guard's hex keys and any other key name distinct
// records; upper- and lower-case hex are the same bytes.
func TestMemoryKeys(t *testing.T) {
	ctx := context.Background()
	s := idempotency.NewMemoryStore()
	hexKey := strings.Repeat("ab", 32)
	for _, k := range []string{hexKey, strings.ToUpper(hexKey), "short", strings.Repeat("zz", 32), ""} {
		if err := s.Save(ctx, k, idempotency.Record{Fingerprint: k}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ key, want string }{
		{hexKey, strings.ToUpper(hexKey)}, // the same 32 bytes: the later Save wins
		{"short", "short"},
		{strings.Repeat("zz", 32), strings.Repeat("zz", 32)},
		{"", ""},
	} {
		c, err := s.Claim(ctx, tc.key, idempotency.ClaimArgs{LockTTL: time.Minute, Retention: time.Minute, Peek: true})
		if r := c.Record; err != nil || !c.Peeked || r.Fingerprint != tc.want {
			t.Errorf("%q: %+v %v", tc.key, r, err)
		}
	}
}
