package config

import (
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
)

// The defaults of a vendor's resilience settings (vendors.<name>.*), in one
// place: config fills them into an unset key, and upstream.New into a zero
// Options field, so a client built in a test behaves like a configured one.
const (
	DefaultAttemptTimeout     = 5 * time.Second
	DefaultDeadline           = 15 * time.Second
	DefaultRetryMax           = 3 // config only: upstream's zero Max means no retries
	DefaultRetryMinWait       = 50 * time.Millisecond
	DefaultRetryMaxWait       = 2 * time.Second
	DefaultMaxRetryAfter      = adapters.DefaultMaxRetryAfter
	DefaultBreakerFailures    = 5
	DefaultBreakerOpenFor     = 30 * time.Second
	DefaultBreakerHalfOpenMax = 1
	DefaultPoolMaxIdle        = 256
	DefaultPoolIdleTimeout    = 90 * time.Second
)
