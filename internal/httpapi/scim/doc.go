// Package scim is the SCIM 2.0 front door (RFC 7643/7644) mounted under
// /scim/v2: an identity provider (Okta, Microsoft Entra ID) provisions users
// through it, and every change is mapped onto the canonical model and sent
// through the same dispatcher as PATCH /v1/users/{id} (ACL, links,
// unsupported-field policy, idempotency, breakers, telemetry).
//
// SCIM ids are canonical ids: POST /Users generates a random UUID and
// stores it with two gateway-owned pseudo-links in the identity-link store,
// "scim:userName" (the lower-cased userName) and "scim:externalId", so the
// link store's unique reverse index answers filter lookups and uniqueness
// checks with no extra table. The user's targets are linked by resolution
// (the remembered userName and e-mail) or created where the adapter is an
// adapters.Creator.
//
// The SCIM attributes no target holds (name parts, nickName, title, ...:
// heldPaths) are kept with the link as the record's held object and
// answered on reads where no target's value is present.
//
// Writes are computed per target: the gateway reads the user first and
// sends each target only the fields whose values differ from what that
// target holds, so a full PUT never blanks a field a target does not
// expose and a repeated request writes nothing twice.
package scim
