package akana

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/session"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// Adapter writes canonical updates to Akana.
type Adapter struct {
	name  string
	cfg   Config
	cred  adapters.Credential
	notes map[string]string
	sess  *session.Manager
	now   func() time.Time
}

var (
	_ adapters.Adapter     = (*Adapter)(nil)
	_ adapters.Preflighter = (*Adapter)(nil)
)

// accountSettings is AccountSettings.
type accountSettings struct {
	UserID            string   `json:"UserID"`
	Email             string   `json:"Email"`
	OptedNotification []string `json:"OptedNotification"`
}

// Capabilities implements adapters.Adapter.
func (a *Adapter) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{
		IDFormat: "<uuid>.<fedmemberid> (" + a.cfg.Tenant + ")",
		Fields: map[canonical.Field]adapters.Support{
			canonical.FieldEmail:         {Supported: true, As: "Email (PUT /api/users/{UserID}/settings)"},
			canonical.FieldNotifications: {Supported: true, As: "OptedNotification (PUT /api/users/{UserID}/settings, full set)", Reason: "names without a configured code are not supported"},
			canonical.FieldGivenName:     {Supported: true, As: "FirstName (PUT /api/users/{UserID}, max 64)"},
			canonical.FieldFamilyName:    {Supported: true, As: "LastName (PUT /api/users/{UserID}, max 64)"},
			canonical.FieldUsername:      {Reason: "Akana users log in by e-mail; there is no separate user name to change"},
			canonical.FieldDisplayName:   {Reason: "Akana derives display names from FirstName and LastName; no field of its own"},
			canonical.FieldEnabled:       {Reason: "user state changes are a separate admin workflow, not account settings"},
			canonical.FieldOTPEnabled:    {Reason: "Akana account settings have no OTP switch"},
			canonical.FieldAvatar:        {Reason: "avatars are uploaded through a separate picture API not covered by the contract"},
			canonical.FieldGroups:        {Reason: "group membership is managed through group APIs, not account settings"},
			canonical.FieldPassword:      {Reason: "password changes require the user's own session and challenge flow"},
			canonical.FieldMetadata:      {Reason: "Akana users have no free-form metadata"},
			canonical.FieldPrincipalName: {Reason: "Akana has no principal name"},
			canonical.FieldAuthMethod:    {Reason: "the login domain is tenant configuration"},
			canonical.FieldPlan:          {Reason: "plans belong to apps and APIs, not users"},
		},
	}
}

var userIDRe = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\.([A-Za-z0-9_-]+)$`)

// Preflight checks the UserID form and tenant, name lengths, the e-mail
// limit and the notification mapping.
func (a *Adapter) Preflight(op adapters.Op) ([]canonical.Unsupported, error) {
	var fe canonical.FieldErrors
	add := func(field, msg string) {
		fe = append(fe, canonical.FieldError{Field: field, Target: a.name, Message: msg})
	}
	if m := userIDRe.FindStringSubmatch(op.UserID); m == nil {
		add("vendor_ids."+a.name, "Akana UserIDs look like <uuid>.<fedmemberid>")
	} else if m[2] != a.cfg.Tenant {
		add("vendor_ids."+a.name, fmt.Sprintf("the UserID's tenant %q is not the configured tenant %q", m[2], a.cfg.Tenant))
	}
	u := op.Update
	for f, o := range map[canonical.Field]canonical.Opt[string]{canonical.FieldGivenName: u.GivenName, canonical.FieldFamilyName: u.FamilyName} {
		if o.Set && utf8.RuneCountInString(o.V) > 64 {
			add(f.Path(), "Akana takes at most 64 characters")
		}
	}
	if u.Email.Set && len(u.Email.V) > 320 {
		add(canonical.FieldEmail.Path(), "Akana takes at most 320 characters")
	}
	var uns []canonical.Unsupported
	if u.Notifications.Set {
		var missing []string
		for _, n := range u.Notifications.V {
			if _, ok := a.notes[n]; !ok {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			uns = append(uns, canonical.Unsupported{Field: canonical.FieldNotifications, Reason: "no Akana notification type configured for " + strings.Join(missing, ", ")})
		}
	}
	slices.SortFunc(fe, func(x, y canonical.FieldError) int { return strings.Compare(x.Field, y.Field) })
	return uns, fe.Err("akana cannot take this update")
}

// Apply implements adapters.Adapter.
func (a *Adapter) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	do = a.sess.Wrap(do)
	u := op.Update
	out := adapters.Outcome{VendorID: op.UserID}
	base := "/api/users/" + url.PathEscape(op.UserID)
	if u.Email.Set || u.Notifications.Set {
		if err := a.settings(ctx, do, base, op.UserID, u); err != nil {
			return out, err
		}
		if u.Email.Set {
			out.Applied = append(out.Applied, canonical.FieldEmail)
		}
		if u.Notifications.Set {
			out.Applied = append(out.Applied, canonical.FieldNotifications)
		}
	}
	if u.GivenName.Set || u.FamilyName.Set {
		if err := a.names(ctx, do, base, op.UserID, u); err != nil {
			return out, err
		}
		if u.GivenName.Set {
			out.Applied = append(out.Applied, canonical.FieldGivenName)
		}
		if u.FamilyName.Set {
			out.Applied = append(out.Applied, canonical.FieldFamilyName)
		}
	}
	return out, nil
}

func (a *Adapter) header(write bool) http.Header {
	h := http.Header{"Accept": {"application/json"}}
	if write {
		h.Set("Accept", "text/plain")
		h.Set("Content-Type", "application/json; charset=UTF-8")
	}
	return h
}

func (a *Adapter) settings(ctx context.Context, do adapters.Doer, base, userID string, u canonical.Update) error {
	body := accountSettings{UserID: userID}
	if !(u.Email.Set && u.Notifications.Set) {
		resp, err := do.Do(ctx, &adapters.Call{Name: "get settings", Kind: adapters.Read, Method: http.MethodGet, Path: base + "/settings", Header: a.header(false)})
		if err != nil {
			return fmt.Errorf("akana: get settings: %w", err)
		}
		if !resp.OK() {
			return fmt.Errorf("akana: get settings: %w", mapError(resp))
		}
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			return fmt.Errorf("akana: get settings: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status, Message: "unreadable AccountSettings"})
		}
		body.UserID = userID
	}
	if u.Email.Set {
		body.Email = u.Email.V
	}
	if u.Notifications.Set {
		body.OptedNotification = make([]string, 0, len(u.Notifications.V))
		for _, n := range u.Notifications.V {
			body.OptedNotification = append(body.OptedNotification, a.notes[n])
		}
	}
	if body.OptedNotification == nil {
		body.OptedNotification = []string{}
	}
	raw, _ := json.Marshal(body)
	return a.put(ctx, do, "put settings", base+"/settings", userID, raw)
}

// names reads the whole User object and writes it back with the new names,
// so a PUT that replaces never clears the phone or e-mail.
func (a *Adapter) names(ctx context.Context, do adapters.Doer, base, userID string, u canonical.Update) error {
	resp, err := do.Do(ctx, &adapters.Call{Name: "get user", Kind: adapters.Read, Method: http.MethodGet, Path: base, Header: a.header(false)})
	if err != nil {
		return fmt.Errorf("akana: get user: %w", err)
	}
	if !resp.OK() {
		return fmt.Errorf("akana: get user: %w", mapError(resp))
	}
	var obj map[string]any
	if err := json.Unmarshal(resp.Body, &obj); err != nil || obj == nil {
		return fmt.Errorf("akana: get user: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status, Message: "unreadable User"})
	}
	// Read-only members are not sent back.
	delete(obj, "State")
	obj["UserID"] = userID
	if u.GivenName.Set {
		obj["FirstName"] = u.GivenName.V
	}
	if u.FamilyName.Set {
		obj["LastName"] = u.FamilyName.V
	}
	raw, _ := json.Marshal(obj)
	return a.put(ctx, do, "put user", base, userID, raw)
}

// put writes and checks the 200 text/plain UserID answer.
func (a *Adapter) put(ctx context.Context, do adapters.Doer, name, path, userID string, body []byte) error {
	resp, err := do.Do(ctx, &adapters.Call{Name: name, Kind: adapters.Write, Method: http.MethodPut, Path: path, Header: a.header(true), Body: body})
	if err != nil {
		return fmt.Errorf("akana: %s: %w", name, err)
	}
	if resp.Synthetic {
		return nil
	}
	if !resp.OK() {
		return fmt.Errorf("akana: %s: %w", name, mapError(resp))
	}
	if got := strings.Trim(strings.TrimSpace(string(resp.Body)), `"`); got != userID {
		return fmt.Errorf("akana: %s: %w", name, &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Akana answered 200 without the UserID it should confirm"})
	}
	return nil
}

// mapError: Akana's error bodies are short text; a 401 that survives the
// session's one re-login is the service account's problem.
func mapError(r *adapters.Response) *canonical.Error {
	return adapters.StatusError(r, adapters.ServiceCredential, truncate(strings.TrimSpace(string(r.Body))))
}

func truncate(s string) string {
	if !utf8.ValidString(s) {
		return ""
	}
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
