// Package result is the outcome of an update (docs/api.md, The result): one
// [Target] per target (applied, planned, skipped or failed, with the calls
// made), and the overall [Result] whose Finish gives the HTTP status and
// Retry-After the gateway answers with.
package result
