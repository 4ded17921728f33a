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
// failure, mapped by code and message (404 not_found, 409 or "already
// exists" conflict, validation codes invalid_request, else upstream_error);
// 400 and 404 bodies are read the same way.
package commvault
