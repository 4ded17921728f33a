package akana

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var _ adapters.Reader = (*Adapter)(nil)

const (
	getSettingsFrom = "GET /api/users/{UserID}/settings"
	getUserFrom     = "GET /api/users/{UserID}"
)

// reads is the read side of the capability matrix (akana.md sections 2.1
// and 9.1).
func reads() map[canonical.Field]adapters.ReadSupport {
	return map[canonical.Field]adapters.ReadSupport{
		canonical.FieldEmail:         {As: "Email (" + getSettingsFrom + ")"},
		canonical.FieldNotifications: {As: "OptedNotification codes, as canonical names (" + getSettingsFrom + ")"},
		canonical.FieldGivenName:     {As: "FirstName (" + getUserFrom + ")"},
		canonical.FieldFamilyName:    {As: "LastName (" + getUserFrom + ")"},
		canonical.FieldUsername:      {Reason: "Akana users log in by e-mail; no separate user name is documented in the read-back"},
		canonical.FieldDisplayName:   {Reason: "Akana derives display names from FirstName and LastName; no field of its own"},
		canonical.FieldEnabled:       {Reason: "the User object's State and Disabled members are not documented well enough to map"},
		canonical.FieldOTPEnabled:    {Reason: "Akana account settings have no OTP switch"},
		canonical.FieldAvatar:        {Reason: "avatars are served by a separate picture API not covered by the contract"},
		canonical.FieldGroups:        {Reason: "group membership is read through group APIs, not the user"},
		canonical.FieldPassword:      {Reason: "write-only: Akana never returns a password"},
		canonical.FieldMetadata:      {Reason: "Akana users have no free-form metadata"},
		canonical.FieldPrincipalName: {Reason: "Akana has no principal name"},
		canonical.FieldAuthMethod:    {Reason: "the login domain is tenant configuration"},
		canonical.FieldPlan:          {Reason: "plans belong to apps and APIs, not users"},
	}
}

// Read implements adapters.Reader: GET settings (e-mail, notifications),
// then GET user (names). Akana documents no status for an unknown UserID
// (only 401 and 500, akana.md section 2.2); a 404 is read as not_found
// (GUESS, which the simulator follows), anything else through the generic
// table. Akana has no version or ETag for a user.
func (a *Adapter) Read(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Snapshot, error) {
	do = a.sess.Wrap(do)
	base := "/api/users/" + url.PathEscape(op.UserID)
	r := a.reads
	snap := adapters.Snapshot{VendorID: op.UserID}

	// Two calls hold the readable fields; a caller that needs none of one
	// call's fields (gateway migrate copying only what its destinations
	// take) is spared it. Settings are read when nothing is asked: they
	// still say whether the user exists.
	needNames := op.Wants(canonical.FieldGivenName, canonical.FieldFamilyName)
	if op.Wants(canonical.FieldEmail, canonical.FieldNotifications) || !needNames {
		resp, err := a.get(ctx, do, "get settings", base+"/settings")
		if err != nil {
			return adapters.Snapshot{}, err
		}
		set, err := parseSettings(resp.Body)
		if err != nil {
			return adapters.Snapshot{}, fmt.Errorf("akana: get settings: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
				Message: "Akana answered GET settings with an unreadable AccountSettings"})
		}
		snap.Set(canonical.FieldEmail, set.Email, r[canonical.FieldEmail].As)
		names, unmapped := a.names(set.OptedNotification)
		snap.Fields[canonical.FieldNotifications] = adapters.Value{Value: names, From: r[canonical.FieldNotifications].As, Unmapped: unmapped}
	}
	if !needNames {
		return snap, nil
	}

	resp, err := a.get(ctx, do, "get user", base)
	if err != nil {
		return adapters.Snapshot{}, err
	}
	var u struct{ FirstName, LastName string }
	if decodeObject(resp.Body, &u) != nil {
		return adapters.Snapshot{}, fmt.Errorf("akana: get user: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Akana answered GET user with an unreadable User object"})
	}
	snap.Set(canonical.FieldGivenName, u.FirstName, r[canonical.FieldGivenName].As)
	snap.Set(canonical.FieldFamilyName, u.LastName, r[canonical.FieldFamilyName].As)
	return snap, nil
}

// names maps Akana codes back to canonical names, sorted; a code no name
// maps to is returned in unmapped, and a code two names share gives both.
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
