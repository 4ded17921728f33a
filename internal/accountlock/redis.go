package accountlock

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Polling bounds: a waiter first retries after pollMin and doubles up to
// pollMax (with jitter). Only one waiter per account per process polls (the
// others queue in process, see Redis), so a hot account costs each replica
// at most one Redis command per pollMin..pollMax.
const (
	pollMin = time.Millisecond
	pollMax = 8 * time.Millisecond
	// waitFlagTTL keeps the "someone polls" flag alive between two polls.
	waitFlagTTL = 4 * pollMax
	// maxStreak is how many times in a row a replica hands the lock to its
	// own next writer while another replica waits, before it pauses to
	// let that one in: handing over between replicas costs a poll interval,
	// so a short streak keeps a hot account's throughput while bounding
	// how long the other replica waits.
	maxStreak = 8
)

// The scripts touch the lock key and its wait flag, which share a hash tag
// (one Cluster slot).
var (
	// acquire: SET NX PX with the holder's token; when taken, raise the
	// flag saying another replica waits.
	acquireScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return 0`)
	// check: the remaining TTL when the token still holds the lock, else -3.
	checkScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PTTL', KEYS[1]) end
return -3`)
	// release: delete only our own lock; say whether another replica waits.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('EXISTS', KEYS[2])`)
)

// Redis is the lock shared by replicas on one Redis (or Redis Cluster).
//
// Within a process, waiters for one account first queue on an in-process
// lock, so only the first of them polls Redis. Without more, a replica
// whose queue never empties would take the Redis lock back at every
// release, before another replica's poll comes round; so a waiting replica
// raises a flag at each failed attempt, and after maxStreak releases that
// see it, this replica's next writer pauses one poll interval first, giving
// the other replica its turn.
type Redis struct {
	c      redis.UniversalClient
	prefix string
	ttl    time.Duration
	local  *Memory

	mu     sync.Mutex
	yield  map[string]time.Time // key -> do not try before
	streak map[string]int       // key -> local hand-overs while another replica waited
}

// NewRedis returns the lock set on c. Keys are
// <prefix>acct:{<sha256 of the account key>}; ttl <= 0 means DefaultTTL.
func NewRedis(c redis.UniversalClient, prefix string, ttl time.Duration) *Redis {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Redis{c: c, prefix: prefix, ttl: ttl, local: NewMemory(ttl), yield: map[string]time.Time{}, streak: map[string]int{}}
}

// keys are the lock key and its wait flag. The account key is hashed: it
// may name a person (an e-mail, a user id) or derive from a credential.
func (r *Redis) keys(key string) []string {
	sum := sha256.Sum256([]byte(key))
	k := r.prefix + "acct:{" + hex.EncodeToString(sum[:16]) + "}"
	return []string{k, k + ":w"}
}

// Lock takes key's lock, polling with backoff until ctx ends (then an error
// matching ErrBusy). Other errors mean Redis could not be asked: the caller
// must not go ahead unlocked.
func (r *Redis) Lock(ctx context.Context, key string) (Held, error) {
	local, err := r.local.Lock(ctx, key)
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	_, _ = crand.Read(tok)
	h := &redisHeld{r: r, key: key, keys: r.keys(key), token: hex.EncodeToString(tok), local: local}
	if err := pause(ctx, r.takeYield(key)); err != nil {
		local.Release(ctx)
		return nil, fmt.Errorf("%w (waited until %v)", ErrBusy, err)
	}
	backoff := pollMin
	for {
		got, err := acquireScript.Run(ctx, r.c, h.keys, h.token, r.ttl.Milliseconds(), waitFlagTTL.Milliseconds()).Int()
		switch {
		case err != nil && ctx.Err() != nil:
			local.Release(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("%w (waited until %v)", ErrBusy, context.Cause(ctx))
		case err != nil:
			local.Release(ctx)
			return nil, fmt.Errorf("accountlock: redis: %w", err)
		case got == 1:
			return h, nil
		}
		// Jitter in [backoff/2, backoff]: two replicas polling do not
		// stay in step.
		d := backoff/2 + rand.N(backoff/2+1)
		if err := pause(ctx, d); err != nil {
			local.Release(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("%w (waited until %v)", ErrBusy, err)
		}
		backoff = min(backoff*2, pollMax)
	}
}

func (r *Redis) takeYield(key string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.yield[key]
	if !ok {
		return 0
	}
	delete(r.yield, key)
	return time.Until(t)
}

func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

type redisHeld struct {
	r     *Redis
	key   string
	keys  []string
	token string
	local Held

	once sync.Once
}

func (h *redisHeld) Check(ctx context.Context) error {
	pttl, err := checkScript.Run(ctx, h.r.c, h.keys[:1], h.token).Int64()
	if err != nil {
		return fmt.Errorf("accountlock: redis: %w", err)
	}
	if pttl <= 0 { // -3: not ours any more; -2/-1 cannot hold for a token we set with PX
		return ErrLost
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > time.Duration(pttl)*time.Millisecond {
		return fmt.Errorf("%w before the update's deadline", ErrLost)
	}
	return nil
}

func (h *redisHeld) Release(ctx context.Context) {
	h.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		waiting, err := releaseScript.Run(ctx, h.r.c, h.keys, h.token).Int()
		queued := h.r.local.queued(h.key) > 0
		h.r.mu.Lock()
		switch {
		case err == nil && waiting == 1 && queued:
			// Another replica polls for this account while this one has a
			// writer queued: after a streak, let the other go first.
			if h.r.streak[h.key]++; h.r.streak[h.key] >= maxStreak {
				delete(h.r.streak, h.key)
				h.r.yield[h.key] = time.Now().Add(pollMax + pollMax/2)
			}
		case !queued:
			delete(h.r.streak, h.key)
		}
		h.r.mu.Unlock()
		// When Redis cannot be reached the key expires by its TTL.
		h.local.Release(ctx)
	})
}
