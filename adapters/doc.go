// Package adapters is the contract every vendor adapter implements, and the
// small set of helpers they share.
//
// An adapter turns one canonical update into the vendor's own calls. It never
// talks HTTP itself: Apply receives a Doer per request, builds Calls (method,
// path, headers, exact body bytes) and interprets the Responses. The Doer the
// dispatcher hands in records calls for the result, serves dry runs, and sits
// on top of the resilience stack (breaker, retries, tracing). So Open stays
// free of I/O, dry run and call recording live in one place, and adapter unit
// tests need no network.
//
// Writing an adapter (the whole recipe):
//
//  1. adapters/<v>/: doc.go (API version, endpoints, field table, quirks),
//     config.go (Config with yaml tags, Open), <v>.go (Capabilities, Apply),
//     wire.go (the vendor's JSON shapes), auth.go / errors.go when needed.
//  2. adapters/<v>/<v>sim/: a stdlib-only simulator of the vendor contract.
//  3. One line in adapters/builtin.
//  4. A vendors.<v> block in gateway.yaml.
//
// Adapters report failures as a *canonical.Error wrapped with %w. Generic
// HTTP status mapping (docs/api.md, Codes) is StatusError; vendor-specific
// signals go through the optional Classifier and Preflighter interfaces,
// which the dispatcher asserts where it needs them.
package adapters
