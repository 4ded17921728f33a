// Package session shares one vendor login between all concurrent calls: it
// logs in lazily, renews before expiry, and on a 401 logs in again once and
// resends the call once. A burst of calls after expiry causes one login, not
// one per call (singleflight).
package session

import (
	"context"
	"fmt"
	"net/http"
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
// build it with New.
type Manager struct {
	o     Options
	group singleflight.Group

	mu  sync.Mutex
	tok *Token
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
		// The vendor refused the token: log in again (once, shared) and
		// resend once. A second 401 is the caller's to map.
		tok, err = m.refresh(ctx, next, gen)
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

func withToken(c *adapters.Call, tok Token) *adapters.Call {
	cp := c.Clone()
	for k, vs := range tok.Header {
		cp.Header[k] = append([]string(nil), vs...)
	}
	return cp
}

// current returns a valid token, logging in or renewing when needed.
func (m *Manager) current(ctx context.Context, do adapters.Doer) (Token, uint64, error) {
	m.mu.Lock()
	tok, gen := m.tok, m.gen
	m.mu.Unlock()
	now := m.o.Now()
	if tok != nil && (tok.Expires.IsZero() || now.Before(tok.Expires.Add(-m.o.RenewBefore))) {
		return *tok, gen, nil
	}
	if tok != nil && m.o.Renew != nil && now.Before(tok.Expires) {
		t, err := m.shared(ctx, do, gen, func(ctx context.Context) (Token, error) { return m.o.Renew(ctx, do, *tok) })
		if err == nil {
			return t, gen + 1, nil
		}
		// Renewal failed; fall through to a fresh login.
		m.mu.Lock()
		gen = m.gen
		m.mu.Unlock()
	}
	t, err := m.refreshAt(ctx, do, gen)
	return t, gen + 1, err
}

func (m *Manager) refresh(ctx context.Context, do adapters.Doer, gen uint64) (Token, error) {
	return m.refreshAt(ctx, do, gen)
}

func (m *Manager) refreshAt(ctx context.Context, do adapters.Doer, gen uint64) (Token, error) {
	return m.shared(ctx, do, gen, func(ctx context.Context) (Token, error) { return m.o.Login(ctx, do) })
}

// shared runs fn once for all callers that saw generation gen; callers that
// saw an older generation get the token that replaced it.
func (m *Manager) shared(ctx context.Context, do adapters.Doer, gen uint64, fn func(context.Context) (Token, error)) (Token, error) {
	m.mu.Lock()
	if m.gen != gen && m.tok != nil {
		t := *m.tok
		m.mu.Unlock()
		return t, nil
	}
	m.mu.Unlock()
	v, err, _ := m.group.Do(fmt.Sprint(gen), func() (any, error) {
		// The login outlives any one caller's cancellation only as long as
		// that caller's context; the first caller's deadline bounds it.
		t, err := fn(ctx)
		if err != nil {
			return Token{}, err
		}
		m.mu.Lock()
		if m.gen == gen {
			m.tok = &t
			m.gen++
		}
		m.mu.Unlock()
		return t, nil
	})
	if err != nil {
		return Token{}, err
	}
	return v.(Token), nil
}
