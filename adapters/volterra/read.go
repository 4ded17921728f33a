package volterra

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Reader = (*Adapter)(nil)

const (
	whoamiFrom   = "GET whoami"
	settingsFrom = "GET user/settings"
	imageFrom    = "GET user/settings/image"
)

// reads is the read side of the capability matrix: whoami for the identity
// and names, the settings and the settings image (volterra.md sections
// 2.2, 2.3, 2.5).
func reads() map[canonical.Field]adapters.ReadSupport {
	return map[canonical.Field]adapters.ReadSupport{
		canonical.FieldUsername:      {As: "name (" + whoamiFrom + ")"},
		canonical.FieldEmail:         {As: "email (" + whoamiFrom + ")"},
		canonical.FieldGivenName:     {As: "first_name (" + whoamiFrom + ")"},
		canonical.FieldFamilyName:    {As: "last_name (" + whoamiFrom + ")"},
		canonical.FieldEnabled:       {As: "not disabled (" + whoamiFrom + ")"},
		canonical.FieldOTPEnabled:    {As: "otp_enabled (" + settingsFrom + ")"},
		canonical.FieldNotifications: {As: "notifications[].code where enabled, as canonical names (" + settingsFrom + ")"},
		canonical.FieldAvatar:        {As: "content_type + data (" + imageFrom + ")"},
		canonical.FieldDisplayName:   {Reason: "Volterra keeps first and last name only; no display name"},
		canonical.FieldGroups:        {Reason: "group and role bindings are tenant-admin APIs (user_roles), not the user's own"},
		canonical.FieldPassword:      {Reason: "write-only: passwords belong to the IAM provider and are never returned"},
		canonical.FieldMetadata:      {Reason: "user settings have no metadata"},
		canonical.FieldPrincipalName: {Reason: "user settings have no principal name"},
		canonical.FieldAuthMethod:    {Reason: "the IdM type is tenant configuration, not a user setting"},
		canonical.FieldPlan:          {Reason: "plans belong to the tenant, not the user"},
	}
}

// readWho is the part of whoami Read reports.
type readWho struct {
	whoamiResponse
	Name     string `json:"name"`
	Email    string `json:"email"`
	Disabled bool   `json:"disabled"`
}

// Read implements adapters.Reader: whoami, GET settings and GET settings
// image, all as the credential's owner. Volterra reads only the owner's own
// settings and has no user selector (section 4), so the op's id must name
// that owner (its name, e-mail or user_uuid): otherwise the user asked for
// cannot be read through this credential, reported as not_found rather
// than showing someone else's settings. Volterra has no version or ETag
// for user settings.
func (a *Adapter) Read(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Snapshot, error) {
	if fieldErr, bad := a.checkCredential(op); bad {
		return adapters.Snapshot{}, fmt.Errorf("volterra: credential: %w", &canonical.Error{Code: canonical.CodeInvalidRequest, Message: fieldErr.Message, Fields: []canonical.FieldError{fieldErr}})
	}
	cred, _ := a.credentialFor(op)
	var who readWho
	if err := a.read(ctx, do, cred, "whoami", whoamiPath, &who); err != nil {
		return adapters.Snapshot{}, err
	}
	if strings.EqualFold(who.Type, "SERVICE") {
		return adapters.Snapshot{}, fmt.Errorf("volterra: whoami: %w", serviceUserError(cred.kind))
	}
	if id := op.UserID; id != "" && id != who.Name && id != who.UserUUID && !strings.EqualFold(id, who.Email) {
		return adapters.Snapshot{}, fmt.Errorf("volterra: whoami: %w", &canonical.Error{Code: canonical.CodeNotFound,
			Message: fmt.Sprintf("the Volterra credential belongs to user %s, not to the user asked for; Volterra shows only the credential owner's settings", who.UserUUID)})
	}
	// whoami is always read (it proves whose settings these are); the
	// settings and the image only when the caller wants their fields.
	var set settingsResponse
	wantSettings := op.Wants(canonical.FieldOTPEnabled, canonical.FieldNotifications)
	if wantSettings {
		if err := a.read(ctx, do, cred, "get settings", settingsPath, &set); err != nil {
			return adapters.Snapshot{}, err
		}
	}
	var img struct {
		ContentType string `json:"content_type"`
		Data        string `json:"data"`
	}
	wantImage := op.Wants(canonical.FieldAvatar)
	if wantImage {
		if err := a.read(ctx, do, cred, "get settings image", imagePath, &img); err != nil {
			return adapters.Snapshot{}, err
		}
	}

	r := a.reads
	snap := adapters.Snapshot{VendorID: who.UserUUID}
	snap.Set(canonical.FieldUsername, who.Name, r[canonical.FieldUsername].As)
	snap.Set(canonical.FieldEmail, who.Email, r[canonical.FieldEmail].As)
	snap.Set(canonical.FieldGivenName, who.FirstName, r[canonical.FieldGivenName].As)
	snap.Set(canonical.FieldFamilyName, who.LastName, r[canonical.FieldFamilyName].As)
	snap.Set(canonical.FieldEnabled, !who.Disabled, r[canonical.FieldEnabled].As)
	if wantSettings {
		snap.Set(canonical.FieldOTPEnabled, set.OTPEnabled, r[canonical.FieldOTPEnabled].As)
		var codes []string
		for _, n := range set.Notifications {
			if n.Enabled && n.Code != "" {
				codes = append(codes, n.Code)
			}
		}
		names, unmapped := a.names(codes)
		snap.Fields[canonical.FieldNotifications] = adapters.Value{Value: names, From: r[canonical.FieldNotifications].As, Unmapped: unmapped}
	}
	if wantImage {
		var av any
		if img.Data != "" {
			b, err := base64.StdEncoding.DecodeString(img.Data)
			if err != nil {
				return adapters.Snapshot{}, fmt.Errorf("volterra: get settings image: %w", upstreamError(200, "the image answer's data is not base64"))
			}
			av = adapters.NewAvatarValue(img.ContentType, b)
		}
		snap.Set(canonical.FieldAvatar, av, r[canonical.FieldAvatar].As)
	}
	return snap, nil
}

// names maps Volterra codes back to canonical names, sorted; codes no name
// maps to come back in unmapped.
func (a *Adapter) names(codes []string) (names, unmapped []string) {
	names = []string{}
	for _, c := range codes {
		found := false
		for n, code := range a.notes {
			if code == c {
				names = append(names, n)
				found = true
			}
		}
		if !found {
			unmapped = append(unmapped, c)
		}
	}
	slices.Sort(names)
	slices.Sort(unmapped)
	return slices.Compact(names), slices.Compact(unmapped)
}
