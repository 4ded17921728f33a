package frontier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Reader = (*Adapter)(nil)

const getUserFrom = "GET /v1beta1/users/{id}"

// reads is the read side of the capability matrix (frontier.md section 9.4).
func reads() map[canonical.Field]adapters.ReadSupport {
	return map[canonical.Field]adapters.ReadSupport{
		canonical.FieldUsername:      {As: "name (" + getUserFrom + ")"},
		canonical.FieldEmail:         {As: "email (" + getUserFrom + ")"},
		canonical.FieldDisplayName:   {As: "title (" + getUserFrom + ")"},
		canonical.FieldEnabled:       {As: "state (" + getUserFrom + "; GET hides disabled users, so a found user is enabled)"},
		canonical.FieldAvatar:        {As: "avatar data URI (" + getUserFrom + ")"},
		canonical.FieldMetadata:      {As: "metadata (" + getUserFrom + ")"},
		canonical.FieldGivenName:     {Reason: "Frontier users have no given name; only title"},
		canonical.FieldFamilyName:    {Reason: "Frontier users have no family name; only title"},
		canonical.FieldOTPEnabled:    {Reason: "Frontier's user API has no OTP setting"},
		canonical.FieldNotifications: {Reason: "Frontier's user API has no notification settings"},
		canonical.FieldGroups:        {Reason: "group membership is a separate Frontier API"},
		canonical.FieldPassword:      {Reason: "Frontier users authenticate through external IdPs; no password"},
		canonical.FieldPrincipalName: {Reason: "Frontier's user API has no principal name"},
		canonical.FieldAuthMethod:    {Reason: "Frontier's user API has no authentication method field"},
		canonical.FieldPlan:          {Reason: "Frontier plans belong to billing accounts, not users"},
	}
}

// readUser is the User message with the timestamp Read reports as the
// version.
type readUser struct {
	user
	UpdatedAt string `json:"updated_at"`
}

// Read implements adapters.Reader with one GET by UUID. Frontier's GET by
// UUID skips disabled users and answers 404 code 5 "user doesn't exist"
// for them as for a missing user (frontier.md section 2.2), so a 404 is
// reported as not_found with a message saying the user is missing or
// disabled: the read cannot tell which. updated_at is the version (it
// moves on every successful PUT, even one that changed nothing).
func (a *Adapter) Read(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Snapshot, error) {
	resp, err := do.Do(ctx, &adapters.Call{Name: "get user", Kind: adapters.Read, Method: http.MethodGet,
		Path: "/v1beta1/users/" + url.PathEscape(op.UserID), Header: a.header()})
	if err != nil {
		return adapters.Snapshot{}, fmt.Errorf("frontier: get user: %w", err)
	}
	if resp.Status == http.StatusNotFound {
		e := a.mapError(resp)
		e.Code = canonical.CodeNotFound
		e.Message = "Frontier shows no enabled user with this id: GET hides disabled users, so the user is either missing or disabled (" + e.Message + ")"
		return adapters.Snapshot{}, fmt.Errorf("frontier: get user: %w", e)
	}
	if !resp.OK() {
		return adapters.Snapshot{}, fmt.Errorf("frontier: get user: %w", a.mapError(resp))
	}
	var env struct {
		User *readUser `json:"user"`
	}
	if err := json.Unmarshal(resp.Body, &env); err != nil || env.User == nil {
		return adapters.Snapshot{}, fmt.Errorf("frontier: get user: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Frontier answered with an unreadable user"})
	}
	u := env.User
	snap := adapters.Snapshot{VendorID: op.UserID}
	if u.ID != "" {
		snap.VendorID = u.ID
	}
	r := a.reads
	snap.Set(canonical.FieldUsername, u.Name, r[canonical.FieldUsername].As)
	snap.Set(canonical.FieldEmail, u.Email, r[canonical.FieldEmail].As)
	snap.Set(canonical.FieldDisplayName, u.Title, r[canonical.FieldDisplayName].As)
	// An absent state is proto3's zero value; GET found the user, and GET
	// finds enabled users only.
	snap.Set(canonical.FieldEnabled, u.State == "" || u.State == "enabled", r[canonical.FieldEnabled].As)
	var av any
	if u.Avatar != "" {
		av = avatarValue(u.Avatar)
	}
	snap.Set(canonical.FieldAvatar, av, r[canonical.FieldAvatar].As)
	md := canonical.Metadata{}
	for k, v := range u.Metadata {
		md[k] = v
	}
	snap.Set(canonical.FieldMetadata, md, r[canonical.FieldMetadata].As)
	if u.UpdatedAt != "" {
		snap.Version = &adapters.Version{Value: u.UpdatedAt, From: "updated_at (" + getUserFrom + ")"}
	}
	return snap, nil
}

// avatarValue digests a data URI's picture. Anything else (Frontier also
// takes plain URLs) is digested as the string itself.
func avatarValue(s string) adapters.AvatarValue {
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		if ct, isB64 := strings.CutSuffix(meta, ";base64"); ok && isB64 {
			if b, err := base64.StdEncoding.DecodeString(data); err == nil {
				return adapters.NewAvatarValue(ct, b)
			}
		}
	}
	return adapters.NewAvatarValue("", []byte(s))
}
