package session

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// vendor accepts calls carrying the current token, counts logins, and can
// be told to expire the token or refuse every login.
type vendor struct {
	mu      sync.Mutex
	token   string
	logins  atomic.Int32
	refuse  bool
	refused int
}

func (v *vendor) login(ctx context.Context, do adapters.Doer) (Token, error) {
	resp, err := do.Do(ctx, &adapters.Call{Name: "login", Kind: adapters.Auth, Method: "POST", Path: "/login"})
	if err != nil {
		return Token{}, err
	}
	if resp.Status != 200 {
		return Token{}, &canonical.Error{Code: canonical.CodeUpstreamAuthFailed, Message: "login refused"}
	}
	return Token{Header: http.Header{"Token": {string(resp.Body)}}}, nil
}

func (v *vendor) Do(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c.Kind == adapters.Auth {
		if v.refuse {
			return &adapters.Response{Status: 401}, nil
		}
		v.logins.Add(1)
		v.token = "t" + string(rune('0'+v.logins.Load()))
		return &adapters.Response{Status: 200, Body: []byte(v.token)}, nil
	}
	if c.Header.Get("Token") != v.token || v.token == "" {
		v.refused++
		return &adapters.Response{Status: 401}, nil
	}
	return &adapters.Response{Status: 200}, nil
}

func (v *vendor) expire() { v.mu.Lock(); v.token = "expired"; v.mu.Unlock() }

func put() *adapters.Call {
	return &adapters.Call{Name: "put", Kind: adapters.Write, Method: "PUT", Path: "/x"}
}

func TestBurstSharesOneLogin(t *testing.T) {
	v := &vendor{}
	m := New(Options{Login: v.login})
	do := m.Wrap(v)
	call := func() {
		var wg sync.WaitGroup
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := do.Do(context.Background(), put())
				if err != nil || resp.Status != 200 {
					t.Errorf("%v %v", resp, err)
				}
			}()
		}
		wg.Wait()
	}
	call()
	if n := v.logins.Load(); n != 1 {
		t.Fatalf("first burst: %d logins", n)
	}
	v.expire()
	call()
	if n := v.logins.Load(); n != 2 {
		t.Errorf("burst after expiry: %d logins in all, want 2", n)
	}
}

func TestSecond401IsReturned(t *testing.T) {
	v := &vendor{}
	m := New(Options{Login: v.login})
	// A vendor that refuses every call even after a fresh login.
	always401 := adapters.DoerFunc(func(ctx context.Context, c *adapters.Call) (*adapters.Response, error) {
		if c.Kind == adapters.Auth {
			return v.Do(ctx, c)
		}
		return &adapters.Response{Status: 401}, nil
	})
	resp, err := m.Wrap(always401).Do(context.Background(), put())
	if err != nil || resp.Status != 401 {
		t.Fatalf("%v %v", resp, err)
	}
	if n := v.logins.Load(); n != 2 {
		t.Errorf("logins %d: want the first and exactly one re-login", n)
	}
}

func TestLoginErrorPropagates(t *testing.T) {
	v := &vendor{refuse: true}
	_, err := New(Options{Login: v.login}).Wrap(v).Do(context.Background(), put())
	var e *canonical.Error
	if !errors.As(err, &e) || e.Code != canonical.CodeUpstreamAuthFailed {
		t.Fatalf("err %v", err)
	}
}

func TestRenewBeforeExpiry(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Unix(1000, 0).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	v := &vendor{}
	renewals := 0
	m := New(Options{
		Login: func(ctx context.Context, do adapters.Doer) (Token, error) {
			tok, err := v.login(ctx, do)
			tok.Expires = clock().Add(10 * time.Minute)
			return tok, err
		},
		Renew: func(ctx context.Context, do adapters.Doer, old Token) (Token, error) {
			renewals++
			old.Expires = clock().Add(10 * time.Minute)
			return old, nil
		},
		RenewBefore: time.Minute,
		Now:         clock,
	})
	do := m.Wrap(v)
	if _, err := do.Do(context.Background(), put()); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(9*time.Minute + 30*time.Second)) // inside RenewBefore
	if _, err := do.Do(context.Background(), put()); err != nil {
		t.Fatal(err)
	}
	if renewals != 1 || v.logins.Load() != 1 {
		t.Errorf("renewals %d logins %d", renewals, v.logins.Load())
	}
}

func TestCancelledContext(t *testing.T) {
	v := &vendor{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(Options{Login: v.login}).Wrap(v).Do(ctx, put()); err == nil {
		t.Error("want the context error")
	}
}
