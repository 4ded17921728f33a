package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// errUnknownKid is a kid the JWKS does not hold, even after a refresh (or
// with the refresh held back by its rate limit).
var errUnknownKid = errors.New("unknown kid")

// errBadSignature is a signature no key of the JWKS verifies.
var errBadSignature = errors.New("bad signature")

// keySet is an oidc.KeySet over the issuer's JWKS. Unlike go-oidc's
// RemoteKeySet, which fetches the JWKS again on every token with an unknown
// kid, it refreshes at most once per minRefresh, so a stream of tokens with
// made-up kids cannot turn the gateway into a load generator against the
// identity provider.
type keySet struct {
	issuer     string
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time

	mu          sync.Mutex
	jwksURL     string
	keys        []jose.JSONWebKey
	lastRefresh time.Time // zero: never fetched
	lastErr     error     // the last fetch's error, nil after a success
	fetches     int
	// refreshing serialises fetches; waiters take the fresh keys.
	refreshing chan struct{}
}

// verifyState carries the key set's own verdict out of go-oidc's verifier,
// which flattens the KeySet's error into a string.
type verifyState struct{ err error }

type verifyStateKey struct{}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	payload, err := k.verify(ctx, raw)
	if st, ok := ctx.Value(verifyStateKey{}).(*verifyState); ok {
		st.err = err
	}
	return payload, err
}

func (k *keySet) verify(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, allSigningAlgs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSignature, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: one signature expected", errBadSignature)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, err := k.cached(ctx)
	if err != nil {
		return nil, err
	}
	if p, found, err := verifyWith(jws, keys, kid); found {
		return p, err
	}
	keys, refreshed, err := k.refresh(ctx)
	if err != nil {
		return nil, err
	}
	if refreshed {
		if p, found, err := verifyWith(jws, keys, kid); found {
			return p, err
		}
	}
	return nil, errUnknownKid
}

// verifyWith tries the keys with the token's kid (every key when the token
// names none). found is false when no key has that kid.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) ([]byte, bool, error) {
	found := false
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		found = true
		if p, err := jws.Verify(&key); err == nil {
			return p, true, nil
		}
	}
	if found {
		return nil, true, errBadSignature
	}
	return nil, false, nil
}

// cached returns the keys, fetching them the first time.
func (k *keySet) cached(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	keys, fetched := k.keys, !k.lastRefresh.IsZero()
	k.mu.Unlock()
	if fetched {
		return keys, nil
	}
	keys, _, err := k.refresh(ctx)
	return keys, err
}

// refresh fetches the JWKS unless the last fetch was less than minRefresh
// ago (then it returns the cached keys and refreshed=false). Concurrent
// callers share one fetch.
func (k *keySet) refresh(ctx context.Context) ([]jose.JSONWebKey, bool, error) {
	for {
		k.mu.Lock()
		if !k.lastRefresh.IsZero() && k.now().Sub(k.lastRefresh) < k.minRefresh {
			keys, lastErr := k.keys, k.lastErr
			k.mu.Unlock()
			if len(keys) == 0 && lastErr != nil {
				// The identity provider is down and no key was ever read:
				// not the token's fault.
				return nil, false, fmt.Errorf("jwks: %w", lastErr)
			}
			return keys, false, nil
		}
		if wait := k.refreshing; wait != nil {
			k.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		done := make(chan struct{})
		k.refreshing = done
		k.mu.Unlock()

		keys, err := k.fetch(ctx)
		k.mu.Lock()
		k.refreshing = nil
		k.fetches++
		// A failed fetch counts against the rate limit too: an identity
		// provider that is down is not asked again on every request.
		k.lastRefresh = k.now()
		k.lastErr = err
		if err == nil {
			k.keys = keys
		} else {
			keys = k.keys
		}
		k.mu.Unlock()
		close(done)
		if err != nil && len(keys) == 0 {
			return nil, false, fmt.Errorf("jwks: %w", err)
		}
		return keys, err == nil, nil
	}
}

// fetch discovers the JWKS URL (once) and reads the key set.
func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx = oidc.ClientContext(ctx, k.client)
	k.mu.Lock()
	u := k.jwksURL
	k.mu.Unlock()
	if u == "" {
		p, err := oidc.NewProvider(ctx, k.issuer)
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		var meta struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
			return nil, errors.New("discovery: the issuer's metadata has no jwks_uri")
		}
		u = meta.JWKSURI
		k.mu.Lock()
		k.jwksURL = u
		k.mu.Unlock()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET jwks_uri: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	// Only public keys verify tokens: a symmetric key in the set would let
	// anyone who reads the JWKS sign.
	keys := set.Keys[:0]
	for _, key := range set.Keys {
		if key.IsPublic() && key.Use != "enc" {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// Fetches reports how many times the JWKS was fetched (tests, metrics).
func (k *keySet) Fetches() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetches
}

var allSigningAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}
