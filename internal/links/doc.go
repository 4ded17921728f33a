// Package links keeps identity links: for a caller's own (canonical) user id,
// the user's account id at each target, with how each link was made (config,
// api, resolved, migration), when and by which client, and the attributes
// (e-mail, user name) remembered for resolving targets not linked yet, and
// a small held JSON object (bounded, its changes counted) a front door keeps
// for the id: SCIM's attributes no target holds.
//
// A vendor account belongs to at most one canonical id: every Store refuses
// a link that would give an account a second owner with a *ConflictError
// naming the owner. Two stores implement the contract: MemoryStore (one
// process, `gateway dev`, seeded from the config's users map) and PGStore
// (PostgreSQL through pgx, schema migrations embedded and applied at start,
// an in-process cache kept fresh across replicas with LISTEN/NOTIFY). The
// contract tests in linkstest run against both.
package links
