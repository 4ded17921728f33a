// Package auth authenticates API clients beyond static API keys: OIDC/JWT
// bearer tokens (discovery and signature checks through coreos/go-oidc, a
// JWKS cache refreshed on an unknown kid at a bounded rate, precise
// invalid_token reasons) and mTLS client certificates (names a client can be
// matched by: subject, DNS, URI (SPIFFE) and e-mail SANs). It also maps a
// token's scopes or roles to the gateway's grants.
package auth
