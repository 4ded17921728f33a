package volterra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// The fixed paths: namespace "system", no user selector (section 4).
const (
	settingsPath = "/api/web/namespaces/system/user/settings"
	imagePath    = settingsPath + "/image"
	whoamiPath   = "/api/web/custom/namespaces/system/whoami"
)

// Adapter writes canonical updates to the settings of the Volterra user who
// owns the credential.
type Adapter struct {
	// reads is what Read says each field is read from: built once, not
	// on every read.
	reads map[canonical.Field]adapters.ReadSupport
	name  string
	cfg   Config
	token canonical.Secret
	notes map[string]string // canonical name -> Volterra code
}

var (
	_ adapters.Adapter     = (*Adapter)(nil)
	_ adapters.Preflighter = (*Adapter)(nil)
)

// Capabilities implements adapters.Adapter: the volterra column of the
// capability matrix (README.md, GET /v1/capabilities).
func (a *Adapter) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{
		IDFormat: "the e-mail or user_uuid of the API token's owner (the pass-through token when sent, else the service token): Volterra changes only the owner's settings, so whoami must name this id before anything is written (else identity_mismatch); the id is not sent",
		Fields: map[canonical.Field]adapters.Support{
			canonical.FieldGivenName:     {Supported: true, As: "first_name (PUT user/settings, after GET settings + whoami)"},
			canonical.FieldFamilyName:    {Supported: true, As: "last_name (PUT user/settings, after GET settings + whoami)"},
			canonical.FieldOTPEnabled:    {Supported: true, As: "otp_enabled (PUT user/settings, after GET settings + whoami)"},
			canonical.FieldNotifications: {Supported: true, As: "enabled_notifications codes (PUT user/settings)", Reason: "a name with no configured Volterra notification code is not supported"},
			canonical.FieldAvatar:        {Supported: true, As: "PUT user/settings/image {content_type, image}", Reason: a.avatarReason()},
			canonical.FieldUsername:      {Reason: "the user name is fixed at creation; user settings have no name field"},
			canonical.FieldEmail:         {Reason: "user settings have no e-mail field (whoami only reads it)"},
			canonical.FieldDisplayName:   {Reason: "Volterra keeps first and last name only; no display name"},
			canonical.FieldEnabled:       {Reason: "a user cannot enable or disable itself through user settings"},
			canonical.FieldGroups:        {Reason: "group and role bindings are tenant-admin APIs (user_roles), not user settings"},
			canonical.FieldPassword:      {Reason: "passwords belong to the IAM provider, not user settings"},
			canonical.FieldMetadata:      {Reason: "user settings have no metadata"},
			canonical.FieldPrincipalName: {Reason: "user settings have no principal name"},
			canonical.FieldAuthMethod:    {Reason: "the IdM type is tenant configuration, not a user setting"},
			canonical.FieldPlan:          {Reason: "plans belong to the tenant, not the user"},
		},
	}.WithReads(reads())
}

func (a *Adapter) avatarReason() string {
	if len(a.cfg.ImageContentTypes) == len(canonicalImageTypes) {
		return fmt.Sprintf("at most %d bytes", a.cfg.MaxImageBytes)
	}
	return fmt.Sprintf("only %s, at most %d bytes", strings.Join(a.cfg.ImageContentTypes, ", "), a.cfg.MaxImageBytes)
}

// Preflight implements adapters.Preflighter. It rejects an op without a
// usable credential (there is no user id to fall back on: the token is the
// user), an avatar over the configured size, and reports notification names
// with no code and avatar types the tenant does not take as unsupported
// values.
func (a *Adapter) Preflight(op adapters.Op) ([]canonical.Unsupported, error) {
	var fe canonical.FieldErrors
	if fieldErr, bad := a.checkCredential(op); bad {
		fe = append(fe, fieldErr)
	}
	var uns []canonical.Unsupported
	u := op.Update
	if u.Notifications.Set {
		var missing []string
		for _, n := range u.Notifications.V {
			if _, ok := a.notes[n]; !ok {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			uns = append(uns, canonical.Unsupported{Field: canonical.FieldNotifications,
				Reason: "no Volterra notification code is configured for " + strings.Join(missing, ", ")})
		}
	}
	if u.Avatar.Set {
		switch av := u.Avatar.V; {
		case !slices.Contains(a.cfg.ImageContentTypes, av.ContentType):
			uns = append(uns, canonical.Unsupported{Field: canonical.FieldAvatar,
				Reason: fmt.Sprintf("%s is not among this tenant's avatar types (%s)", av.ContentType, strings.Join(a.cfg.ImageContentTypes, ", "))})
		case len(av.Data) > a.cfg.MaxImageBytes:
			fe = append(fe, canonical.FieldError{Field: canonical.FieldAvatar.Path() + ".data", Target: a.name,
				Message: fmt.Sprintf("is larger than the %d bytes configured for %s", a.cfg.MaxImageBytes, a.name)})
		}
	}
	return uns, fe.Err(a.name + " cannot take this update")
}

// checkCredential names the missing or malformed credential. The message
// never holds the value.
func (a *Adapter) checkCredential(op adapters.Op) (canonical.FieldError, bool) {
	c, ok := a.credentialFor(op)
	switch {
	case !ok:
		return canonical.FieldError{Field: "credential", Target: a.name, Message: fmt.Sprintf(
			"%s changes the settings of the API token's owner and has no service token: send your own F5 XC API token in the header named by vendors.%s.pass_through_header", a.name, a.name)}, true
	case !validToken(c.token):
		// Only a caller's token can get here (Open checks the service
		// token), and it is never replaced by the service token: that would
		// change the service token owner's settings instead of the caller's.
		return canonical.FieldError{Field: "credential", Target: a.name, Message: fmt.Sprintf(
			"the pass-through credential for %s is not a well-formed API token (visible ASCII without blanks, optionally prefixed with \"APIToken \")", a.name)}, true
	}
	return canonical.FieldError{}, false
}

// Apply implements adapters.Adapter. Calls, in order: whoami (who the token
// is, and the current names), GET settings and PUT settings when a settings
// field changes, PUT settings/image when the avatar changes.
func (a *Adapter) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	out := adapters.Outcome{VendorID: op.UserID}
	if fieldErr, bad := a.checkCredential(op); bad {
		return out, fmt.Errorf("volterra: credential: %w", &canonical.Error{Code: canonical.CodeInvalidRequest, Message: fieldErr.Message, Fields: []canonical.FieldError{fieldErr}})
	}
	cred, _ := a.credentialFor(op)
	u := op.Update

	var who whoamiResponse
	if err := a.read(ctx, do, cred, "whoami", whoamiPath, &who); err != nil {
		return out, err
	}
	if strings.EqualFold(who.Type, "SERVICE") {
		// A service user has no user settings (section 4): writing would at
		// best fail and at worst change the service account's own profile.
		return out, fmt.Errorf("volterra: whoami: %w", serviceUserError(cred.kind))
	}
	if !who.is(op.UserID) {
		// Every settings call changes the credential's owner whatever the
		// path says (section 9.2): writing now would change someone other
		// than the user the request addresses.
		return out, fmt.Errorf("volterra: whoami: %w", a.mismatchError(op, cred.kind))
	}

	if u.GivenName.Set || u.FamilyName.Set || u.OTPEnabled.Set || u.Notifications.Set {
		applied, err := a.writeSettings(ctx, do, cred, who, u)
		if err != nil {
			return out, err
		}
		out.Applied = append(out.Applied, applied...)
	}
	if u.Avatar.Set {
		body, err := json.Marshal(imageRequest{ContentType: u.Avatar.V.ContentType, Image: base64.StdEncoding.EncodeToString(u.Avatar.V.Data)})
		if err != nil {
			return out, fmt.Errorf("volterra: put settings image: %w", &canonical.Error{Code: canonical.CodeInternal, Message: "encoding the image request failed"})
		}
		if err := a.write(ctx, do, cred, "put settings image", imagePath, body); err != nil {
			return out, err
		}
		out.Applied = append(out.Applied, canonical.FieldAvatar)
	}
	return out, nil
}

// is reports whether id, the vendor id the request addresses (vendor_ids,
// the users map, else the path id), names the credential's owner: its
// e-mail (F5's default user name, compared case-insensitively) or its
// user_uuid. An empty whoami member never matches.
func (w whoamiResponse) is(id string) bool {
	id = strings.TrimSpace(id)
	if id == "" {
		return false
	}
	return (w.Email != "" && strings.EqualFold(id, w.Email)) || (w.UserUUID != "" && strings.EqualFold(id, w.UserUUID))
}

// mismatchError says whose credential acts on someone else. It names
// neither the credential nor its owner (e-mail is PII; the owner is not the
// caller's business), only the addressed id the caller sent.
func (a *Adapter) mismatchError(op adapters.Op, kind adapters.CredKind) *canonical.Error {
	whose := "the configured service token (vendors." + a.name + ".credential.token)"
	if kind == adapters.CallerCredential {
		whose = "the pass-through token"
	}
	return &canonical.Error{Code: canonical.CodeIdentityMismatch, Message: fmt.Sprintf(
		"%s belongs to another user than %q and %s changes only the token owner's settings; nothing was written", whose, op.UserID, a.name)}
}

func serviceUserError(kind adapters.CredKind) *canonical.Error {
	e := &canonical.Error{Code: canonical.CodeUpstreamAuthFailed, VendorStatus: http.StatusOK,
		Message: "the configured token belongs to a Volterra service user, which has no user settings; configure a user's own API token"}
	if kind == adapters.CallerCredential {
		e.Code, e.Message = canonical.CodeForbidden, "the pass-through token belongs to a Volterra service user, which has no user settings; send a user's own API token"
	}
	return e
}

// writeSettings reads the current settings, merges the change over them and
// the names from whoami, and PUTs the whole body: PUT replaces all five
// fields (section 6), so whatever the update does not name is re-sent as it
// was and never cleared or switched off.
func (a *Adapter) writeSettings(ctx context.Context, do adapters.Doer, cred credential, who whoamiResponse, u canonical.Update) ([]canonical.Field, error) {
	resp, err := a.get(ctx, do, cred, "get settings", settingsPath)
	if err != nil {
		return nil, err
	}
	body, err := parseSettings(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("volterra: get settings: %w", upstreamError(resp.Status, "the settings answer is not a UserSettingsResponse"))
	}
	body.FirstName, body.LastName = who.FirstName, who.LastName

	var applied []canonical.Field
	if u.GivenName.Set {
		body.FirstName = u.GivenName.V
		applied = append(applied, canonical.FieldGivenName)
	}
	if u.FamilyName.Set {
		body.LastName = u.FamilyName.V
		applied = append(applied, canonical.FieldFamilyName)
	}
	if u.OTPEnabled.Set {
		body.OTPEnabled = u.OTPEnabled.V
		applied = append(applied, canonical.FieldOTPEnabled)
	}
	if u.Notifications.Set {
		// The canonical list is the full set: groups it omits are opted out.
		codes := make([]string, 0, len(u.Notifications.V))
		for _, n := range u.Notifications.V {
			codes = append(codes, a.notes[n])
		}
		body.EnabledNotifications = normalizeCodes(codes)
		applied = append(applied, canonical.FieldNotifications)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("volterra: put settings: %w", &canonical.Error{Code: canonical.CodeInternal, Message: "encoding the settings request failed"})
	}
	if err := a.write(ctx, do, cred, "put settings", settingsPath, raw); err != nil {
		return nil, err
	}
	return applied, nil
}

// parseSettings turns a GET user/settings answer into the PUT body that
// re-states it: enabled codes, otp_enabled and the image (names are not in
// the answer; they come from whoami).
func parseSettings(b []byte) (settingsRequest, error) {
	var cur settingsResponse
	if err := json.Unmarshal(b, &cur); err != nil {
		return settingsRequest{}, err
	}
	codes := make([]string, 0, len(cur.Notifications))
	for _, n := range cur.Notifications {
		if n.Enabled && n.Code != "" {
			codes = append(codes, n.Code)
		}
	}
	return settingsRequest{EnabledNotifications: normalizeCodes(codes), Image: cur.Image, OTPEnabled: cur.OTPEnabled}, nil
}

// normalizeCodes sorts and de-duplicates (two canonical names may share a
// code), so equal sets give byte-equal bodies, and never returns nil: an
// empty set is sent as [] rather than null.
func normalizeCodes(codes []string) []string {
	out := slices.Clone(codes)
	sort.Strings(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// read GETs path and decodes the JSON answer into into.
func (a *Adapter) read(ctx context.Context, do adapters.Doer, cred credential, name, path string, into any) error {
	resp, err := a.get(ctx, do, cred, name, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Body, into); err != nil {
		return fmt.Errorf("volterra: %s: %w", name, upstreamError(resp.Status, "the "+name+" answer is not the documented JSON object"))
	}
	return nil
}

func (a *Adapter) get(ctx context.Context, do adapters.Doer, cred credential, name, path string) (*adapters.Response, error) {
	resp, err := do.Do(ctx, &adapters.Call{Name: name, Kind: adapters.Read, Method: http.MethodGet, Path: path, Header: cred.header(false)})
	if err != nil {
		return nil, fmt.Errorf("volterra: %s: %w", name, err)
	}
	if !resp.OK() {
		return nil, fmt.Errorf("volterra: %s: %w", name, mapError(resp, cred.kind))
	}
	return resp, nil
}

// write PUTs body. Volterra answers 200 {} without echoing the resource, so
// there is nothing to verify; a re-read could not tell an ignored OTP change
// from one still settling (otp_status OTP_PROCESSING, section 2.2). The
// image member is listed as a secret: F5 marks it confidential (section 2.1)
// and a dry run or log has no use for the picture's bytes.
func (a *Adapter) write(ctx context.Context, do adapters.Doer, cred credential, name, path string, body []byte) error {
	resp, err := do.Do(ctx, &adapters.Call{Name: name, Kind: adapters.Write, Method: http.MethodPut, Path: path,
		Header: cred.header(true), Body: body, Secrets: []string{"/image"}})
	if err != nil {
		return fmt.Errorf("volterra: %s: %w", name, err)
	}
	if !resp.Synthetic && !resp.OK() {
		return fmt.Errorf("volterra: %s: %w", name, mapError(resp, cred.kind))
	}
	return nil
}
