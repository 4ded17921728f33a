// Package volterra is the adapter for the F5 Distributed Cloud console
// ("volterra") user-settings API: package ves.io.schema.user.setting,
// service CustomAPI, plus whoami from ves.io.schema.user, as published in
// F5's OpenAPI 3.0.0 files (spec_date 2026-01-22; docs/vendors/volterra.md
// section 7, adapters/testdata/vendorspecs/volterra-user-setting.ves-swagger.json
// and volterra-user.ves-swagger.json). References below are to sections of
// docs/vendors/volterra.md.
//
// # Whose settings
//
// Every /api/web/namespaces/system/user/... call acts on the owner of the
// presented credential; no path or body names a user (sections 1 and 4).
// The target's vendor id (vendor_ids.volterra, the users map, else {id}) is
// never sent; it says whose settings the request means to change, and must
// be the token owner's e-mail (compared case-insensitively) or user_uuid.
// whoami is the first call of every Apply and Verify, dry runs included,
// and a mismatch is refused with identity_mismatch (422) before anything is
// written: writing would change the token owner, not the addressed user
// (section 9.2: no admin path changes another user's settings). This holds
// for the service token and a pass-through token alike. Outcome.VendorID is
// the addressed id, the same id a failed target reports.
//
// # Credentials (docs/api.md, Pass-through credentials)
//
//   - Service token: vendors.<name>.credential.token, sent as
//     `Authorization: APIToken <token>` (section 1). It must be a user's own
//     "My Credentials" token: the gateway then changes that user's settings.
//   - Pass-through: the caller's own token, read by the gateway from the
//     header named in vendors.<name>.pass_through_header (op.PassThrough).
//     It wins over the service token. A value already starting with
//     "APIToken " (any case) is not prefixed twice; surrounding blanks are
//     trimmed. A malformed pass-through value (blanks or control characters
//     inside) is refused; it is never replaced by the service token, which
//     would change someone else's settings.
//   - Neither: Preflight returns invalid_request with the field "credential"
//     naming the pass-through header requirement, before any call to any
//     target. invalid_request, not unauthorized: the gateway's own client
//     authenticated fine; the request lacks an input this target needs.
//   - A 401/403 on the caller's token is the caller's (unauthorized 401 /
//     forbidden 403); on the service token it is upstream_auth_failed (502).
//   - A token whose whoami type is SERVICE (a service credential) is refused
//     before any write: service users have no user settings (section 4), and
//     the write would at best fail and at worst change the service account.
//
// Tokens appear only in the Authorization header: never in a path, body,
// error or log line.
//
// # Calls and fields
//
//	call  request                                              sent
//	c1    GET /api/web/custom/namespaces/system/whoami         always: who the token is; first_name, last_name, user_uuid
//	c2    GET /api/web/namespaces/system/user/settings         when a settings field changes: enabled codes, otp_enabled, image
//	c3    PUT /api/web/namespaces/system/user/settings         the whole merged UserSettingsRequest
//	c4    PUT /api/web/namespaces/system/user/settings/image   {content_type, image}, when the avatar changes
//
//	canonical      vendor                               call
//	given_name     first_name                           c3
//	family_name    last_name                            c3
//	otp_enabled    otp_enabled                          c3
//	notifications  enabled_notifications (codes)        c3
//	avatar         content_type + image (base64)        c4, after c3
//
// Everything else is unsupported, with the reason in Capabilities (names and
// e-mail are read-only in whoami; roles, groups and passwords are admin or
// IAM concerns, section 4).
//
// whoami comes first even for an avatar-only update: a refused token then
// fails on a read, before anything is written, and section 4 advises
// confirming the token's user before writing. Reads are sent in a dry run
// too, so a dry run also proves the token works.
//
// # Read-modify-write (section 6)
//
// PUT user/settings is believed to replace all five fields (proto3 cannot
// tell omitted from empty). A partial canonical update must never switch
// OTP off or clear a name, so the adapter re-sends the current state for
// everything the update does not name: names from whoami (GET settings has
// none, section 2.2), enabled codes (entries with enabled:true), otp_enabled
// and image from GET settings. The codes are sorted and de-duplicated and an
// empty set is sent as []. The test suite runs every partial update against
// the simulator in both replace and merge mode.
//
// Volterra answers a PUT with 200 {} and echoes nothing, so there is no echo
// to verify; a read-back would not help either, because OTP changes settle
// asynchronously (otp_status OTP_PROCESSING, section 2.2).
//
// # Notifications
//
// The canonical list is the full set of enabled groups: names it omits are
// opted out. Names map to Volterra codes through gateway.yaml
// notifications: (deps.Notifications); with no mapping for this vendor,
// DefaultNotifications applies: ticket.change -> notif-1 and app.alert ->
// notif-2, the only codes F5 documents (section 2.1). A name with no code
// is an unsupported value (reported by Preflight, handled by the request's
// on_unsupported policy). A deployment lists its tenant's codes with
// GET /api/web/namespaces/system/user/notifications.
//
// # Avatar
//
// F5 publishes no size or type limits (section 6). Defaults: the canonical
// 1 MiB and all canonical types; settings max_image_bytes and
// image_content_types narrow them. A type outside the list is an unsupported
// value; a larger image is invalid_request on user.avatar.data. The image
// member of both PUT bodies is listed in Call.Secrets: F5 marks it
// confidential (section 2.1) and a dry run or log has no use for the bytes.
//
// # Errors (docs/api.md, Codes)
//
// Every status F5 declares (401, 403, 404, 409, 429, 500, 503, 504) maps
// through adapters.StatusError; 429 and 503 carry Retry-After when sent
// (F5 documents none, section 5). The spec types error bodies as a bare JSON
// string while deployments are believed to send grpc-gateway's
// {"code","message","details"}; both are read, and the message is clipped
// and stripped of control characters. An unreadable 2xx read is
// upstream_error and nothing is written after it.
//
// # Decisions where the vendor notes are silent
//
//   - Names: no length rules are F5's (the 1024 limit is a third party's,
//     section 2.1), so none beyond the canonical ones are enforced.
//   - The deprecated image member of UserSettingsRequest is only re-sent as
//     read, never used to set a new avatar: the image call carries the
//     content type (section 6).
//   - SSO users (idm_type SSO) may have names and OTP managed by their IdP;
//     whatever Volterra answers (409, 403) is mapped as above.
package volterra
