package links

import (
	"sync"
	"sync/atomic"
	"time"
)

// listenerFresh is how long a sign of life from the listener (a
// notification or a ping) keeps the cache usable. With listenerPoll it bounds
// how stale a cached link can be when the listener breaks silently:
// listenerFresh < 1s, the promise the package makes.
const (
	listenerFresh = 750 * time.Millisecond
	listenerPoll  = 250 * time.Millisecond
)

// cache holds records by canonical id. A nil *cache caches nothing.
//
// A load that raced with an invalidation must not put the value it read
// before the change: gen counts invalidations, a loader notes it before
// reading PostgreSQL, and put drops the value when gen moved meanwhile.
type cache struct {
	max int
	// aliveUntil is the UnixNano until which the listener is trusted.
	aliveUntil atomic.Int64

	mu  sync.RWMutex
	gen uint64
	m   map[string]Record
}

func newCache(max int) *cache { return &cache{max: max, m: map[string]Record{}} }

func (c *cache) usable() bool {
	return c != nil && time.Now().UnixNano() < c.aliveUntil.Load()
}

func (c *cache) get(id string) (Record, bool) {
	if !c.usable() {
		return Record{}, false
	}
	c.mu.RLock()
	r, ok := c.m[id]
	c.mu.RUnlock()
	return r, ok
}

func (c *cache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *cache) put(id string, r Record, gen uint64) {
	if !c.usable() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= c.max {
		// Full: start over. Simple, and correct (a miss only costs a read).
		clear(c.m)
	}
	c.m[id] = r
}

func (c *cache) invalidate(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	delete(c.m, id)
	c.mu.Unlock()
}

// reset forgets everything: after the listener (re)connects, notifications
// sent while it was away are lost.
func (c *cache) reset() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// alive marks the listener as heard from now.
func (c *cache) alive() {
	if c != nil {
		c.aliveUntil.Store(time.Now().Add(listenerFresh).UnixNano())
	}
}

// dead stops the cache from being used at once.
func (c *cache) dead() {
	if c != nil {
		c.aliveUntil.Store(0)
	}
}
