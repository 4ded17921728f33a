package commvault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/session"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// Adapter writes canonical updates to Commvault.
type Adapter struct {
	// reads is what Read says each field is read from: built once, not
	// on every read.
	reads map[canonical.Field]adapters.ReadSupport
	// jsonHeader is an update's request header, built once and shared
	// by every update: nothing below a Doer changes a call's header in
	// place (a Doer that would copies it, adapters.Call.Clone), and it
	// carries no credential (the session adds the token to a copy).
	jsonHeader http.Header
	name       string
	cfg        Config
	cred       adapters.Credential
	sess       *session.Manager
}

var (
	_ adapters.Adapter     = (*Adapter)(nil)
	_ adapters.Preflighter = (*Adapter)(nil)
)

// Capabilities implements adapters.Adapter.
func (a *Adapter) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{
		IDFormat: "int32 userId",
		Fields: map[canonical.Field]adapters.Support{
			canonical.FieldUsername:      {Supported: true, As: "newName"},
			canonical.FieldEmail:         {Supported: true, As: "email"},
			canonical.FieldDisplayName:   {Supported: true, As: "fullName"},
			canonical.FieldEnabled:       {Supported: true, As: "enabled"},
			canonical.FieldGroups:        {Supported: true, As: "userGroupOperation (ADD/DELETE/OVERWRITE) + userGroups [{id}|{name}]"},
			canonical.FieldPassword:      {Supported: true, As: "newPassword + validationPassword (base64; validation = the service account's password, password.current unused)"},
			canonical.FieldPrincipalName: {Supported: true, As: "userPrincipalName"},
			canonical.FieldAuthMethod:    {Supported: true, As: "authenticationMethod (" + fmt.Sprint(a.cfg.AuthMethods) + ")"},
			canonical.FieldPlan:          {Supported: true, As: "plan {id}|{name}"},
			canonical.FieldGivenName:     {Reason: "Commvault users have one full name (fullName); no given name, and no derivation"},
			canonical.FieldFamilyName:    {Reason: "Commvault users have one full name (fullName); no family name, and no derivation"},
			canonical.FieldOTPEnabled:    {Reason: "two-factor authentication is a CommCell setting, not part of the user update"},
			canonical.FieldNotifications: {Reason: "Commvault's user update has no notification settings"},
			canonical.FieldAvatar:        {Reason: "Commvault users have no avatar"},
			canonical.FieldMetadata:      {Reason: "Commvault's user update has no free-form metadata"},
		},
	}.WithReads(reads())
}

// Preflight checks the int32 id, reference ids, the auth method and the
// configured password length.
func (a *Adapter) Preflight(op adapters.Op) ([]canonical.Unsupported, error) {
	var fe canonical.FieldErrors
	add := func(field, msg string) {
		fe = append(fe, canonical.FieldError{Field: field, Target: a.name, Message: msg})
	}
	if n, err := strconv.ParseInt(op.UserID, 10, 32); err != nil || n <= 0 || op.UserID[0] == '+' || op.UserID[0] == '0' {
		add("vendor_ids."+a.name, "Commvault user ids are positive int32 numbers")
	}
	u := op.Update
	if u.Groups.Set {
		for i, it := range u.Groups.V.Items {
			if it.ID.Set && (it.ID.V < math.MinInt32 || it.ID.V > math.MaxInt32) {
				add(fmt.Sprintf("user.groups.items[%d].id", i), "Commvault group ids are int32")
			}
		}
	}
	if u.Plan.Set && u.Plan.V.ID.Set && (u.Plan.V.ID.V < math.MinInt32 || u.Plan.V.ID.V > math.MaxInt32) {
		add("user.plan.id", "Commvault plan ids are int32")
	}
	if u.AuthMethod.Set && !slices.Contains(a.cfg.AuthMethods, u.AuthMethod.V) {
		add(canonical.FieldAuthMethod.Path(), fmt.Sprintf("must be one of %v", a.cfg.AuthMethods))
	}
	if u.Password.Set && a.cfg.MaxPasswordBytes > 0 && len(u.Password.V.New.Reveal()) > a.cfg.MaxPasswordBytes {
		add(canonical.FieldPassword.Path()+".new", fmt.Sprintf("must be at most %d bytes for this Commvault (settings.max_password_bytes)", a.cfg.MaxPasswordBytes))
	}
	return nil, fe.Err("commvault cannot take this update")
}

var groupOps = map[canonical.GroupOp]string{canonical.GroupAdd: "ADD", canonical.GroupRemove: "DELETE", canonical.GroupReplace: "OVERWRITE"}

// body builds the UpdateUser body from the fields the update sets.
func (a *Adapter) body(u canonical.Update) (updateUser, []canonical.Field, []string) {
	var b updateUser
	var secrets []string
	str := func(o canonical.Opt[string]) *string {
		if !o.Set {
			return nil
		}
		v := o.V
		return &v
	}
	b.FullName, b.NewName, b.Email = str(u.DisplayName), str(u.Username), str(u.Email)
	b.UserPrincipalName, b.AuthenticationMethod = str(u.PrincipalName), str(u.AuthMethod)
	if u.Enabled.Set {
		v := u.Enabled.V
		b.Enabled = &v
	}
	if u.Groups.Set {
		b.UserGroupOperation = groupOps[u.Groups.V.Op]
		b.UserGroups = make([]idName, 0, len(u.Groups.V.Items))
		for _, it := range u.Groups.V.Items {
			b.UserGroups = append(b.UserGroups, ref(it))
		}
	}
	if u.Plan.Set {
		r := ref(u.Plan.V)
		b.Plan = &r
	}
	if u.Password.Set {
		b.NewPassword = base64.StdEncoding.EncodeToString([]byte(u.Password.V.New.Reveal()))
		b.ValidationPassword = base64.StdEncoding.EncodeToString([]byte(a.cred.Password.Reveal()))
		secrets = []string{"/newPassword", "/validationPassword"}
	}
	return b, u.Fields(), secrets
}

func ref(r canonical.Ref) idName {
	var out idName
	if r.ID.Set {
		v := r.ID.V
		out.ID = &v
	}
	if r.Name.Set {
		v := r.Name.V
		out.Name = &v
	}
	return out
}

// Apply implements adapters.Adapter.
func (a *Adapter) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	do = a.sess.Wrap(do)
	out := adapters.Outcome{VendorID: op.UserID}
	b, fields, secrets := a.body(op.Update)
	raw, err := json.Marshal(b)
	if err != nil {
		return out, fmt.Errorf("commvault: encode: %w", &canonical.Error{Code: canonical.CodeInternal, Message: "encoding the update failed"})
	}
	resp, err := do.Do(ctx, &adapters.Call{Name: "put user", Kind: adapters.Write, Method: http.MethodPut, Path: "/V4/user/" + op.UserID,
		Header: a.jsonHeader, Body: raw, Secrets: secrets})
	if err != nil {
		return out, fmt.Errorf("commvault: put user: %w", err)
	}
	if !resp.Synthetic {
		if e := outcome(resp); e != nil {
			return out, fmt.Errorf("commvault: put user: %w", e)
		}
	}
	out.Applied = fields
	return out, nil
}
