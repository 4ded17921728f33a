// Package redisstore is the Redis idempotency store, shared by every
// replica: the lock is SET NX PX with a random token, released by a Lua
// script only while the token is still ours; records are JSON with the
// retention as TTL. It also keeps the per-client rate limits (RateLimiter).
// This package is the only importer of go-redis.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// Store implements idempotency.Store on Redis.
type Store struct {
	c      redis.UniversalClient
	prefix string
	// Lock tokens need to be unique, not secret: a random per-process
	// prefix and a counter, instead of a getrandom call per claim.
	tokenPrefix string
	seq         atomic.Uint64

	w watch // durability (NewWithOptions)
}

var _ idempotency.Store = (*Store)(nil)

// New returns a Store whose keys start with prefix. Both keys of one
// idempotency key share a hash tag, so the scripts that touch them run on
// Redis Cluster too.
func New(c redis.UniversalClient, prefix string) *Store {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return &Store{c: c, prefix: prefix, tokenPrefix: hex.EncodeToString(b) + "-", w: watch{o: Options{Now: time.Now}}}
}

func (s *Store) token() string {
	return s.tokenPrefix + strconv.FormatUint(s.seq.Add(1), 36)
}

// keys names the lock and the record of key: {key} is their hash tag.
func (s *Store) keys(key string) (lock, rec string) {
	return s.prefix + "{" + key + "}:lock", s.prefix + "{" + key + "}:rec"
}

// RedisOptions addresses Redis: one URL, Sentinel (MasterName + Addrs), or
// Cluster (several Addrs).
type RedisOptions struct {
	URL        string
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	DB         int
	// Dials, when set, hears of every new connection (Options.Dials of
	// the store made on this client).
	Dials *DialWatch
}

// The client settings Open uses unless told otherwise: one retry after a
// short backoff, a one-second dial, and one quick redial (go-redis's own
// default of five redials 100 ms apart, for each of four attempts, kept a
// request waiting 1.6 s for a refused connection).
const (
	failFastRetries     = 1
	failFastBackoff     = 64 * time.Millisecond
	failFastDial        = time.Second
	failFastRedials     = 1
	failFastRedialPause = 20 * time.Millisecond
)

// Open builds a UniversalClient; it does not dial (readiness pings).
func Open(_ context.Context, o RedisOptions) (redis.UniversalClient, error) {
	if o.URL != "" {
		opt, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		// Fail fast when Redis is down: a keyed request then gets its 503 at
		// once instead of waiting out go-redis's retries and redials. The
		// URL's query still overrides each setting.
		if u, err := url.Parse(o.URL); err == nil { // ParseURL accepted it
			q := u.Query()
			opt.DialerRetries, opt.DialerRetryTimeout = failFastRedials, failFastRedialPause
			if !q.Has("max_retries") {
				opt.MaxRetries = failFastRetries
			}
			if !q.Has("max_retry_backoff") {
				opt.MaxRetryBackoff = failFastBackoff
			}
			if !q.Has("dial_timeout") {
				opt.DialTimeout = failFastDial
			}
		}
		if o.Username != "" {
			opt.Username = o.Username
		}
		if o.Password != "" {
			opt.Password = o.Password
		}
		opt.OnConnect = o.Dials.onConnect()
		return redis.NewClient(opt), nil
	}
	if len(o.Addrs) == 0 {
		return nil, errors.New("redis: a url or addrs are required")
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{Addrs: o.Addrs, MasterName: o.MasterName,
		Username: o.Username, Password: o.Password, DB: o.DB, MaxRetries: failFastRetries,
		MaxRetryBackoff: failFastBackoff, DialTimeout: failFastDial, DialerRetries: failFastRedials, DialerRetryTimeout: failFastRedialPause,
		OnConnect: o.Dials.onConnect()}), nil
}

// Purge deletes every key under prefix (SCAN and UNLINK, in batches) and
// says how many went: for benchmarks and tests that used a prefix of their
// own. The prefix must be non-empty.
func Purge(ctx context.Context, c redis.UniversalClient, prefix string) (int, error) {
	if prefix == "" {
		return 0, errors.New("redis purge: an empty prefix would match every key")
	}
	pattern := globEscape(prefix) + "*"
	n := 0
	del := func(ctx context.Context, c *redis.Client, cluster bool) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			if cluster {
				// A multi-key command must stay in one slot: one UNLINK per
				// key, pipelined.
				if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, k := range batch {
						p.Unlink(ctx, k)
					}
					return nil
				}); err != nil {
					return err
				}
			} else if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			n += len(batch)
			batch = batch[:0]
			return nil
		}
		for it.Next(ctx) {
			if batch = append(batch, it.Val()); len(batch) == 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
		return flush()
	}
	var err error
	switch cc := c.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return del(ctx, node, true)
		})
	case *redis.Client:
		err = del(ctx, cc, false)
	default:
		return 0, fmt.Errorf("redis purge: unsupported client %T", c)
	}
	if err != nil {
		return n, fmt.Errorf("redis purge: %w", err)
	}
	return n, nil
}

// globEscape escapes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Batched returns c's auto-pipeliner: commands that concurrent callers
// issue at the same time travel to Redis together, with each caller still
// blocking for its own reply. Closing the client closes it.
//
// Half duplex (fullDuplex false) writes a batch only when the previous
// one's replies are in, so commands that arrive meanwhile wait and travel
// as one large batch: with many callers (a replica serving 64 connections)
// that is the fewest writes and reads for Redis, which serves every
// replica. Full duplex writes commands as they come on a held connection
// while earlier replies are still being read: with a few callers (gateway
// migrate, 8 users in flight) no command waits out another's round trip,
// but Redis reads more, smaller writes. Measured both ways in BENCHMARKS.md
// (Redis pipelining, half and full duplex).
func Batched(c redis.UniversalClient, fullDuplex bool) (redis.UniversalClient, error) {
	opts := redis.DefaultBlockingAutoPipelineOptions()
	opts.FullDuplex = fullDuplex
	var (
		ap  *redis.AutoPipeliner
		err error
	)
	switch cc := c.(type) {
	case *redis.Client:
		ap, err = cc.AutoPipelineWithOptions(opts)
	case *redis.ClusterClient:
		ap, err = cc.AutoPipelineWithOptions(opts)
	default:
		ap, err = c.AutoPipeline()
	}
	if err != nil {
		return nil, fmt.Errorf("redis auto-pipelining: %w", err)
	}
	return ap, nil
}

// claim reads the record and takes the lock (SET NX PX) in one round trip:
// {2, record} when peeking (ARGV[5] == "1") and a record exists, with no
// lock taken; {1, record-or-false} when the lock is taken; {0, pttl, lock}
// when it is held (the lock's value carries its holder's deadline); {3}
// when the store's marker (KEYS[3]) does not hold ARGV[6]: Redis lost its
// data, and nothing is claimed or written. When there is no record yet, the
// initial one (ARGV[3], TTL ARGV[4]) is stored with the lock, so even a run
// that dies before recording anything leaves a trace: {1, false} means
// "taken, created".
var claim = redis.NewScript(`
if ARGV[6] ~= "" and redis.call("GET", KEYS[3]) ~= ARGV[6] then
  return {3}
end
local rec = redis.call("GET", KEYS[2])
if rec and ARGV[5] == "1" then
  return {2, rec}
end
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  if not rec then
    redis.call("SET", KEYS[2], ARGV[3], "PX", ARGV[4])
  end
  return {1, rec}
end
return {0, redis.call("PTTL", KEYS[1]), redis.call("GET", KEYS[1])}`)

// finish stores the final record and releases the lock if still ours.
var finish = redis.NewScript(`
redis.call("SET", KEYS[2], ARGV[2], "PX", ARGV[3])
if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("DEL", KEYS[1]) end
return 1`)

// Claim implements idempotency.Store: peek, lock and read in one script.
func (s *Store) Claim(ctx context.Context, key string, a idempotency.ClaimArgs) (idempotency.Claim, error) {
	marker, err := s.gate(ctx)
	if err != nil {
		return idempotency.Claim{}, err
	}
	token := lockValue(s.token(), a.Until)
	lk, rk := s.keys(key)
	init, err := a.Initial.AppendJSON(make([]byte, 0, a.Initial.JSONSize()))
	if err != nil {
		return idempotency.Claim{}, err
	}
	mode := "0"
	if a.Peek {
		mode = "1"
	}
	keys := []string{lk, rk}
	if marker != "" {
		keys = append(keys, s.markerKey(key))
	}
	res, err := claim.Run(ctx, s.c, keys, token, a.LockTTL.Milliseconds(), init, a.Retention.Milliseconds(), mode, marker).Slice()
	if err != nil {
		return idempotency.Claim{}, fmt.Errorf("redis claim: %w", err)
	}
	if len(res) == 1 {
		// The marker changed: find out (and record) what happened; claim
		// again only if it was not a loss (another replica's fresh start).
		if _, err := s.check(ctx, s.markerKey(key)); err != nil {
			return idempotency.Claim{}, err
		}
		if m, err := s.gate(ctx); err != nil || m == marker {
			if err == nil {
				err = fmt.Errorf("redis: %w", idempotency.ErrStoreReset)
			}
			return idempotency.Claim{}, err
		}
		return s.Claim(ctx, key, a)
	}
	if len(res) < 2 {
		return idempotency.Claim{}, errors.New("redis claim: unexpected reply")
	}
	taken, _ := res[0].(int64)
	if taken == 2 {
		raw, _ := res[1].(string)
		c := idempotency.Claim{Found: true, Peeked: true}
		if err := json.Unmarshal([]byte(raw), &c.Record); err != nil {
			return idempotency.Claim{}, fmt.Errorf("redis record: %w", err)
		}
		return c, nil
	}
	if taken != 1 {
		left, _ := res[1].(int64)
		if left <= 0 {
			left = 1000
		}
		var holder string
		if len(res) > 2 {
			holder, _ = res[2].(string)
		}
		return idempotency.Claim{}, &idempotency.LockedError{
			Remaining: idempotency.LockWait(lockUntil(holder), time.Duration(left)*time.Millisecond, time.Now())}
	}
	c := idempotency.Claim{Token: token}
	if raw, ok := res[1].(string); ok {
		if err := json.Unmarshal([]byte(raw), &c.Record); err != nil {
			_ = s.Release(context.WithoutCancel(ctx), key, token)
			return idempotency.Claim{}, fmt.Errorf("redis record: %w", err)
		}
		c.Found = true
	}
	return c, nil
}

// Finish implements idempotency.Store: records and releases in one script.
func (s *Store) Finish(ctx context.Context, key, token string, r idempotency.Record, retention time.Duration) error {
	b, err := r.AppendJSON(make([]byte, 0, r.JSONSize()))
	if err != nil {
		return err
	}
	lk, rk := s.keys(key)
	if err := finish.Run(ctx, s.c, []string{lk, rk}, token, b, retention.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("redis finish: %w", err)
	}
	return nil
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, token string) error {
	lk, _ := s.keys(key)
	if err := release.Run(ctx, s.c, []string{lk}, token).Err(); err != nil {
		return fmt.Errorf("redis unlock: %w", err)
	}
	return nil
}

// lockValue is a lock's value: the unique token, then, when the holder
// knows it, its deadline in unix milliseconds, so a repeat can be told how
// long the running request may still take.
func lockValue(token string, until time.Time) string {
	if until.IsZero() {
		return token
	}
	return token + "|" + strconv.FormatInt(until.UnixMilli(), 10)
}

// lockUntil reads the deadline back from a lock's value (zero: none).
func lockUntil(v string) time.Time {
	_, ms, ok := strings.Cut(v, "|")
	if !ok {
		return time.Time{}
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

var release = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`)

// Save implements idempotency.Store.
func (s *Store) Save(ctx context.Context, key string, r idempotency.Record, ttl time.Duration) error {
	b, err := r.AppendJSON(make([]byte, 0, r.JSONSize()))
	if err != nil {
		return err
	}
	_, rk := s.keys(key)
	if err := s.c.Set(ctx, rk, b, ttl).Err(); err != nil {
		return fmt.Errorf("redis save: %w", err)
	}
	return nil
}

// Ping implements idempotency.Store.
func (s *Store) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }

// RateLimiter keeps per-client request budgets in Redis with GCRA
// (go-redis/redis_rate): one script reads and advances a budget, so
// replicas sharing the Redis never overshoot it together, as a read and a
// separate write would. redis_rate names its keys "rate:" + key; keys here
// are "rate:" + prefix + key.
type RateLimiter struct {
	c      redis.UniversalClient
	rl     *redis_rate.Limiter
	prefix string
}

// NewRateLimiter returns a limiter whose keys carry prefix.
func NewRateLimiter(c redis.UniversalClient, prefix string) *RateLimiter {
	return &RateLimiter{c: c, rl: redis_rate.NewLimiter(c), prefix: prefix}
}

func gcra(limit int, window time.Duration) redis_rate.Limit {
	return redis_rate.Limit{Rate: limit, Burst: limit, Period: window}
}

// Allow takes one request from key's budget of limit per window (a burst
// of limit at most, refilled evenly over the window); when it is spent,
// retryAfter says when the next request will fit.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	res, err := l.rl.Allow(ctx, l.prefix+key, gcra(limit, window))
	if err != nil {
		return false, 0, fmt.Errorf("redis rate limit: %w", err)
	}
	return res.Allowed > 0, max(res.RetryAfter, 0), nil
}

// refund gives one request back to a budget redis_rate keeps: its
// theoretical arrival time (seconds since 2017, redis_rate's epoch) moves
// back one emission interval, never before now. redis_rate's own AllowN
// with a cost of -1 would leave the key alone when less than one interval
// is in use, so the first refund of a full budget would be lost.
var refund = redis.NewScript(`
local tat = redis.call("GET", KEYS[1])
if not tat then return 0 end
local now = redis.call("TIME")
now = (now[1] - 1483228800) + (now[2] / 1000000)
local new_tat = tonumber(tat) - ARGV[1] / ARGV[2]
if new_tat > now then
  redis.call("SET", KEYS[1], new_tat, "EX", math.ceil(new_tat - now))
else
  redis.call("DEL", KEYS[1])
end
return 1`)

// Refund gives back one request Allow took (a request refused as invalid
// does not spend the client's budget).
func (l *RateLimiter) Refund(ctx context.Context, key string, limit int, window time.Duration) error {
	if err := refund.Run(ctx, l.c, []string{"rate:" + l.prefix + key}, window.Seconds(), limit).Err(); err != nil {
		return fmt.Errorf("redis rate refund: %w", err)
	}
	return nil
}
