package redisstore

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// clock is a settable clock for the reset hold.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestStoreResetHolds: after Redis loses its data (FLUSHALL on miniredis;
// on a shared real Redis, the deletion of every key under this test's
// prefix, which is the same loss for this store), a key that had applied
// is not run again: keyed claims are refused with ErrStoreReset for the
// hold, a replica started afterwards holds too, the reset is counted, and
// after the hold claims run again.
func TestStoreResetHolds(t *testing.T) {
	if os.Getenv("REDIS_URL") != "" {
		testReset(t, client(t), nil)
		return
	}
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	testReset(t, c, m.FlushAll)
}

func testReset(t *testing.T, c redis.UniversalClient, flush func()) {
	ctx := context.Background()
	p := cleanPrefix(t, c)
	if flush == nil {
		flush = func() {
			if _, err := Purge(ctx, c, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk := &clock{t: time.Now()}
	o := Options{ResetHold: time.Hour, Now: clk.Now}
	s := NewWithOptions(c, p, o)
	g := idempotency.NewGuard(s, idempotency.Options{FailOpen: true})
	st, err := s.Check(ctx)
	if err != nil || !st.Checked || st.Resets != 0 || !st.HoldUntil.IsZero() {
		t.Fatalf("first check: %+v %v", st, err)
	}
	apply := func(key string) (*idempotency.Ticket, error) {
		tk, err := g.Begin(ctx, "c", key, "fp")
		if err != nil || tk.Replay != nil {
			return tk, err
		}
		return tk, tk.Finish(ctx, 200, []byte(`{}`), 0, map[string]result.Target{"x": {Status: result.StatusApplied}})
	}
	if _, err := apply("applied"); err != nil {
		t.Fatal(err)
	}
	if tk, err := apply("applied"); err != nil || tk.Replay == nil {
		t.Fatalf("replay before the loss: %+v %v", tk, err)
	}

	flush()

	// The claim itself sees the marker gone: no run, no record written.
	_, err = g.Begin(ctx, "c", "applied", "fp")
	if !errors.Is(err, idempotency.ErrStoreReset) || !errors.Is(err, idempotency.ErrUnavailable) {
		t.Fatalf("repeat of an applied key after the loss: %v (want a refusal, not a second run; on_store_error proceed does not apply)", err)
	}
	if _, err := g.Begin(ctx, "c", "new-key", "fp"); !errors.Is(err, idempotency.ErrStoreReset) {
		t.Fatalf("a new key during the hold: %v", err)
	}
	st = s.Status()
	if st.Resets != 1 || st.HoldUntil.Sub(clk.Now()) < 59*time.Minute {
		t.Fatalf("status after the loss: %+v", st)
	}
	if _, err := s.Check(ctx); err != nil || s.Status().Resets != 1 {
		t.Fatalf("a second check counted the same loss again: %+v %v", s.Status(), err)
	}
	// A replica started after the loss holds too.
	s2 := NewWithOptions(c, p, o)
	if st2, err := s2.Check(ctx); err != nil || st2.HoldUntil.IsZero() {
		t.Fatalf("a replica started during the hold: %+v %v", st2, err)
	}
	if _, err := idempotency.NewGuard(s2, idempotency.Options{}).Begin(ctx, "c", "other", "fp"); !errors.Is(err, idempotency.ErrStoreReset) {
		t.Fatalf("the new replica claimed during the hold: %v", err)
	}
	// After the hold, claims run again.
	clk.Add(time.Hour + time.Second)
	if tk, err := apply("after-hold"); err != nil || tk.Replay != nil {
		t.Fatalf("after the hold: %+v %v", tk, err)
	}
	if st := s.Status(); !st.HoldUntil.IsZero() || st.Resets != 1 {
		t.Fatalf("status after the hold: %+v", st)
	}
}

// TestStoreVolatileRefused: with RequireDurable, a Redis without an
// append-only file (miniredis answers no persistence at all) refuses claims.
func TestStoreVolatileRefused(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	s := NewWithOptions(c, "idgw-test:volatile:", Options{RequireDurable: true})
	st, err := s.Check(context.Background())
	if err != nil || st.Durable || st.Persistence != PersistenceUnknown {
		t.Fatalf("miniredis: %+v %v", st, err)
	}
	_, err = idempotency.NewGuard(s, idempotency.Options{FailOpen: true}).Begin(context.Background(), "c", "k", "fp")
	if !errors.Is(err, idempotency.ErrVolatile) {
		t.Fatalf("claim on a volatile store: %v", err)
	}
}

func TestParseAOF(t *testing.T) {
	for info, want := range map[string]bool{
		"# Persistence\r\nloading:0\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\n": true,
		"# Persistence\r\nloading:0\r\naof_enabled:0\r\n":                              false,
		"": false,
	} {
		if got := ParseAOF(info); got != want {
			t.Errorf("%q: %v", info, got)
		}
	}
}

// TestStorePersistenceReal reads the real Redis's persistence (REDIS_URL);
// whatever it is, it is reported, and durable only with an AOF.
func TestStorePersistenceReal(t *testing.T) {
	if os.Getenv("REDIS_URL") == "" {
		t.Skip("REDIS_URL is not set")
	}
	c := client(t)
	s := NewWithOptions(c, cleanPrefix(t, c), Options{})
	st, err := s.Check(context.Background())
	if err != nil || st.Persistence == "" || st.Durable != (st.Persistence == PersistenceAOF) {
		t.Fatalf("%+v %v", st, err)
	}
	t.Logf("REDIS_URL persistence: %s", st.Persistence)
}

// TestCRC16: the Cluster key hash agrees with Redis's (the reference value
// of CRC-16/XMODEM, and slots Redis itself reports), and every slot has a
// tag that lands in it.
func TestCRC16(t *testing.T) {
	if got := crc16("123456789"); got != 0x31c3 {
		t.Fatalf("crc16: %#x", got)
	}
	for key, slot := range map[string]uint16{"foo": 12182, "bar": 5061, "hello": 866} {
		if got := crc16(key) % slots; got != slot {
			t.Errorf("%s: slot %d, want %d", key, got, slot)
		}
	}
	for i, tag := range slotTags() {
		if int(crc16(tag)%slots) != i {
			t.Fatalf("slot %d: tag %q lands in %d", i, tag, crc16(tag)%slots)
		}
	}
}

// TestNewConnectionRechecks: with a DialWatch, a connection the client
// opens after Redis came back without its data makes the store check Redis
// at once, with no claim needed. (The watch replaces a dial hook, which
// go-redis also counts as a command hook: every command of an
// auto-pipelined client then ran on a goroutine of its own.)
func TestNewConnectionRechecks(t *testing.T) {
	ctx := context.Background()
	m := miniredis.RunT(t)
	dials := new(DialWatch)
	c, err := Open(ctx, RedisOptions{URL: "redis://" + m.Addr(), Dials: dials})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	b, err := Batched(c, true)
	if err != nil {
		t.Fatal(err)
	}
	s := NewWithOptions(b, "idgw-test:dials:", Options{ResetHold: time.Hour, Admin: c, Dials: dials})
	if st, err := s.Check(ctx); err != nil || !st.Checked {
		t.Fatalf("first check: %+v %v", st, err)
	}
	// Redis restarts empty; the pooled connections are gone with it.
	m.Close()
	m.FlushAll()
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	_ = c.Ping(ctx).Err() // a dead pooled connection, then a new one
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after the restart: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.Status().Resets == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no check after the new connection: %+v", s.Status())
		}
		<-tick.C
	}
}
