// Package canonical is the product's language: the one user-update request every
// client speaks (docs/api.md, The update), the per-target result (The result), the
// canonical error codes and their HTTP statuses, and RFC 9457 problem rendering.
//
// Rules that hold everywhere:
//   - Partial update: an absent field is left unchanged, a present field is set.
//     [Opt] records presence, so "absent" and "zero value" never blur.
//   - null and unknown fields are rejected by [Decode], so a typo never silently
//     drops a change.
//   - Every bad field is reported at once, each with its JSON path.
//   - Secrets ([Secret]) render as "[redacted]" through fmt, slog and JSON; only
//     [Secret.Reveal] yields the value, and only adapters call it when they build a
//     vendor body.
//
// The package imports the standard library only: it sits at the bottom of the
// dependency graph.
package canonical
