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

const (
	settingsPath = "/api/web/namespaces/system/user/settings"
	imagePath    = settingsPath + "/image"
	whoamiPath   = "/api/web/custom/namespaces/system/whoami"
)

// Adapter writes canonical updates to Volterra.
type Adapter struct {
	name  string
	cfg   Config
	token canonical.Secret
	notes map[string]string
}

var (
	_ adapters.Adapter     = (*Adapter)(nil)
	_ adapters.Preflighter = (*Adapter)(nil)
)

// Capabilities implements adapters.Adapter.
func (a *Adapter) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{
		IDFormat: "informational: Volterra acts on the credential's owner",
		Fields: map[canonical.Field]adapters.Support{
			canonical.FieldGivenName:     {Supported: true, As: "first_name (PUT user/settings, read-modify-write)"},
			canonical.FieldFamilyName:    {Supported: true, As: "last_name (PUT user/settings, read-modify-write)"},
			canonical.FieldOTPEnabled:    {Supported: true, As: "otp_enabled (PUT user/settings)"},
			canonical.FieldNotifications: {Supported: true, As: "enabled_notifications codes (PUT user/settings)", Reason: "names without a configured code are not supported"},
			canonical.FieldAvatar:        {Supported: true, As: "PUT user/settings/image {content_type, image}"},
			canonical.FieldUsername:      {Reason: "the user name is fixed at creation; user settings have no name field"},
			canonical.FieldEmail:         {Reason: "user settings have no e-mail field (whoami is read-only)"},
			canonical.FieldDisplayName:   {Reason: "Volterra has first and last name only; no display name"},
			canonical.FieldEnabled:       {Reason: "a user cannot enable or disable itself through user settings"},
			canonical.FieldGroups:        {Reason: "role bindings are an admin API (user_roles), not user settings"},
			canonical.FieldPassword:      {Reason: "passwords are managed by the IAM provider, not user settings"},
			canonical.FieldMetadata:      {Reason: "user settings have no metadata"},
			canonical.FieldPrincipalName: {Reason: "user settings have no principal name"},
			canonical.FieldAuthMethod:    {Reason: "the IdM type is tenant configuration, not a user setting"},
			canonical.FieldPlan:          {Reason: "plans belong to the tenant"},
		},
	}
}

// Preflight requires a credential and a code for every notification.
func (a *Adapter) Preflight(op adapters.Op) ([]canonical.Unsupported, error) {
	var fe canonical.FieldErrors
	if op.PassThrough == "" && a.token == "" {
		fe = append(fe, canonical.FieldError{Field: "credential", Target: a.name,
			Message: "Volterra acts on the credential's owner: send your own API token in the pass-through header, or configure a service token"})
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
			uns = append(uns, canonical.Unsupported{Field: canonical.FieldNotifications, Reason: "no Volterra notification code configured for " + strings.Join(missing, ", ")})
		}
	}
	if u.Avatar.Set && len(u.Avatar.V.Data) > a.cfg.MaxImageBytes {
		fe = append(fe, canonical.FieldError{Field: canonical.FieldAvatar.Path(), Target: a.name, Message: fmt.Sprintf("larger than Volterra's %d bytes", a.cfg.MaxImageBytes)})
	}
	return uns, fe.Err("volterra cannot take this update")
}

type creds struct {
	header http.Header
	kind   adapters.CredKind
}

func (a *Adapter) creds(op adapters.Op) creds {
	tok, kind := a.token.Reveal(), adapters.ServiceCredential
	if op.PassThrough != "" {
		tok, kind = strings.TrimPrefix(op.PassThrough.Reveal(), "APIToken "), adapters.CallerCredential
	}
	return creds{kind: kind, header: http.Header{"Authorization": {"APIToken " + tok}, "Accept": {"application/json"}, "Content-Type": {"application/json"}}}
}

// Apply implements adapters.Adapter.
func (a *Adapter) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	u := op.Update
	c := a.creds(op)
	out := adapters.Outcome{VendorID: op.UserID}
	if u.GivenName.Set || u.FamilyName.Set || u.OTPEnabled.Set || u.Notifications.Set {
		applied, err := a.settings(ctx, do, c, u)
		if err != nil {
			return out, err
		}
		out.Applied = append(out.Applied, applied...)
	}
	if u.Avatar.Set {
		body, _ := json.Marshal(imageRequest{ContentType: u.Avatar.V.ContentType, Image: base64.StdEncoding.EncodeToString(u.Avatar.V.Data)})
		resp, err := do.Do(ctx, &adapters.Call{Name: "put settings image", Kind: adapters.Write, Method: http.MethodPut, Path: imagePath, Header: c.header, Body: body})
		if err != nil {
			return out, fmt.Errorf("volterra: put image: %w", err)
		}
		if !resp.Synthetic && !resp.OK() {
			return out, fmt.Errorf("volterra: put image: %w", mapError(resp, c.kind))
		}
		out.Applied = append(out.Applied, canonical.FieldAvatar)
	}
	return out, nil
}

// settings reads settings (and whoami when a name must be kept), merges and
// writes the whole body.
func (a *Adapter) settings(ctx context.Context, do adapters.Doer, c creds, u canonical.Update) ([]canonical.Field, error) {
	var cur settingsResponse
	if err := a.get(ctx, do, c, "get settings", settingsPath, &cur); err != nil {
		return nil, err
	}
	body := settingsRequest{Image: cur.Image, OTPEnabled: cur.OTPEnabled}
	for _, n := range cur.Notifications {
		if n.Enabled {
			body.EnabledNotifications = append(body.EnabledNotifications, n.Code)
		}
	}
	if !(u.GivenName.Set && u.FamilyName.Set) {
		var who whoami
		if err := a.get(ctx, do, c, "whoami", whoamiPath, &who); err != nil {
			return nil, err
		}
		body.FirstName, body.LastName = who.FirstName, who.LastName
	}
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
		// The canonical list is the full set: omitted groups are opted out.
		body.EnabledNotifications = body.EnabledNotifications[:0]
		for _, n := range u.Notifications.V {
			body.EnabledNotifications = append(body.EnabledNotifications, a.notes[n])
		}
		applied = append(applied, canonical.FieldNotifications)
	}
	if body.EnabledNotifications == nil {
		body.EnabledNotifications = []string{}
	}
	sort.Strings(body.EnabledNotifications)
	body.EnabledNotifications = slices.Compact(body.EnabledNotifications)
	raw, _ := json.Marshal(body)
	resp, err := do.Do(ctx, &adapters.Call{Name: "put settings", Kind: adapters.Write, Method: http.MethodPut, Path: settingsPath, Header: c.header, Body: raw})
	if err != nil {
		return nil, fmt.Errorf("volterra: put settings: %w", err)
	}
	if !resp.Synthetic && !resp.OK() {
		return nil, fmt.Errorf("volterra: put settings: %w", mapError(resp, c.kind))
	}
	return applied, nil
}

func (a *Adapter) get(ctx context.Context, do adapters.Doer, c creds, name, path string, into any) error {
	resp, err := do.Do(ctx, &adapters.Call{Name: name, Kind: adapters.Read, Method: http.MethodGet, Path: path, Header: c.header})
	if err != nil {
		return fmt.Errorf("volterra: %s: %w", name, err)
	}
	if !resp.OK() {
		return fmt.Errorf("volterra: %s: %w", name, mapError(resp, c.kind))
	}
	if err := json.Unmarshal(resp.Body, into); err != nil {
		return fmt.Errorf("volterra: %s: %w", name, &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status, Message: "unreadable response"})
	}
	return nil
}

// mapError reads Volterra's error body, which the spec types as a JSON
// string and deployments send as {"code","message"}: both are accepted.
func mapError(r *adapters.Response, kind adapters.CredKind) *canonical.Error {
	return adapters.StatusError(r, kind, parseMessage(r.Body))
}

func parseMessage(b []byte) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return truncate(s)
	}
	var e errBody
	if json.Unmarshal(b, &e) == nil {
		return truncate(e.Message)
	}
	return ""
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
