// Package commvault is the adapter for the Commvault REST API V4 user update
// (docs/vendors/commvault.md; spec commvault-v4-openapi3.yaml,
// operation ModifyUser).
//
// Endpoints: POST /Login (token), PUT /V4/user/{userId}. The base URL
// includes the API root (https://host/webconsole/api or /commandcenter/api).
//
// Fields (section 8), only the ones the update sets are sent (the PUT is a
// partial update):
//
//	username       -> newName
//	display_name   -> fullName
//	email          -> email
//	enabled        -> enabled
//	groups         -> userGroupOperation (add ADD, remove DELETE, replace OVERWRITE) + userGroups [{id}|{name}]
//	password       -> newPassword + validationPassword (both base64)
//	plan           -> plan {id}|{name}
//	principal_name -> userPrincipalName
//	auth_method    -> authenticationMethod (LOCAL, AD, SAML)
//
// Passwords (section 5): Commvault's own SDKs send the logged-in caller's
// password as validationPassword. The gateway is logged in as its service
// account, so validationPassword is the service account's password from
// config, and the canonical password.current is not used for this vendor.
// Both members are listed in Call.Secrets and never appear in logs, dry-run
// output, errors or idempotency records.
//
// Auth (section 3): POST /Login with the base64 password; a failed login is
// HTTP 200 with errList and no token (mapped to upstream_auth_failed). The
// token goes in the Authtoken header; it expires after 30 minutes idle, so
// the adapter trusts it until a 401, then logs in again once and resends
// once (adapters/session, shared by all concurrent requests).
//
// Errors (section 6): a 200 whose body has a non-zero errorCode is a
// failure, mapped by code only where the code has a documented meaning
// (errorCode 400 invalid_request, 401/403 upstream_auth_failed, 404
// not_found, 409 conflict); every other code (1, 2, 3, ...) is
// upstream_error (502) carrying the vendor's message. A 4xx body's
// errorCode is read the same way, the HTTP status deciding when the code
// says nothing more.
package commvault
