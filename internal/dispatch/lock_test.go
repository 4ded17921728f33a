package dispatch

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/accountlock"
)

// rmwFake is the fake adapter declaring every update read-modify-write.
type rmwFake struct{ *fake }

func (r rmwFake) LockAccount(op adapters.Op) (string, bool) { return op.UserID, true }

// countingLocker counts the locks taken.
type countingLocker struct {
	Locker
	n atomic.Int32
}

func (c *countingLocker) Lock(ctx context.Context, key string) (accountlock.Held, error) {
	c.n.Add(1)
	return c.Locker.Lock(ctx, key)
}

// lockStores are two lock sets on one store (two replicas) and the store's
// clock.
type lockStore struct {
	name  string
	mine  Locker // the dispatcher's
	other Locker // another replica's
	// fresh is yet another replica's (one started after other died).
	fresh   func() Locker
	advance func(time.Duration)
}

const testLockTTL = 5 * time.Second

func lockStores(t *testing.T) []lockStore {
	t.Helper()
	m := accountlock.NewMemory(testLockTTL)
	var mu sync.Mutex
	now := time.Now()
	m.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	mr := miniredis.RunT(t)
	ca, cb := redis.NewClient(&redis.Options{Addr: mr.Addr()}), redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return []lockStore{
		{name: "memory", mine: m, other: m, fresh: func() Locker { return m }, advance: func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }},
		{name: "redis", mine: accountlock.NewRedis(ca, "t:", testLockTTL), other: accountlock.NewRedis(cb, "t:", testLockTTL),
			fresh: func() Locker { return accountlock.NewRedis(cb, "t:", testLockTTL) }, advance: mr.FastForward},
	}
}

func lockedFixture(t *testing.T, locks Locker, wait time.Duration, doer adapters.Doer) (*Dispatcher, *fake) {
	t.Helper()
	f := &fake{name: "alpha"}
	d, err := New([]Target{{Name: "alpha", Adapter: rmwFake{f}, Doer: doer, Deadline: time.Second}},
		Options{Locks: locks, LockWait: wait, Users: map[string]map[string]string{"jdoe": {"alpha": "jdoe"}}})
	if err != nil {
		t.Fatal(err)
	}
	return d, f
}

// quick is a context for a lock that must be free: Redis cannot be asked
// with a context already cancelled.
func quick(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Another update holds the account: this one waits LockWait, then fails
// with account_busy (409, Retry-After) without any vendor call. Once the
// holder is gone (a replica killed while holding it: the lock expires),
// the next writer proceeds; and it releases the lock when done.
func TestBusyAccountThenExpiredHolder(t *testing.T) {
	for _, s := range lockStores(t) {
		t.Run(s.name, func(t *testing.T) {
			vendor := &vendorDoer{}
			d, _ := lockedFixture(t, s.mine, 30*time.Millisecond, vendor)
			if _, err := s.other.Lock(context.Background(), "alpha/jdoe"); err != nil {
				t.Fatal(err)
			}
			out, err := d.Apply(context.Background(), input(t, `{"targets":["alpha"],"user":{"display_name":"A"}}`))
			if err != nil {
				t.Fatal(err)
			}
			res := decodeResult(t, out.Body)
			if out.Status != http.StatusConflict || out.RetryAfter != time.Second || res.Results["alpha"].Error == nil ||
				res.Results["alpha"].Error.Code != canonical.CodeAccountBusy {
				t.Fatalf("%d %v %s", out.Status, out.RetryAfter, out.Body)
			}
			if len(vendor.calls) != 0 {
				t.Fatalf("vendor called while another update held the account: %v", vendor.calls)
			}
			s.advance(testLockTTL + time.Millisecond) // the holder never releases: killed
			out, err = d.Apply(context.Background(), input(t, `{"targets":["alpha"],"user":{"display_name":"B"}}`))
			if err != nil || out.Status != http.StatusOK {
				t.Fatalf("after the dead holder's lock expired: %v %d %s", err, out.Status, out.Body)
			}
			h, err := s.fresh().Lock(quick(t), "alpha/jdoe")
			if err != nil {
				t.Fatalf("the lock was not released after the update: %v", err)
			}
			h.Release(context.Background())
		})
	}
}

// A holder whose lock expired between its read and its write (a stall past
// the TTL, during which another writer took the account) does not write:
// the target fails with account_busy and the vendor sees no PUT.
func TestExpiredLockAbortsTheWrite(t *testing.T) {
	for _, s := range lockStores(t) {
		t.Run(s.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				calls []string
				other accountlock.Held
			)
			vendor := adapters.DoerFunc(func(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
				mu.Lock()
				calls = append(calls, c.Method)
				mu.Unlock()
				if c.Method == http.MethodGet {
					// The read stalls past the TTL and another writer
					// takes the account.
					s.advance(testLockTTL + time.Millisecond)
					h, err := s.other.Lock(quick(t), "alpha/jdoe")
					if err != nil {
						t.Errorf("the expired lock was not free: %v", err)
					}
					other = h
				}
				return &adapters.Response{Status: 200, Attempts: 1, AttemptStatuses: []int{200}}, nil
			})
			d, f := lockedFixture(t, s.mine, time.Second, vendor)
			out, err := d.Apply(context.Background(), input(t, `{"targets":["alpha"],"user":{"display_name":"late"}}`))
			if err != nil {
				t.Fatal(err)
			}
			res := decodeResult(t, out.Body)
			if e := res.Results["alpha"].Error; e == nil || e.Code != canonical.CodeAccountBusy {
				t.Fatalf("%d %s", out.Status, out.Body)
			}
			if len(calls) != 1 || calls[0] != http.MethodGet || f.applied.Load() != 0 {
				t.Fatalf("vendor calls %v: the write went out on a lost lock", calls)
			}
			if other == nil {
				t.Fatal("the other writer never got the lock")
			}
			if err := other.Check(context.Background()); err != nil {
				t.Fatalf("the late holder's release freed the new holder's lock: %v", err)
			}
			other.Release(context.Background())
		})
	}
}

// Only read-modify-write updates lock, never dry runs; a fan-out locks each
// target's own account.
func TestLocksOnlyWhereNeeded(t *testing.T) {
	locks := &countingLocker{Locker: accountlock.NewMemory(time.Minute)}
	fx := newFixture(t, Options{Locks: locks}, nil)
	// alpha and beta are plain fakes: no read-modify-write declared.
	if out, err := fx.d.Apply(context.Background(), input(t, `{"targets":["alpha","beta"],"user":{"display_name":"X"}}`)); err != nil || out.Status != 200 {
		t.Fatalf("%v %d", err, out.Status)
	}
	if n := locks.n.Load(); n != 0 {
		t.Fatalf("%d locks for adapters that declare no read-modify-write", n)
	}
	d, _ := lockedFixture(t, locks, time.Second, &vendorDoer{})
	in := input(t, `{"targets":["alpha"],"user":{"display_name":"X"}}`)
	in.DryRun = true
	if out, err := d.Apply(context.Background(), in); err != nil || out.Status != 200 {
		t.Fatalf("%v %d", err, out.Status)
	}
	if n := locks.n.Load(); n != 0 {
		t.Fatalf("%d locks for a dry run", n)
	}
	if out, err := d.Apply(context.Background(), input(t, `{"targets":["alpha"],"user":{"display_name":"X"}}`)); err != nil || out.Status != 200 {
		t.Fatalf("%v %d", err, out.Status)
	}
	if n := locks.n.Load(); n != 1 {
		t.Fatalf("%d locks for one read-modify-write update, want 1", n)
	}
}
