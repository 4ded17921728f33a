// Package canonical is the product's language: the one user-update request every
// client speaks (docs/api.md, The update), its validation, and the canonical
// error codes with their HTTP statuses. Its sub-packages hold the rest, each
// importing canonical and nothing above it:
//
//   - canonical/decode turns a request body into a [Request], strictly;
//   - canonical/result is the per-target and overall outcome (The result);
//   - canonical/problem renders an [Error] as RFC 9457 problem+json.
//
// Rules that hold everywhere:
//   - Partial update: an absent field is left unchanged, a present field is set.
//     [Opt] records presence, so "absent" and "zero value" never blur.
//   - null and unknown fields are rejected by the decoder, so a typo never
//     silently drops a change.
//   - Every bad field is reported at once, each with its JSON path.
//   - Secrets ([Secret]) render as "[redacted]" through fmt, slog and JSON; only
//     [Secret.Reveal] yields the value, and only adapters call it when they build a
//     vendor body.
//
// The package imports the standard library only: it sits at the bottom of the
// dependency graph.
package canonical
