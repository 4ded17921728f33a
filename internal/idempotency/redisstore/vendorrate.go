package redisstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// AllowRate takes one call from key's budget of perSecond calls a second
// (a burst of burst at most): the vendor rate limits (upstream.Budget),
// shared by every replica on this Redis. redis_rate counts whole requests
// per period, so a fractional rate is expressed per 1000 seconds.
func (l *RateLimiter) AllowRate(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration, error) {
	lim := redis_rate.Limit{Rate: max(1, int(math.Round(perSecond*1000))), Burst: max(1, burst), Period: 1000 * time.Second}
	res, err := l.rl.Allow(ctx, l.prefix+key, lim)
	if err != nil {
		return false, 0, fmt.Errorf("redis vendor rate limit: %w", err)
	}
	return res.Allowed > 0, max(res.RetryAfter, 0), nil
}
