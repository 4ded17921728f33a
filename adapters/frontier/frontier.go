package frontier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// Adapter writes canonical updates to Frontier.
type Adapter struct {
	// reads is what Read says each field is read from: built once, not
	// on every read.
	reads map[canonical.Field]adapters.ReadSupport
	name  string
	cfg   Config
	cred  adapters.Credential
}

var (
	_ adapters.Adapter     = (*Adapter)(nil)
	_ adapters.Preflighter = (*Adapter)(nil)
	_ adapters.Classifier  = (*Adapter)(nil)
)

var avatarTypes = map[string]string{"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif"}

// Capabilities implements adapters.Adapter.
func (a *Adapter) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{
		IDFormat: "user UUID",
		Fields: map[canonical.Field]adapters.Support{
			canonical.FieldDisplayName:   {Supported: true, As: "title (PUT /v1beta1/users/{id})"},
			canonical.FieldAvatar:        {Supported: true, As: "avatar data URI (PUT); png, jpeg, gif only", Reason: "image/webp is not accepted by Frontier"},
			canonical.FieldMetadata:      {Supported: true, As: "metadata (PUT); user metaschema: label object, description string"},
			canonical.FieldEnabled:       {Supported: true, As: "POST /v1beta1/users/{id}/enable | /disable"},
			canonical.FieldUsername:      {Reason: "Frontier v0.90.0's user update validates name but never applies it"},
			canonical.FieldEmail:         {Reason: "Frontier v0.90.0's user update never changes the e-mail (account-takeover guard)"},
			canonical.FieldGivenName:     {Reason: "Frontier users have no given name; only title"},
			canonical.FieldFamilyName:    {Reason: "Frontier users have no family name; only title"},
			canonical.FieldOTPEnabled:    {Reason: "Frontier's user API has no OTP setting"},
			canonical.FieldNotifications: {Reason: "Frontier's user API has no notification settings"},
			canonical.FieldGroups:        {Reason: "group membership is a separate Frontier API, not part of the user update"},
			canonical.FieldPassword:      {Reason: "Frontier users authenticate through external IdPs; no password field"},
			canonical.FieldPrincipalName: {Reason: "Frontier's user API has no principal name"},
			canonical.FieldAuthMethod:    {Reason: "Frontier's user API has no authentication method field"},
			canonical.FieldPlan:          {Reason: "Frontier plans belong to billing accounts, not users"},
		},
	}.WithReads(reads())
}

// Preflight checks the UUID, the avatar's type and size, and the metadata
// against the default user metaschema, before any call.
func (a *Adapter) Preflight(op adapters.Op) ([]canonical.Unsupported, error) {
	var fe canonical.FieldErrors
	if !isUUID(op.UserID) {
		fe = append(fe, canonical.FieldError{Field: "vendor_ids." + a.name, Target: a.name, Message: "Frontier users are addressed by UUID"})
	}
	var uns []canonical.Unsupported
	u := op.Update
	if u.Avatar.Set {
		if _, ok := avatarTypes[u.Avatar.V.ContentType]; !ok {
			uns = append(uns, canonical.Unsupported{Field: canonical.FieldAvatar, Reason: u.Avatar.V.ContentType + " is not accepted by Frontier (png, jpeg, gif only)"})
		} else if n := len(dataURI(u.Avatar.V)); n > a.cfg.MaxAvatarChars {
			fe = append(fe, canonical.FieldError{Field: canonical.FieldAvatar.Path(), Target: a.name,
				Message: fmt.Sprintf("as a data URI the avatar is %d characters; Frontier takes at most %d", n, a.cfg.MaxAvatarChars)})
		}
	}
	if u.Metadata.Set && !a.cfg.SkipMetaschemaCheck {
		// Frontier's default user metaschema (frontier.md section 5); extra
		// keys are allowed.
		if v, ok := u.Metadata.V["label"]; ok {
			if _, obj := v.(map[string]any); !obj {
				fe = append(fe, canonical.FieldError{Field: canonical.FieldMetadata.Path(), Target: a.name, Message: "Frontier's user metaschema requires label to be an object"})
			}
		}
		if v, ok := u.Metadata.V["description"]; ok {
			if _, str := v.(string); !str {
				fe = append(fe, canonical.FieldError{Field: canonical.FieldMetadata.Path(), Target: a.name, Message: "Frontier's user metaschema requires description to be a string"})
			}
		}
	}
	return uns, fe.Err("frontier cannot take this update")
}

// Classify marks Frontier's final answers that plain status codes would
// call an outage: the non-superuser refusal (503 code 14 "function not
// available at the moment") and enable/disable of an unknown user (500 code
// 13 "user doesn't exist"). Both come from a healthy vendor: retrying cannot
// change them and they must not open the breaker.
func (a *Adapter) Classify(r *adapters.Response) adapters.Class {
	if isNotSuperuser(r) || isUnknownUser(r) {
		return adapters.Healthy
	}
	return adapters.Default
}

func isNotSuperuser(r *adapters.Response) bool {
	if r.Status != http.StatusServiceUnavailable {
		return false
	}
	var s status
	return json.Unmarshal(r.Body, &s) == nil && s.Code == 14 && strings.Contains(s.Message, "function not available")
}

func isUnknownUser(r *adapters.Response) bool {
	if r.Status != http.StatusInternalServerError {
		return false
	}
	var s status
	return json.Unmarshal(r.Body, &s) == nil && s.Code == 13 && strings.Contains(s.Message, "doesn't exist")
}

// Apply implements adapters.Adapter.
func (a *Adapter) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	u := op.Update
	out := adapters.Outcome{VendorID: op.UserID}
	path := "/v1beta1/users/" + url.PathEscape(op.UserID)
	writes := u.DisplayName.Set || u.Avatar.Set || u.Metadata.Set

	// Enable goes first: GET hides disabled users (frontier.md section 8).
	var enabled *adapters.Response
	if u.Enabled.Set && u.Enabled.V {
		resp, err := a.setState(ctx, do, path, "enable")
		if err != nil {
			return out, err
		}
		enabled = resp
		out.Applied = append(out.Applied, canonical.FieldEnabled)
	}
	if writes {
		applied, err := a.updateProfile(ctx, do, path, u, enabled)
		if err != nil {
			return out, err
		}
		out.Applied = append(out.Applied, applied...)
	}
	// Disable goes last, for the same reason.
	if u.Enabled.Set && !u.Enabled.V {
		if _, err := a.setState(ctx, do, path, "disable"); err != nil {
			return out, err
		}
		out.Applied = append(out.Applied, canonical.FieldEnabled)
	}
	return out, nil
}

func (a *Adapter) header() http.Header {
	basic := base64.StdEncoding.EncodeToString([]byte(a.cred.Username + ":" + a.cred.Password.Reveal()))
	return http.Header{"Authorization": {"Basic " + basic}, "Content-Type": {"application/json"}, "Accept": {"application/json"}}
}

// updateProfile is read, merge, write, verify.
//
// enabledFirst says an enable call went before (synthetic in a dry run).
func (a *Adapter) updateProfile(ctx context.Context, do adapters.Doer, path string, u canonical.Update, enabledFirst *adapters.Response) ([]canonical.Field, error) {
	resp, err := do.Do(ctx, &adapters.Call{Name: "get user", Kind: adapters.Read, Method: http.MethodGet, Path: path, Header: a.header()})
	if err != nil {
		return nil, fmt.Errorf("frontier: get user: %w", err)
	}
	if resp.Status == http.StatusNotFound {
		// GET hides disabled users (frontier.md section 2.2), so without the
		// current values there is nothing safe to PUT: the write replaces
		// all three fields (section 8, the gateway's decision: fail).
		e := a.mapError(resp)
		switch {
		case enabledFirst != nil && enabledFirst.Synthetic:
			e.Message = "Frontier hides disabled users from GET and a dry run does not send the enable, so the current title, avatar and metadata cannot be read (" + e.Message + ")"
		case enabledFirst == nil:
			e.Message = "Frontier has no enabled user with this id; GET hides disabled users, so to change a disabled user's fields send enabled: true in the same update (" + e.Message + ")"
		}
		return nil, fmt.Errorf("frontier: get user: %w", e)
	}
	if !resp.OK() {
		return nil, fmt.Errorf("frontier: get user: %w", a.mapError(resp))
	}
	cur, err := parseUser(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("frontier: get user: %w", err)
	}
	body := requestBody{Email: cur.Email, Title: cur.Title, Avatar: cur.Avatar, Metadata: cur.Metadata}
	if body.Metadata == nil {
		body.Metadata = map[string]any{}
	}
	var applied []canonical.Field
	if u.DisplayName.Set {
		body.Title = u.DisplayName.V
		applied = append(applied, canonical.FieldDisplayName)
	}
	if u.Avatar.Set {
		body.Avatar = dataURI(u.Avatar.V)
		applied = append(applied, canonical.FieldAvatar)
	}
	if u.Metadata.Set {
		body.Metadata = map[string]any(u.Metadata.V)
		applied = append(applied, canonical.FieldMetadata)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("frontier: encode: %w", &canonical.Error{Code: canonical.CodeInternal, Message: "encoding the update failed"})
	}
	resp, err = do.Do(ctx, &adapters.Call{Name: "put user", Kind: adapters.Write, Method: http.MethodPut, Path: path, Header: a.header(), Body: raw})
	if err != nil {
		return nil, fmt.Errorf("frontier: put user: %w", err)
	}
	if resp.Synthetic {
		return applied, nil
	}
	if !resp.OK() {
		return nil, fmt.Errorf("frontier: put user: %w", a.mapError(resp))
	}
	echo, err := parseUser(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("frontier: put user: %w", err)
	}
	var ignored []string
	if echo.Title != body.Title {
		ignored = append(ignored, "title")
	}
	if echo.Avatar != body.Avatar {
		ignored = append(ignored, "avatar")
	}
	if !sameJSON(echo.Metadata, body.Metadata) {
		ignored = append(ignored, "metadata")
	}
	if len(ignored) > 0 {
		return nil, fmt.Errorf("frontier: put user: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Frontier answered 200 but did not apply: " + strings.Join(ignored, ", ")})
	}
	return applied, nil
}

func (a *Adapter) setState(ctx context.Context, do adapters.Doer, path, action string) (*adapters.Response, error) {
	resp, err := do.Do(ctx, &adapters.Call{Name: action + " user", Kind: adapters.Write, Method: http.MethodPost, Path: path + "/" + action,
		Header: a.header(), Body: []byte(`{}`)})
	if err != nil {
		return nil, fmt.Errorf("frontier: %s user: %w", action, err)
	}
	if resp.Synthetic || resp.OK() {
		return resp, nil
	}
	return nil, fmt.Errorf("frontier: %s user: %w", action, a.mapError(resp))
}

// mapError maps a Frontier error answer: docs/api.md (Codes) plus the
// vendor's own signals (frontier.md section 6). A 400 that names a field the
// gateway sent also names the canonical field, so the caller sees which of
// its values Frontier refused.
func (a *Adapter) mapError(r *adapters.Response) *canonical.Error {
	var s status
	_ = json.Unmarshal(r.Body, &s)
	msg := truncate(s.Message)
	switch {
	case isNotSuperuser(r):
		return &canonical.Error{Code: canonical.CodeUpstreamAuthFailed, VendorStatus: r.Status,
			Message: "Frontier refused the gateway's credential: it is not a platform superuser (" + msg + ")"}
	case isUnknownUser(r):
		return &canonical.Error{Code: canonical.CodeNotFound, VendorStatus: r.Status, Message: "Frontier has no user with this id (" + msg + ")"}
	}
	e := adapters.StatusError(r, adapters.ServiceCredential, msg)
	if r.Status == http.StatusBadRequest {
		if f, ok := refusedField(s.Message); ok {
			e.Fields = []canonical.FieldError{{Field: f.Path(), Target: a.name, Message: msg}}
		}
	}
	return e
}

// refusedField finds the canonical field behind a Frontier 400 message: a
// PGV rule on UserRequestBody.Title or .Avatar, or the metaschema check.
// E-mail and name refusals concern values read from Frontier, not sent by
// the caller, so they name no field.
func refusedField(msg string) (canonical.Field, bool) {
	switch {
	case strings.Contains(msg, "metadata schema validation failed"):
		return canonical.FieldMetadata, true
	case strings.Contains(msg, "invalid UserRequestBody.Avatar"):
		return canonical.FieldAvatar, true
	case strings.Contains(msg, "invalid UserRequestBody.Title"):
		return canonical.FieldDisplayName, true
	}
	return "", false
}

func parseUser(b []byte) (*user, error) {
	var env userEnvelope
	if err := json.Unmarshal(b, &env); err != nil || env.User == nil {
		return nil, &canonical.Error{Code: canonical.CodeUpstreamError, Message: "Frontier answered with an unreadable user"}
	}
	return env.User, nil
}

func dataURI(av canonical.Avatar) string {
	return "data:image/" + avatarTypes[av.ContentType] + ";base64," + base64.StdEncoding.EncodeToString(av.Data)
}

// sameJSON compares two metadata objects as JSON values. Both are decoded
// JSON on the common path (the current metadata written back, and Frontier's
// echo of it), so they are compared as they are first; only when that fails
// (a caller's value may hold other number or slice types) are both encoded
// and decoded again to compare what Frontier would see.
func sameJSON(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	if reflect.DeepEqual(a, b) {
		return true
	}
	na, _ := json.Marshal(a)
	nb, _ := json.Marshal(b)
	var x, y any
	_ = json.Unmarshal(na, &x)
	_ = json.Unmarshal(nb, &y)
	return reflect.DeepEqual(x, y)
}

// truncate bounds a vendor message kept in an error, on a rune boundary.
func truncate(s string) string { return adapters.Truncate(s, 300) }

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
