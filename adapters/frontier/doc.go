// Package frontier is the adapter for Raystack Frontier's REST API as of
// v0.90.0, the last release with the grpc-gateway REST layer
// (docs/vendors/frontier.md section 1; v0.91.0+ speak only Connect,
// section 2.5, which this adapter does not).
//
// Endpoints (section 2), all with Basic auth of a platform-superuser service
// user, client id as username and client secret as password (section 3):
//
//	GET  /v1beta1/users/{id}          read the current user (read-modify-write)
//	PUT  /v1beta1/users/{id}          write title, avatar, metadata
//	POST /v1beta1/users/{id}/enable   body {}
//	POST /v1beta1/users/{id}/disable  body {}
//	GET  /v1beta1/users/{id}          Verify (adapters.Verifier)
//
// Fields:
//
//	display_name -> title     (PUT; replaced)
//	avatar       -> avatar    (PUT; data URI; png, jpeg, gif only; <= 250000 chars, section 2.1)
//	metadata     -> metadata  (PUT; replaced whole; default user metaschema, section 5)
//	enabled      -> POST enable / disable
//	username, email: unsupported: the update validates name and email but
//	  never applies them (sections 1 and 8). Every other canonical field is
//	  unsupported, with the reason in Capabilities.
//
// Quirks and decisions:
//   - PUT replaces title, avatar and metadata together and requires a valid
//     e-mail (section 1), so the adapter GETs the user, merges the change and
//     PUTs all three with the current e-mail and an empty name (empty passes
//     the name rule; a stored name might not). A canonical metadata value
//     replaces the stored object whole, as the canonical contract says.
//   - The echoed user is checked: a field Frontier did not apply fails the
//     target with upstream_error instead of being reported as applied. In a
//     dry run the PUT answer is synthetic and the check is skipped.
//   - Order (section 8): enable, then GET and PUT; or GET, PUT, then disable.
//     GET hides disabled users (section 2.2), so the current values of a
//     disabled user cannot be read: a field update without enabled: true
//     fails with not_found and a message that says so, and nothing is
//     written (section 8 leaves this to the gateway; wiping fields is worse).
//     In a dry run of enable + update on a disabled user the enable is not
//     sent, so the GET fails the same way; the message says why.
//   - A non-superuser credential gets 503 code 14 "function not available at
//     the moment" (section 3.3): upstream_auth_failed. Enable/disable of an
//     unknown user answers 500 code 13 "user doesn't exist" (section 2.3):
//     not_found. Classify marks both adapters.Healthy, so they are neither
//     retried nor counted by the breaker.
//   - 400s keep Frontier's message; one that names title, avatar or the
//     metaschema also names the canonical field (user.display_name,
//     user.avatar, user.metadata). A 400 about the e-mail concerns the value
//     read from Frontier and names no field.
//   - Preflight, before any call: the id must be a UUID (section 4: e-mail
//     and name forms can create users or hit the wrong one); webp or any
//     other non png/jpeg/gif avatar is an unsupported value; an avatar over
//     the limit and metadata that fails the default user metaschema (label
//     an object, description a string) are invalid_request naming
//     user.avatar / user.metadata. Deployments that replaced the metaschema
//     set skip_metaschema_check and rely on Frontier's own 400.
//   - Basic auth costs Frontier a bcrypt-14 check per call (section 3.1);
//     the token exchange it suggests is not implemented: two to four calls
//     per update do not justify a token cache yet.
package frontier
