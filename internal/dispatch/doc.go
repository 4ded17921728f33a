// Package dispatch runs one canonical update against its targets.
//
// In order, and before any vendor is called: resolve the targets (request,
// else the route default) and check the client's ACL; check extensions and
// vendor ids; apply the unsupported-field policy centrally from each
// adapter's capabilities and Preflight (reject: 422 listing every target and
// field; skip: drop them and report skipped_fields); then take the
// idempotency ticket. Only then does it fan out, one goroutine per target
// under that target's deadline, and merge the per-target results into the
// HTTP status of docs/api.md (The result).
//
// The Doer each adapter receives is built here per request: it records the
// calls for the result and, in a dry run, sends Read and Auth calls but
// answers Write calls itself with a synthetic response, so the planned calls
// are exactly the calls a real run would make. Credentials and secret body
// members are redacted wherever a call is shown.
package dispatch
