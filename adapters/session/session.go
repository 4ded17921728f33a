// Package session shares one vendor login between all concurrent calls: it
// logs in lazily, renews before expiry, and on a 401 logs in again once and
// resends the call once. A burst of calls after expiry causes one login, not
// one per call (singleflight).
package session

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/identity-gateway/identity-gateway/adapters"
)

// Token is what a login yields: the headers every call must carry (a token
// header, cookies, a CSRF header) and when it stops being valid.
type Token struct {
	Header http.Header
	// Expires is when the vendor stops accepting the token; zero: unknown,
	// trusted until a 401.
	Expires time.Time
}

// LoginFunc obtains a fresh token using do (which is the per-request Doer,
// so logins are recorded, retried and traced like any call).
type LoginFunc func(ctx context.Context, do adapters.Doer) (Token, error)

// RenewFunc extends a token before it expires; optional.
type RenewFunc func(ctx context.Context, do adapters.Doer, old Token) (Token, error)

// Options configures a Manager.
type Options struct {
	Login LoginFunc
	Renew RenewFunc
	// RenewBefore is how long before Expires the token is renewed (or, with
	// no RenewFunc, replaced by a new login). Default 30s.
	RenewBefore time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Manager holds one vendor's current token. The zero value is not usable;
// build it with New. A Manager is safe for concurrent use.
type Manager struct {
	o     Options
	group singleflight.Group

	mu  sync.Mutex
	tok *Token
	// gen counts the tokens stored so far. A caller remembers the
	// generation its token came from, so that all callers refused with the
	// same token share one login, and a caller whose token was already
	// replaced just takes the replacement.
	gen uint64
}

// New returns a Manager.
func New(o Options) *Manager {
	if o.RenewBefore <= 0 {
		o.RenewBefore = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Manager{o: o}
}

// Wrap returns a Doer that adds the session's headers to every call except
// Auth calls, and handles expiry and one 401 retry.
func (m *Manager) Wrap(next adapters.Doer) adapters.Doer {
	return adapters.DoerFunc(func(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
		if c.Kind == adapters.Auth {
			return next.Do(ctx, c)
		}
		tok, gen, err := m.current(ctx, next)
		if err != nil {
			return nil, err
		}
		resp, err := next.Do(ctx, withToken(c, tok))
		if err != nil || resp.Status != http.StatusUnauthorized {
			return resp, err
		}
		// The vendor refused the token: log in again (once, shared by every
		// caller refused with this token) and resend once. A second 401 is
		// the caller's to map.
		tok, _, err = m.login(ctx, next, gen)
		if err != nil {
			return nil, err
		}
		return next.Do(ctx, withToken(c, tok))
	})
}

// Invalidate drops the current token, so the next call logs in.
func (m *Manager) Invalidate() {
	m.mu.Lock()
	m.tok = nil
	m.gen++
	m.mu.Unlock()
}

// withToken is c with the token's headers: a header map of its own, whose
// value slices are shared with c and the token, since nothing below a Doer
// changes a header's values in place (Call.Clone copied every one, on every
// vendor call).
func withToken(c *adapters.Call, tok Token) *adapters.Call {
	cp := *c
	cp.Header = make(http.Header, len(c.Header)+len(tok.Header))
	maps.Copy(cp.Header, c.Header)
	maps.Copy(cp.Header, tok.Header)
	// Clipped, so an append by a Doer below copies instead of writing
	// into c's array.
	cp.Secrets = slices.Clip(c.Secrets)
	return &cp
}

// current returns a valid token and its generation, logging in or renewing
// when needed.
func (m *Manager) current(ctx context.Context, do adapters.Doer) (Token, uint64, error) {
	m.mu.Lock()
	tok, gen := m.tok, m.gen
	m.mu.Unlock()
	now := m.o.Now()
	if tok != nil && (tok.Expires.IsZero() || now.Before(tok.Expires.Add(-m.o.RenewBefore))) {
		return *tok, gen, nil
	}
	if tok != nil && m.o.Renew != nil && now.Before(tok.Expires) {
		old := *tok
		t, g, err := m.shared(ctx, gen, func(ctx context.Context) (Token, error) { return m.o.Renew(ctx, do, old) })
		if err == nil {
			return t, g, nil
		}
		if ctx.Err() != nil {
			return Token{}, 0, err
		}
		// Renewal failed (the vendor may have dropped the session early):
		// fall through to a fresh login, shared under the same generation.
	}
	return m.login(ctx, do, gen)
}

// login logs in once for every caller that saw generation gen.
func (m *Manager) login(ctx context.Context, do adapters.Doer, gen uint64) (Token, uint64, error) {
	return m.shared(ctx, gen, func(ctx context.Context) (Token, error) { return m.o.Login(ctx, do) })
}

type flight struct {
	tok Token
	gen uint64
}

// shared runs fn once for all callers that saw generation gen; callers that
// saw an older generation get the token that replaced it.
func (m *Manager) shared(ctx context.Context, gen uint64, fn func(context.Context) (Token, error)) (Token, uint64, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, 0, err
	}
	if t, g, ok := m.newer(gen); ok {
		return t, g, nil
	}
	ch := m.group.DoChan(strconv.FormatUint(gen, 10), func() (any, error) {
		// A caller can read gen, then lose the race to a flight that
		// stores the next token and leaves the group before this one
		// starts: it must not log in a second time.
		if t, g, ok := m.newer(gen); ok {
			return flight{t, g}, nil
		}
		// The login serves every waiter, so one waiter going away (a
		// client that disconnected) must not cancel it for the others; the
		// first caller's deadline still bounds it, and each waiter stops
		// waiting when its own context ends.
		lctx := context.WithoutCancel(ctx)
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			lctx, cancel = context.WithDeadline(lctx, d)
			defer cancel()
		}
		t, err := fn(lctx)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.gen == gen {
			m.tok = &t
			m.gen++
		}
		return flight{t, m.gen}, nil
	})
	select {
	case <-ctx.Done():
		return Token{}, 0, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return Token{}, 0, r.Err
		}
		f := r.Val.(flight)
		return f.tok, f.gen, nil
	}
}

// newer returns the current token when it is newer than generation gen.
func (m *Manager) newer(gen uint64) (Token, uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen != gen && m.tok != nil {
		return *m.tok, m.gen, true
	}
	return Token{}, 0, false
}
