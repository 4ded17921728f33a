// Package frontier is the adapter for Raystack Frontier's REST API as of
// v0.90.0 (the last release with the grpc-gateway REST layer; see
// ../shared/vendors/frontier.md section 1).
//
// Endpoints: GET /v1beta1/users/{id}, PUT /v1beta1/users/{id}, POST
// /v1beta1/users/{id}/enable and /disable, all with Basic auth of a
// superuser service user (section 3).
//
// Fields:
//
//	display_name -> title      (PUT, replaced)
//	avatar       -> avatar     (PUT, data URI; png, jpeg, gif only, <= 250000 chars)
//	metadata     -> metadata   (PUT, replaced; default user metaschema: label object, description string)
//	enabled      -> POST enable / disable
//	username, email: unsupported: the update validates but ignores name and email (section 1, 8)
//
// Quirks handled:
//   - PUT replaces title, avatar and metadata together and requires email, so
//     the adapter GETs the user, merges the change and PUTs the whole body with
//     the current e-mail (and an empty name, which passes validation).
//   - The echoed user is checked: a field the server did not apply fails the
//     target (upstream_error) instead of being reported as applied.
//   - Order (section 8): enable, then GET and PUT; or GET, PUT, then disable.
//     GET hides disabled users, so updating a disabled user's fields needs
//     enabled: true in the same update (else 404 not_found).
//   - A non-superuser credential gets 503 code 14 "function not available
//     at the moment": mapped to upstream_auth_failed, and classified Healthy so
//     it is neither retried nor counted by the breaker.
//   - Enable/disable of an unknown user answers 500 code 13 "user doesn't
//     exist": mapped to not_found.
//   - Users are addressed by UUID only (Preflight), since e-mail and name
//     forms can create users or hit the wrong one (section 4).
package frontier
