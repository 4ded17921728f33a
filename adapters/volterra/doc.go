// Package volterra is the adapter for the F5 Distributed Cloud console
// ("volterra") user-settings API (../shared/vendors/volterra.md; spec
// ves.io.schema.user.setting, CustomAPI).
//
// Endpoints: GET and PUT /api/web/namespaces/system/user/settings, PUT
// .../settings/image, GET /api/web/custom/namespaces/system/whoami. Every
// call acts on the owner of the credential (section 1, 4): there is no user
// id in any path, so {id} / vendor_ids are informational for this target.
//
// Credentials (DESIGN.md section 5): a service token from config
// (`Authorization: APIToken <token>`) or, preferred when present, the
// caller's own token passed through the header named in
// vendors.<name>.pass_through_header. A request with neither is rejected in
// Preflight before any call. A 401/403 on a pass-through credential is the
// caller's (unauthorized / forbidden); on the service token it is
// upstream_auth_failed.
//
// Fields:
//
//	given_name    -> first_name            (PUT settings)
//	family_name   -> last_name             (PUT settings)
//	otp_enabled   -> otp_enabled           (PUT settings)
//	notifications -> enabled_notifications (PUT settings; codes mapped by config)
//	avatar        -> PUT settings/image {content_type, image}, after the settings call
//
// PUT user/settings replaces all five fields (section 6), so the adapter
// reads GET settings (notifications, otp_enabled, image) and, unless both
// names are given, whoami (first_name, last_name), merges, and writes the
// whole body: a partial update never switches OTP off or clears a name.
// Volterra answers 200 {} without echoing, so there is nothing to verify.
//
// Notification mapping: the public docs name no codes beyond the examples
// notif-1 and notif-2, so the default mapping is ticket.change -> notif-1
// and app.alert -> notif-2; deployments map the rest under notifications:.
// A canonical name with no mapping is an unsupported value.
package volterra
