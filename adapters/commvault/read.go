package commvault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Reader = (*Adapter)(nil)

// getUser is the one read call: GET /V4/user/{userId} returns the User
// object at top level (commvault.md section 2.2).
const getUserFrom = "GET /V4/user/{userId}"

// reads is the read side of the capability matrix: what GET /V4/user/{userId}
// shows (commvault.md section 9.1).
func reads() map[canonical.Field]adapters.ReadSupport {
	return map[canonical.Field]adapters.ReadSupport{
		canonical.FieldUsername:      {As: "name (" + getUserFrom + ")"},
		canonical.FieldEmail:         {As: "email (" + getUserFrom + ")"},
		canonical.FieldDisplayName:   {As: "fullName (" + getUserFrom + ")"},
		canonical.FieldEnabled:       {As: "enabled (" + getUserFrom + ")"},
		canonical.FieldGroups:        {As: "associatedUserGroups [{id, name}] (" + getUserFrom + ")"},
		canonical.FieldPrincipalName: {As: "userPrincipalName (" + getUserFrom + ")"},
		canonical.FieldAuthMethod:    {As: "authenticationMethod (" + getUserFrom + ")"},
		canonical.FieldPlan:          {As: "plan {id, name} (" + getUserFrom + ")"},
		canonical.FieldPassword:      {Reason: "write-only: Commvault never returns a password"},
		canonical.FieldGivenName:     {Reason: "Commvault users have one full name (fullName); no given name"},
		canonical.FieldFamilyName:    {Reason: "Commvault users have one full name (fullName); no family name"},
		canonical.FieldOTPEnabled:    {Reason: "two-factor authentication is a CommCell setting, not part of the user"},
		canonical.FieldNotifications: {Reason: "Commvault users have no notification settings"},
		canonical.FieldAvatar:        {Reason: "Commvault users have no avatar"},
		canonical.FieldMetadata:      {Reason: "Commvault users have no free-form metadata"},
	}
}

// readUser is the part of the User object Read reports.
type readUser struct {
	userDetails
	ID        int64 `json:"id"`
	ErrorCode *int  `json:"errorCode"`
}

// Read implements adapters.Reader with one GET. An unknown id is Commvault's
// 404 "Requested Details not found" (commvault.md section 2.2; Commvault's
// Terraform provider reads the same 404 as "user deleted"): not_found.
// Commvault has no version or ETag for a user.
func (a *Adapter) Read(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Snapshot, error) {
	do = a.sess.Wrap(do)
	resp, err := do.Do(ctx, &adapters.Call{Name: "get user", Kind: adapters.Read, Method: http.MethodGet, Path: "/V4/user/" + op.UserID,
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return adapters.Snapshot{}, fmt.Errorf("commvault: get user: %w", err)
	}
	if !resp.OK() {
		return adapters.Snapshot{}, fmt.Errorf("commvault: get user: %w", outcome(resp))
	}
	var u readUser
	if err := json.Unmarshal(resp.Body, &u); err != nil {
		return adapters.Snapshot{}, fmt.Errorf("commvault: get user: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Commvault answered GET user with an unreadable User object"})
	}
	if u.ErrorCode != nil && *u.ErrorCode != 0 {
		// A 200 carrying GenericResp's errorCode is a failure (section 6).
		var g genericResp
		_ = json.Unmarshal(resp.Body, &g)
		return adapters.Snapshot{}, fmt.Errorf("commvault: get user: %w", byCode(resp.Status, *u.ErrorCode, g.ErrorMessage))
	}
	snap := adapters.Snapshot{VendorID: op.UserID}
	if u.ID != 0 {
		snap.VendorID = strconv.FormatInt(u.ID, 10)
	}
	r := a.reads
	snap.Set(canonical.FieldUsername, u.Name, r[canonical.FieldUsername].As)
	snap.Set(canonical.FieldEmail, u.Email, r[canonical.FieldEmail].As)
	snap.Set(canonical.FieldDisplayName, u.FullName, r[canonical.FieldDisplayName].As)
	snap.Set(canonical.FieldEnabled, u.Enabled, r[canonical.FieldEnabled].As)
	snap.Set(canonical.FieldPrincipalName, u.UserPrincipalName, r[canonical.FieldPrincipalName].As)
	snap.Set(canonical.FieldAuthMethod, u.AuthenticationMethod, r[canonical.FieldAuthMethod].As)
	groups := make([]adapters.RefValue, 0, len(u.AssociatedUserGroups))
	for _, g := range u.AssociatedUserGroups {
		groups = append(groups, refValue(g))
	}
	snap.Set(canonical.FieldGroups, groups, r[canonical.FieldGroups].As)
	var plan any // no plan: null
	if u.Plan != nil && (u.Plan.ID != 0 || u.Plan.Name != "") {
		plan = refValue(*u.Plan)
	}
	snap.Set(canonical.FieldPlan, plan, r[canonical.FieldPlan].As)
	return snap, nil
}

func refValue(d details) adapters.RefValue {
	id := d.ID
	return adapters.RefValue{ID: &id, Name: d.Name}
}
