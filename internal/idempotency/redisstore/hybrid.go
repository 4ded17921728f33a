package redisstore

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// directInFlight is how many store commands may be in flight before the
// next one joins the auto-pipeliner's batch instead of taking a pooled
// connection of its own. At low load a batch saves little: each command
// is handed to the pipeliner's goroutine and back, and in half duplex it
// waits out the batch before it. A four-target update at one connection
// took 4.4-4.7 ms with every command batched and 1.8-2.0 ms with this
// limit (1.85 ms with none batched). At 64 connections the count often
// drops to the limit (7,000 updates a second, two commands each, of a few
// hundred microseconds, make about four on average), so some go straight
// there too: the Redis store's throughput was 0.71-0.75x the memory
// store's, against 0.74-0.78x with every command batched (BENCHMARKS.md,
// session 19).
const directInFlight = 4

// Hybrid returns a client that sends the store's and the account locks'
// commands (their scripts and Set) straight on direct, one pooled
// connection each, while fewer than directInFlight are in flight, and
// through batched (an auto-pipeliner on the same Redis, see Batched) once
// more are. Every other method, and Close, is batched's. The commands of
// one caller are sequential, each waiting for its reply, so the two paths
// never reorder a caller's commands.
func Hybrid(direct, batched redis.UniversalClient) redis.UniversalClient {
	return newHybrid(direct, batched, directInFlight)
}

func newHybrid(direct, batched redis.UniversalClient, limit int64) *hybrid {
	return &hybrid{UniversalClient: batched, direct: direct, limit: limit}
}

type hybrid struct {
	redis.UniversalClient // batched
	direct                redis.UniversalClient
	limit                 int64
	inFlight              atomic.Int64
}

// pick counts one more command in flight (done takes it off) and names
// the client that sends it.
func (h *hybrid) pick() redis.UniversalClient {
	if h.inFlight.Add(1) <= h.limit {
		return h.direct
	}
	return h.UniversalClient
}

func (h *hybrid) done() { h.inFlight.Add(-1) }

// EvalSha implements redis.Scripter (Script.Run's first try).
func (h *hybrid) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	defer h.done()
	return h.pick().EvalSha(ctx, sha1, keys, args...)
}

// Eval implements redis.Scripter (Script.Run when Redis lacks the script).
func (h *hybrid) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	defer h.done()
	return h.pick().Eval(ctx, script, keys, args...)
}

// Set is Store.Save's command.
func (h *hybrid) Set(ctx context.Context, key string, value any, expiration time.Duration) *redis.StatusCmd {
	defer h.done()
	return h.pick().Set(ctx, key, value, expiration)
}
