// Package akana is the adapter for the Akana API Platform (Community
// Manager) user APIs (docs/vendors/akana.md).
//
// Endpoints: POST /api/login and /api/login/renewToken (session), GET and
// PUT /api/users/{UserID}/settings (AccountSettings: Email,
// OptedNotification), GET and PUT /api/users/{UserID} (FirstName,
// LastName; section 2.4 places names there).
//
// Fields:
//
//	email         -> Email             (PUT settings)
//	notifications -> OptedNotification (PUT settings; com.soa.notification.type.* codes mapped by config)
//	given_name    -> FirstName         (PUT user, max 64)
//	family_name   -> LastName          (PUT user, max 64)
//
// Session (section 3): the adapter logs in as a Site Admin service account
// (credential username = e-mail, password), keeps the
// AtmoAuthToken_{fedmemberid} and Csrf-Token_{fedmemberid} cookies, echoes
// the CSRF value in X-Csrf-Token_{fedmemberid}, renews before expiry and, on
// a 401, logs in again once and resends once (adapters/session: one login
// shared by all concurrent requests). A 401 after a fresh login is
// upstream_auth_failed.
//
// PUT settings replaces the opted-in set and carries Email, so the adapter
// GETs settings first unless the update gives both. PUT user is treated as
// a replacement too (the docs do not say otherwise), so names are
// read-modify-write over the whole User object. Success is 200 text/plain
// carrying the UserID; the adapter checks it got the id back.
//
// UserIDs are <uuid>.<fedmemberid>; Preflight checks the form and that the
// tenant is the configured one before any call.
package akana
