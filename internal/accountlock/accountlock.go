// Package accountlock serialises read-modify-write updates to one vendor
// account (issue 26). Frontier, Volterra and Akana take a whole object on
// PUT, so an update reads the object, changes its fields and writes it all
// back; two updates of one account that interleave would have the later
// write put the earlier one's fields back. A lock per account, held from
// the read to the end of the write, prevents that.
//
// Two implementations share one contract (Held): Memory, for one process
// (the memory idempotency store), and Redis, for replicas sharing a Redis
// (SET NX PX with a random token per holder, a TTL that outlives every
// target deadline, compare-and-check before each write, compare-and-delete
// on release; one key per account, so it works on Redis Cluster).
//
// A lock is never waited for forever: Lock gives up when its context ends,
// with an error matching ErrBusy. A holder whose lock expired (a stall past
// the TTL, or a replica killed while holding it, whose lock the next writer
// then takes over) learns so from Check, which the dispatcher calls before
// every write: the write is then not sent.
package accountlock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrBusy is returned (wrapped) by Lock when the wait ended before the lock
// was free.
var ErrBusy = errors.New("accountlock: the account is locked by another update")

// ErrLost is returned (wrapped) by Check when the lock expired, or will
// before the holder's deadline: the holder must not write.
var ErrLost = errors.New("accountlock: the account lock expired")

// Held is a lock on one account.
type Held interface {
	// Check reports whether the lock is still held and will still be held
	// at ctx's deadline; an error matching ErrLost when not. Any other
	// error means it could not be confirmed: the holder must not write
	// either.
	Check(ctx context.Context) error
	// Release frees the lock if it is still this holder's. It is safe to
	// call more than once.
	Release(ctx context.Context)
}

// DefaultTTL is the lock's lifetime when none is given: above every vendor
// deadline the configuration allows by default (15s).
const DefaultTTL = 60 * time.Second

// Memory is the in-process lock: waiters queue in arrival order and the
// lock is handed to the first on release, so a hot account is served
// fairly and a release wakes one waiter, not all. It is safe for
// concurrent use. A lock expires after its TTL like the Redis one, so both
// behave the same when a holder stalls.
type Memory struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	locks map[string]*memEntry
	gen   uint64
}

type memEntry struct {
	gen     uint64 // the holder's generation; 0 when free
	expires time.Time
	queue   []chan uint64 // waiters, first come first served
}

// NewMemory returns an in-process lock set; ttl <= 0 means DefaultTTL.
func NewMemory(ttl time.Duration) *Memory {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Memory{ttl: ttl, now: time.Now, locks: map[string]*memEntry{}}
}

// SetClock replaces the clock (tests).
func (m *Memory) SetClock(now func() time.Time) {
	m.mu.Lock()
	m.now = now
	m.mu.Unlock()
}

// Lock takes key's lock, waiting in line until ctx ends.
func (m *Memory) Lock(ctx context.Context, key string) (Held, error) {
	m.mu.Lock()
	e := m.locks[key]
	if e != nil {
		m.expireLocked(key, e)
		e = m.locks[key]
	}
	if e == nil {
		e = &memEntry{gen: m.nextLocked(), expires: m.now().Add(m.ttl)}
		m.locks[key] = e
		g := e.gen
		m.mu.Unlock()
		return &memHeld{m: m, key: key, gen: g}, nil
	}
	ch := make(chan uint64, 1)
	e.queue = append(e.queue, ch)
	wait := e.expires.Sub(m.now())
	m.mu.Unlock()
	for {
		timer := time.NewTimer(max(wait, time.Millisecond))
		select {
		case g := <-ch:
			timer.Stop()
			return &memHeld{m: m, key: key, gen: g}, nil
		case <-timer.C:
			// The holder outlived its TTL: hand the lock on (to the first
			// in line, which may be this waiter).
			m.mu.Lock()
			if cur := m.locks[key]; cur != nil {
				m.expireLocked(key, cur)
				wait = cur.expires.Sub(m.now())
			}
			m.mu.Unlock()
		case <-ctx.Done():
			timer.Stop()
			m.mu.Lock()
			if cur := m.locks[key]; cur != nil {
				if i := indexOf(cur.queue, ch); i >= 0 {
					cur.queue = append(cur.queue[:i], cur.queue[i+1:]...)
				}
			}
			m.mu.Unlock()
			select {
			case g := <-ch: // handed over as the wait ended: pass it on
				(&memHeld{m: m, key: key, gen: g}).Release(context.Background())
			default:
			}
			return nil, fmt.Errorf("%w (waited until %v)", ErrBusy, context.Cause(ctx))
		}
	}
}

// queued reports how many wait in this process for key.
func (m *Memory) queued(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.locks[key]; e != nil {
		return len(e.queue)
	}
	return 0
}

func (m *Memory) nextLocked() uint64 {
	m.gen++
	return m.gen
}

// expireLocked frees e when its holder's TTL has passed.
func (m *Memory) expireLocked(key string, e *memEntry) {
	if e.gen != 0 && !m.now().Before(e.expires) {
		e.gen = 0
		m.grantLocked(key, e)
	}
}

// grantLocked hands a free lock to the first waiter, or forgets it.
func (m *Memory) grantLocked(key string, e *memEntry) {
	if e.gen != 0 {
		return
	}
	if len(e.queue) == 0 {
		delete(m.locks, key)
		return
	}
	ch := e.queue[0]
	e.queue = e.queue[1:]
	e.gen, e.expires = m.nextLocked(), m.now().Add(m.ttl)
	ch <- e.gen // buffered: never blocks
}

func indexOf(q []chan uint64, ch chan uint64) int {
	for i, c := range q {
		if c == ch {
			return i
		}
	}
	return -1
}

type memHeld struct {
	m   *Memory
	key string
	gen uint64
}

func (h *memHeld) Check(ctx context.Context) error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	e := h.m.locks[h.key]
	now := h.m.now()
	if e == nil || e.gen != h.gen || !now.Before(e.expires) {
		return ErrLost
	}
	if dl, ok := ctx.Deadline(); ok && dl.After(e.expires) {
		return fmt.Errorf("%w before the update's deadline", ErrLost)
	}
	return nil
}

func (h *memHeld) Release(context.Context) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if e := h.m.locks[h.key]; e != nil && e.gen == h.gen {
		e.gen = 0
		h.m.grantLocked(h.key, e)
	}
}
