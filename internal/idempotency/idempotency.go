// Package idempotency implements Idempotency-Key handling (docs/api.md,
// Idempotency): a Guard holding the policy (claim, replay, resume, mismatch)
// over a small Store interface with two implementations, the in-memory store
// here and redisstore for replicas. Both pass storetest.Run.
//
// A key is claimed with an in-progress lock (SET NX with a TTL), so a
// concurrent duplicate is told to retry later and a crashed instance's claim
// expires. Targets are recorded as soon as each applies, so a retry after a
// crash resumes instead of writing twice. Records hold the fingerprint,
// the final response and per-target outcomes: never a secret in clear.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical/result"
)

// Sentinel errors, matched with errors.Is.
var (
	ErrInProgress  = errors.New("idempotency: request in progress")
	ErrKeyReused   = errors.New("idempotency: key reused with a different request")
	ErrUnavailable = errors.New("idempotency: store unavailable")
	ErrNotFound    = errors.New("idempotency: no record")
	ErrLocked      = errors.New("idempotency: key locked")
	ErrInvalidKey  = errors.New("idempotency: invalid key")
	// ErrStoreReset: the store lost its records (a Redis restart without
	// persistence, a flush), so a key it no longer knows may already have
	// been applied. Claims are refused for a while; FailOpen does not
	// apply, since proceeding is exactly what could write twice.
	ErrStoreReset = errors.New("idempotency: the store lost its records")
	// ErrVolatile: the store cannot keep its records across a restart and
	// the configuration does not accept that.
	ErrVolatile = errors.New("idempotency: the store is not durable")
)

// ResetError is ErrStoreReset with the end of the hold.
type ResetError struct{ Until time.Time }

func (e *ResetError) Error() string {
	return fmt.Sprintf("%s; keyed requests are refused until %s", ErrStoreReset, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrStoreReset) true.
func (e *ResetError) Unwrap() error { return ErrStoreReset }

// LockedError says how long the current lock still holds, or, when the
// running request told its deadline (Guard.BeginUntil), how long that
// request may still run: the wait worth suggesting to a repeat.
type LockedError struct{ Remaining time.Duration }

// LockWait is the wait to suggest to a repeat that found a lock: the
// running request's remaining time when its deadline until is known (never
// past the lock's own expiry, lockLeft), else the lock's expiry. A request
// already past its deadline is finishing: a short wait is suggested.
func LockWait(until time.Time, lockLeft time.Duration, now time.Time) time.Duration {
	if until.IsZero() {
		return lockLeft
	}
	left := until.Sub(now)
	if left <= 0 {
		return min(time.Second, lockLeft)
	}
	return min(left, lockLeft)
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("idempotency: key locked for %s", e.Remaining)
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// InProgressError is ErrInProgress with the wait to suggest.
type InProgressError struct{ RetryAfter time.Duration }

func (e *InProgressError) Error() string { return ErrInProgress.Error() }

// Unwrap makes errors.Is(err, ErrInProgress) true.
func (e *InProgressError) Unwrap() error { return ErrInProgress }

// Record is what a store keeps for one key.
type Record struct {
	Fingerprint string `json:"fp"`
	// Done: a final response is stored.
	Done       bool          `json:"done,omitempty"`
	Status     int           `json:"status,omitempty"`
	Body       []byte        `json:"body,omitempty"`
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Targets that applied so far, recorded as soon as each applies.
	Targets map[string]result.Target `json:"targets,omitempty"`
	// Started counts the runs begun under this key; the record is written
	// when the first one starts, so a crash before any target is recorded
	// still leaves a trace that a vendor may have been written.
	Started int `json:"started,omitempty"`
}

// ClaimArgs says how Store.Claim claims a key.
type ClaimArgs struct {
	// LockTTL bounds the claim: a crashed holder's claim expires.
	LockTTL time.Duration
	// Until is the claiming request's own deadline (zero: unknown); a
	// LockedError's Remaining is derived from it, so a repeat is told to
	// come back when the running request will have finished, not when its
	// lock would expire.
	Until time.Time
	// Initial is stored with the claim when there is no record, for
	// Retention, so even a run that dies before recording anything leaves a
	// trace that a vendor may have been written.
	Initial   Record
	Retention time.Duration
	// Peek: when a record exists, return it and take no lock, so a finished
	// request is replayed without queueing behind a lock, in the same single
	// step that claims a new key.
	Peek bool
}

// Claim is what Store.Claim found and took.
type Claim struct {
	// Record is the key's record when Found.
	Record Record
	Found  bool
	// Peeked: a record exists and no lock was taken (ClaimArgs.Peek).
	Peeked bool
	// Token identifies the lock taken, for Finish and Release; empty when
	// Peeked.
	Token string
}

// Store is the storage a Guard needs: one claim that reads the record and
// takes the lock in a single step (one Lua script on Redis, one critical
// section in memory), the records written while the claim is held, and the
// final record stored together with the release. A lock taken after the
// record was read would race with a request that finished in between, so
// the record is always read under the lock. Both stores pass
// storetest.Run.
type Store interface {
	// Claim takes key's lock and reads its record (see ClaimArgs for the
	// peek and the initial record); *LockedError when the lock is held.
	Claim(ctx context.Context, key string, a ClaimArgs) (Claim, error)
	// Save stores a record while the caller holds the claim: the targets
	// applied so far.
	Save(ctx context.Context, key string, r Record, retention time.Duration) error
	// Finish stores the final record and drops the lock if it is still
	// token's.
	Finish(ctx context.Context, key, token string, r Record, retention time.Duration) error
	// Release drops the lock if it is still token's, storing nothing.
	Release(ctx context.Context, key, token string) error
	// Ping reports whether the store is reachable (readiness).
	Ping(ctx context.Context) error
}

// Options configures a Guard.
type Options struct {
	// LockTTL bounds an in-progress claim; default 60s.
	LockTTL time.Duration
	// Retention keeps finished records; default 24h.
	Retention time.Duration
	// FailOpen proceeds without idempotency when the store fails.
	FailOpen bool
}

// Guard applies the idempotency policy over a Store.
type Guard struct {
	s Store
	o Options
}

// NewGuard returns a Guard.
func NewGuard(s Store, o Options) *Guard {
	if o.LockTTL <= 0 {
		o.LockTTL = 60 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	return &Guard{s: s, o: o}
}

// Ticket is one claimed run.
type Ticket struct {
	// Replay is a finished record whose every target applied: answer it.
	Replay *Record
	// Prior are targets an earlier run applied: report, do not run again.
	Prior map[string]result.Target
	// Uncertain: an earlier run under this key started and did not apply
	// every target, so a target not in Prior may still have been applied
	// (a crash, or a timeout after the vendor acted): verify before writing.
	Uncertain bool
	// Bypass: the store failed and the config says proceed without it.
	Bypass bool

	g     *Guard
	key   string
	token string

	mu  sync.Mutex // targets report concurrently
	rec Record
}

// ValidKey reports whether key is 1 to 255 visible ASCII characters.
func ValidKey(key string) bool {
	if len(key) == 0 || len(key) > 255 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// storeKey scopes a key per client; hashing keeps it bounded and opaque.
func storeKey(scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// Begin claims key for scope. See the package doc for the outcomes.
func (g *Guard) Begin(ctx context.Context, scope, key, fingerprint string) (*Ticket, error) {
	return g.BeginUntil(ctx, scope, key, fingerprint, time.Time{})
}

// BeginUntil is Begin for a request that will have finished by until (its
// longest target deadline): the claim records it, so a concurrent repeat's
// InProgressError suggests the time that request still has, not the lock
// TTL, which is a crash bound much longer than any request.
func (g *Guard) BeginUntil(ctx context.Context, scope, key, fingerprint string, until time.Time) (*Ticket, error) {
	if !ValidKey(key) {
		return nil, ErrInvalidKey
	}
	sk := storeKey(scope, key)
	a := ClaimArgs{LockTTL: g.o.LockTTL, Until: until, Initial: Record{Fingerprint: fingerprint, Started: 1},
		Retention: g.o.Retention, Peek: true}
	// Fast path: a finished, fully applied request is replayed without
	// taking the lock, so concurrent repeats never queue behind each other.
	c, err := g.s.Claim(ctx, sk, a)
	if err == nil && c.Peeked {
		rec := c.Record
		switch {
		case rec.Done && rec.Fingerprint != fingerprint:
			return nil, ErrKeyReused
		case rec.Done && allApplied(rec):
			return &Ticket{Replay: &rec}, nil
		}
		// Unfinished or partly applied: claim it to resume.
		a.Peek = false
		c, err = g.s.Claim(ctx, sk, a)
	}
	var le *LockedError
	switch {
	case errors.As(err, &le):
		// A finished request with a matching key may have released already;
		// only a held lock means in progress.
		return nil, &InProgressError{RetryAfter: le.Remaining}
	case err != nil:
		return g.unavailable(err)
	}
	rec := c.Record
	switch {
	case !c.Found:
		rec = a.Initial
	case rec.Fingerprint != fingerprint:
		_ = g.s.Release(context.WithoutCancel(ctx), sk, c.Token)
		return nil, ErrKeyReused
	case rec.Done && allApplied(rec):
		_ = g.s.Release(context.WithoutCancel(ctx), sk, c.Token)
		return &Ticket{Replay: &rec}, nil
	}
	t := &Ticket{g: g, key: sk, token: c.Token, rec: rec}
	if c.Found {
		t.Uncertain = true
		t.rec.Started++
	}
	if len(rec.Targets) > 0 {
		t.Prior = make(map[string]result.Target, len(rec.Targets))
		for k, v := range rec.Targets {
			t.Prior[k] = v
		}
	}
	return t, nil
}

func allApplied(r Record) bool { return FullyApplied(r.Status) }

// FullyApplied reports whether a final status means every target applied
// (2xx but 207): such a record is replayed verbatim and keeps no per-target
// results.
func FullyApplied(status int) bool { return status >= 200 && status < 300 && status != 207 }

func (g *Guard) unavailable(err error) (*Ticket, error) {
	if g.o.FailOpen && !errors.Is(err, ErrStoreReset) && !errors.Is(err, ErrVolatile) {
		return &Ticket{Bypass: true}, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// PriorFor reports a target an earlier run applied; nil-safe.
func (t *Ticket) PriorFor(target string) (result.Target, bool) {
	if t == nil || t.Prior == nil {
		return result.Target{}, false
	}
	r, ok := t.Prior[target]
	return r, ok
}

// Applied records one applied target at once, so a crash before Finish
// never leads to writing it twice.
func (t *Ticket) Applied(ctx context.Context, target string, r result.Target) error {
	if t == nil || t.Bypass || t.g == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rec.Targets == nil {
		t.rec.Targets = map[string]result.Target{}
	}
	t.rec.Targets[target] = r
	return t.g.s.Save(ctx, t.key, t.rec, t.g.o.Retention)
}

// Finish stores the final response and releases the claim.
func (t *Ticket) Finish(ctx context.Context, status int, body []byte, retryAfter time.Duration, targets map[string]result.Target) error {
	if t == nil || t.Bypass || t.g == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rec.Done, t.rec.Status, t.rec.Body, t.rec.RetryAfter = true, status, body, retryAfter
	if allApplied(t.rec) {
		// A fully applied record is only ever replayed verbatim from its
		// body; the per-target results repeat what the body says and
		// would double the record's size.
		t.rec.Targets = nil
	} else {
		if t.rec.Targets == nil {
			t.rec.Targets = map[string]result.Target{}
		}
		for k, v := range targets {
			t.rec.Targets[k] = v
		}
	}
	return t.g.s.Finish(ctx, t.key, t.token, t.rec, t.g.o.Retention)
}

// Abandon releases the claim and stores nothing new.
func (t *Ticket) Abandon(ctx context.Context) error {
	if t == nil || t.Bypass || t.g == nil {
		return nil
	}
	return t.g.s.Release(ctx, t.key, t.token)
}
