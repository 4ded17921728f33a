// Package storetest is the contract suite every idempotency.Store passes:
// the memory store, Redis and Redis Cluster run it against the one interface.
package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// Factory returns a fresh, empty store, and a function that moves the
// store's clock forward: the memory store's and miniredis's clocks are the
// test's, so expiry cases run without waiting. Nil means the store follows
// a real server's clock (a real Redis, a cluster), which the suite can
// only wait for.
type Factory func(t *testing.T) (idempotency.Store, func(time.Duration))

// Run runs the suite.
func Run(t *testing.T, factory Factory) {
	ctx := context.Background()
	var advance func(time.Duration)
	newStore := func(t *testing.T) idempotency.Store {
		s, adv := factory(t)
		advance = adv
		return s
	}
	tick := func() {
		if advance != nil {
			advance(20 * time.Millisecond)
			return
		}
		time.Sleep(10 * time.Millisecond) // a real server's TTLs run on its own clock
	}
	// claim takes key's lock (no peek), creating the initial record when
	// there is none.
	claim := func(s idempotency.Store, key string, ttl time.Duration) (idempotency.Claim, error) {
		return s.Claim(ctx, key, idempotency.ClaimArgs{LockTTL: ttl, Initial: idempotency.Record{Fingerprint: "fp", Started: 1}, Retention: time.Hour})
	}
	peek := func(s idempotency.Store, key string) (idempotency.Claim, error) {
		return s.Claim(ctx, key, idempotency.ClaimArgs{LockTTL: time.Minute, Initial: idempotency.Record{Fingerprint: "fp", Started: 1}, Retention: time.Hour, Peek: true})
	}
	// reclaim waits (on the store's clock) until key's lock, taken for 50ms,
	// has expired and claims it again.
	reclaim := func(t *testing.T, s idempotency.Store, key string) idempotency.Claim {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			c, err := claim(s, key, time.Minute)
			if err == nil {
				return c
			}
			if !errors.Is(err, idempotency.ErrLocked) || time.Now().After(deadline) {
				t.Fatalf("lock never expired: %v", err)
			}
			tick()
		}
	}
	t.Run("a claim is exclusive until released", func(t *testing.T) {
		s := newStore(t)
		c, err := claim(s, "k", time.Minute)
		if err != nil || c.Found || c.Peeked || c.Token == "" {
			t.Fatalf("first claim: %+v %v", c, err)
		}
		_, err = claim(s, "k", time.Minute)
		var le *idempotency.LockedError
		if !errors.As(err, &le) || !errors.Is(err, idempotency.ErrLocked) || le.Remaining <= 0 {
			t.Fatalf("second claim: %v", err)
		}
		if err := s.Release(ctx, "k", c.Token); err != nil {
			t.Fatal(err)
		}
		c2, err := claim(s, "k", time.Minute)
		if err != nil || !c2.Found || c2.Record.Fingerprint != "fp" || c2.Token == c.Token {
			t.Fatalf("after release: %+v %v", c2, err)
		}
		_ = s.Release(ctx, "k", c2.Token)
	})
	t.Run("a claim expires", func(t *testing.T) {
		s := newStore(t)
		if _, err := claim(s, "exp", 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		c := reclaim(t, s, "exp")
		_ = s.Release(ctx, "exp", c.Token)
	})
	t.Run("a stale release or finish does not drop a newer claim", func(t *testing.T) {
		s := newStore(t)
		old, err := claim(s, "stale", 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		newer := reclaim(t, s, "stale")
		if err := s.Release(ctx, "stale", old.Token); err != nil {
			t.Fatal(err)
		}
		if _, err := claim(s, "stale", time.Minute); !errors.Is(err, idempotency.ErrLocked) {
			t.Fatalf("the old holder's release dropped the new claim: %v", err)
		}
		if err := s.Finish(ctx, "stale", old.Token, idempotency.Record{Fingerprint: "fp", Done: true, Status: 200}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := claim(s, "stale", time.Minute); !errors.Is(err, idempotency.ErrLocked) {
			t.Fatalf("the old holder's finish dropped the new claim: %v", err)
		}
		_ = s.Release(ctx, "stale", newer.Token)
	})
	t.Run("saved and finished records round trip", func(t *testing.T) {
		s := newStore(t)
		c, err := peek(s, "rec")
		if err != nil || c.Found || c.Peeked || c.Token == "" {
			t.Fatalf("a peek at a new key claims it: %+v %v", c, err)
		}
		if got, err := peek(s, "rec"); err != nil || !got.Peeked || got.Record.Fingerprint != "fp" || got.Record.Started != 1 || got.Token != "" {
			t.Fatalf("the initial record: %+v %v", got, err)
		}
		r := idempotency.Record{Fingerprint: "fp", Started: 2,
			Targets: map[string]result.Target{"frontier": {Status: result.StatusApplied, Attempts: 2}}}
		if err := s.Save(ctx, "rec", r, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got, err := peek(s, "rec"); err != nil || got.Record.Started != 2 || got.Record.Targets["frontier"].Attempts != 2 || got.Record.Done {
			t.Fatalf("saved: %+v %v", got, err)
		}
		r = idempotency.Record{Fingerprint: "fp", Done: true, Status: 207, Body: []byte(`{"a":1}`), RetryAfter: 2 * time.Second,
			Targets: map[string]result.Target{"frontier": {Status: result.StatusApplied, Attempts: 2}}}
		if err := s.Finish(ctx, "rec", c.Token, r, time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := peek(s, "rec")
		if err != nil || got.Record.Fingerprint != "fp" || !got.Record.Done || got.Record.Status != 207 || string(got.Record.Body) != `{"a":1}` ||
			got.Record.RetryAfter != 2*time.Second || got.Record.Targets["frontier"].Attempts != 2 {
			t.Fatalf("finished: %+v %v", got, err)
		}
		again, err := claim(s, "rec", time.Minute) // finish released the lock
		if err != nil || !again.Found || again.Record.Status != 207 {
			t.Fatalf("claim after finish: %+v %v", again, err)
		}
		_ = s.Release(ctx, "rec", again.Token)
	})
	t.Run("records are copies: changing one read or written changes nothing stored", func(t *testing.T) {
		s := newStore(t)
		r := idempotency.Record{Fingerprint: "fp", Done: true, Status: 200, Body: []byte(`{"a":1}`),
			Targets: map[string]result.Target{"frontier": {Status: result.StatusApplied}}}
		if err := s.Save(ctx, "copy", r, time.Minute); err != nil {
			t.Fatal(err)
		}
		r.Body[2] = 'b'
		r.Targets["akana"] = result.Target{Status: result.StatusFailed}
		got, err := peek(s, "copy")
		if err != nil {
			t.Fatal(err)
		}
		got.Record.Body[2] = 'c'
		got.Record.Targets["volterra"] = result.Target{Status: result.StatusFailed}
		again, err := peek(s, "copy")
		if err != nil || string(again.Record.Body) != `{"a":1}` || len(again.Record.Targets) != 1 {
			t.Fatalf("stored record changed: %+v %v", again, err)
		}
	})
	t.Run("concurrent claims: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := claim(s, "race", time.Minute); err == nil {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d winners", wins.Load())
		}
	})
	t.Run("guard: 200 concurrent identical requests run once", func(t *testing.T) {
		g := idempotency.NewGuard(newStore(t), idempotency.Options{})
		var runs, inProgress atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tk, err := g.Begin(ctx, "client", "key-200", "fp")
				switch {
				case errors.Is(err, idempotency.ErrInProgress):
					inProgress.Add(1)
				case err != nil:
					t.Error(err)
				case tk.Replay != nil:
				default:
					runs.Add(1)
					_ = tk.Finish(ctx, 200, []byte(`{}`), 0, map[string]result.Target{"x": {Status: result.StatusApplied}})
				}
			}()
		}
		wg.Wait()
		if runs.Load() != 1 {
			t.Fatalf("%d runs (in progress %d)", runs.Load(), inProgress.Load())
		}
	})
	t.Run("guard: crash resumes from applied targets", func(t *testing.T) {
		s := newStore(t)
		g := idempotency.NewGuard(s, idempotency.Options{LockTTL: 50 * time.Millisecond})
		tk, err := g.Begin(ctx, "c", "crash", "fp")
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.Applied(ctx, "akana", result.Target{Status: result.StatusApplied}); err != nil {
			t.Fatal(err)
		}
		// no Finish: the process died. Once the lock expires, a retry resumes.
		deadline := time.Now().Add(3 * time.Second)
		for {
			tk2, err := g.Begin(ctx, "c", "crash", "fp")
			if err == nil {
				if _, ok := tk2.Prior["akana"]; !ok || !tk2.Uncertain {
					t.Fatalf("prior %v uncertain %v", tk2.Prior, tk2.Uncertain)
				}
				return
			}
			if !errors.Is(err, idempotency.ErrInProgress) || time.Now().After(deadline) {
				t.Fatal(err)
			}
			tick()
		}
	})
	t.Run("guard: a run that dies before recording anything leaves a trace", func(t *testing.T) {
		g := idempotency.NewGuard(newStore(t), idempotency.Options{LockTTL: 50 * time.Millisecond})
		tk, err := g.Begin(ctx, "c", "silent-crash", "fp")
		if err != nil || tk.Uncertain {
			t.Fatalf("first run: %+v %v", tk, err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			tk2, err := g.Begin(ctx, "c", "silent-crash", "fp")
			if err == nil {
				if !tk2.Uncertain || len(tk2.Prior) != 0 {
					t.Fatalf("retry: uncertain %v prior %v", tk2.Uncertain, tk2.Prior)
				}
				return
			}
			if !errors.Is(err, idempotency.ErrInProgress) || time.Now().After(deadline) {
				t.Fatal(err)
			}
			tick()
		}
	})
	t.Run("guard: scopes and fingerprints", func(t *testing.T) {
		g := idempotency.NewGuard(newStore(t), idempotency.Options{})
		tk, err := g.Begin(ctx, "a", "k", "fp1")
		if err != nil {
			t.Fatal(err)
		}
		_ = tk.Finish(ctx, 200, []byte(`{"ok":1}`), 0, nil)
		if _, err := g.Begin(ctx, "a", "k", "fp2"); !errors.Is(err, idempotency.ErrKeyReused) {
			t.Errorf("other fingerprint: %v", err)
		}
		rep, err := g.Begin(ctx, "a", "k", "fp1")
		if err != nil || rep.Replay == nil || string(rep.Replay.Body) != `{"ok":1}` {
			t.Errorf("replay: %+v %v", rep, err)
		}
		other, err := g.Begin(ctx, "b", "k", "fp2")
		if err != nil || other.Replay != nil {
			t.Errorf("client b must not see client a's record: %+v %v", other, err)
		}
		if _, err := g.Begin(ctx, "a", "bad key", "fp"); !errors.Is(err, idempotency.ErrInvalidKey) {
			t.Errorf("invalid key: %v", err)
		}
	})
	t.Run("guard: while a run holds the key, a repeat is in progress, and a reused key is refused", func(t *testing.T) {
		g := idempotency.NewGuard(newStore(t), idempotency.Options{})
		tk, err := g.Begin(ctx, "c", "held", "fp")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Begin(ctx, "c", "held", "fp"); !errors.Is(err, idempotency.ErrInProgress) {
			t.Fatalf("repeat during the run: %v", err)
		}
		if err := tk.Finish(ctx, 200, []byte(`{"done":1}`), 0, map[string]result.Target{"x": {Status: result.StatusApplied}}); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Begin(ctx, "c", "held", "other"); !errors.Is(err, idempotency.ErrKeyReused) {
			t.Fatalf("other fingerprint after the run: %v", err)
		}
	})
	t.Run("guard: a partial (207) run is resumed, not replayed, and keeps its applied targets", func(t *testing.T) {
		g := idempotency.NewGuard(newStore(t), idempotency.Options{})
		tk, err := g.Begin(ctx, "c", "partial", "fp")
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.Finish(ctx, 207, []byte(`{}`), 0, map[string]result.Target{"akana": {Status: result.StatusApplied}}); err != nil {
			t.Fatal(err)
		}
		tk2, err := g.Begin(ctx, "c", "partial", "fp")
		if err != nil || tk2.Replay != nil {
			t.Fatalf("retry of a 207: %+v %v", tk2, err)
		}
		if _, ok := tk2.PriorFor("akana"); !ok || !tk2.Uncertain {
			t.Fatalf("prior %v uncertain %v", tk2.Prior, tk2.Uncertain)
		}
		// The resumed run holds the key until it finishes.
		if _, err := g.Begin(ctx, "c", "partial", "fp"); !errors.Is(err, idempotency.ErrInProgress) {
			t.Fatalf("repeat during the resumed run: %v", err)
		}
		if err := tk2.Finish(ctx, 200, []byte(`{"all":1}`), 0, map[string]result.Target{"frontier": {Status: result.StatusApplied}}); err != nil {
			t.Fatal(err)
		}
		rep, err := g.Begin(ctx, "c", "partial", "fp")
		if err != nil || rep.Replay == nil || string(rep.Replay.Body) != `{"all":1}` {
			t.Fatalf("replay after the resumed run: %+v %v", rep, err)
		}
	})
	t.Run("peek returns a record without locking; a claim locks and reads it", func(t *testing.T) {
		s := newStore(t)
		first, err := peek(s, "peek")
		if err != nil || first.Peeked || first.Found || first.Token == "" {
			t.Fatalf("first claim: %+v %v", first, err)
		}
		if err := s.Finish(ctx, "peek", first.Token, idempotency.Record{Fingerprint: "fp", Done: true, Status: 200, Started: 1}, time.Hour); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // peeking twice: no lock was left behind
			p, err := peek(s, "peek")
			if err != nil || !p.Peeked || !p.Found || !p.Record.Done || p.Record.Status != 200 || p.Token != "" {
				t.Fatalf("peek %d: %+v %v", i, p, err)
			}
		}
		l, err := claim(s, "peek", time.Minute)
		if err != nil || l.Peeked || !l.Found || l.Record.Status != 200 || l.Token == "" {
			t.Fatalf("locking claim: %+v %v", l, err)
		}
		var le *idempotency.LockedError
		if _, err := claim(s, "peek", time.Minute); !errors.As(err, &le) {
			t.Fatalf("second locking claim: %v", err)
		}
		if err := s.Release(ctx, "peek", l.Token); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("guard: a repeat is told the running request's remaining deadline, not the lock TTL", func(t *testing.T) {
		g := idempotency.NewGuard(newStore(t), idempotency.Options{LockTTL: time.Hour})
		tk, err := g.BeginUntil(ctx, "c", "deadline", "fp", time.Now().Add(4*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tk.Abandon(ctx) }()
		_, err = g.Begin(ctx, "c", "deadline", "fp")
		var ip *idempotency.InProgressError
		if !errors.As(err, &ip) {
			t.Fatalf("repeat: %v", err)
		}
		if ip.RetryAfter <= 2*time.Second || ip.RetryAfter > 4*time.Second {
			t.Fatalf("retry after %s, want the running request's remaining ~4s (lock TTL 1h)", ip.RetryAfter)
		}
		// Without a deadline the lock's own expiry is all there is to tell.
		tk2, err := g.Begin(ctx, "c", "no-deadline", "fp")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tk2.Abandon(ctx) }()
		if _, err := g.Begin(ctx, "c", "no-deadline", "fp"); !errors.As(err, &ip) || ip.RetryAfter < 59*time.Minute {
			t.Fatalf("repeat without a deadline: %v", err)
		}
	})
}
