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

// Field limits of the User object (akana.md section 2.4, [A10]).
const (
	maxNameRunes  = 64
	maxEmailRunes = 320
)

// Adapter writes canonical updates to Akana. It holds one session shared
// by all requests; build it with Config.Open.
type Adapter struct {
	// reads is what Read says each field is read from: built once, not
	// on every read.
	reads map[canonical.Field]adapters.ReadSupport
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

// Capabilities implements adapters.Adapter.
func (a *Adapter) Capabilities() adapters.Capabilities {
	// The wording is mirrored in the README's generated matrix: change
	// both together (go test ./cmd/gateway -run ReadmeCapability -update-readme).
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
	}.WithReads(reads())
}

var userIDRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\.([A-Za-z0-9_-]+)$`)

// Preflight checks, before any call to any target, the UserID form and
// tenant, the User object's name and e-mail limits, and that every
// notification name has an Akana code.
func (a *Adapter) Preflight(op adapters.Op) ([]canonical.Unsupported, error) {
	var fe canonical.FieldErrors
	add := func(field, msg string) {
		fe = append(fe, canonical.FieldError{Field: field, Target: a.name, Message: msg})
	}
	if m := userIDRe.FindStringSubmatch(op.UserID); m == nil {
		add("vendor_ids."+a.name, "Akana UserIDs look like <uuid>.<fedmemberid>")
	} else if m[1] != a.cfg.Tenant {
		add("vendor_ids."+a.name, fmt.Sprintf("the UserID's tenant %q is not the configured tenant %q", m[1], a.cfg.Tenant))
	}
	u := op.Update
	if u.GivenName.Set && utf8.RuneCountInString(u.GivenName.V) > maxNameRunes {
		add(canonical.FieldGivenName.Path(), fmt.Sprintf("Akana's FirstName takes at most %d characters", maxNameRunes))
	}
	if u.FamilyName.Set && utf8.RuneCountInString(u.FamilyName.V) > maxNameRunes {
		add(canonical.FieldFamilyName.Path(), fmt.Sprintf("Akana's LastName takes at most %d characters", maxNameRunes))
	}
	if u.Email.Set && utf8.RuneCountInString(u.Email.V) > maxEmailRunes {
		add(canonical.FieldEmail.Path(), fmt.Sprintf("Akana's Email takes at most %d characters", maxEmailRunes))
	}
	var uns []canonical.Unsupported
	if u.Notifications.Set {
		var missing []string
		for _, n := range u.Notifications.V {
			if _, ok := a.notes[n]; !ok && !slices.Contains(missing, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			uns = append(uns, canonical.Unsupported{Field: canonical.FieldNotifications,
				Reason: "no Akana notification type is configured for " + strings.Join(missing, ", ")})
		}
	}
	return uns, fe.Err("akana cannot take this update")
}

// Apply implements adapters.Adapter: the settings call for e-mail and
// notifications, then the user call for names, each read-modify-write.
func (a *Adapter) Apply(ctx context.Context, do adapters.Doer, op adapters.Op) (adapters.Outcome, error) {
	do = a.sess.Wrap(do)
	u := op.Update
	out := adapters.Outcome{VendorID: op.UserID}
	base := "/api/users/" + url.PathEscape(op.UserID)
	if u.Email.Set || u.Notifications.Set {
		if err := a.putSettings(ctx, do, base, op.UserID, u); err != nil {
			return out, err
		}
	}
	if u.GivenName.Set || u.FamilyName.Set {
		if err := a.putUser(ctx, do, base, op.UserID, u); err != nil {
			return out, err
		}
	}
	for _, f := range u.Fields() {
		switch f {
		case canonical.FieldEmail, canonical.FieldNotifications, canonical.FieldGivenName, canonical.FieldFamilyName:
			out.Applied = append(out.Applied, f)
		}
	}
	return out, nil
}

// codes maps canonical notification names to Akana codes, dropping
// duplicates (two names may share a code), in request order.
func (a *Adapter) codes(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if c := a.notes[n]; c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func readHeader() http.Header { return http.Header{"Accept": {"application/json"}} }

// writeHeader: the PUT answers text/plain (akana.md section 2.2).
func writeHeader() http.Header {
	return http.Header{"Accept": {"text/plain"}, "Content-Type": {"application/json"}}
}

// get sends a Read call and returns the 2xx body.
func (a *Adapter) get(ctx context.Context, do adapters.Doer, name, path string) (*adapters.Response, error) {
	resp, err := do.Do(ctx, &adapters.Call{Name: name, Kind: adapters.Read, Method: http.MethodGet, Path: path, Header: readHeader()})
	if err != nil {
		return nil, fmt.Errorf("akana: %s: %w", name, err)
	}
	if !resp.OK() {
		return nil, fmt.Errorf("akana: %s: %w", name, mapError(resp))
	}
	return resp, nil
}

// putSettings writes AccountSettings. The PUT replaces both the opted-in
// set and the e-mail, so unless the update gives both, the current
// settings are read first and the missing one is sent back unchanged.
func (a *Adapter) putSettings(ctx context.Context, do adapters.Doer, base, userID string, u canonical.Update) error {
	body := accountSettings{UserID: userID}
	if !u.Email.Set || !u.Notifications.Set {
		resp, err := a.get(ctx, do, "get settings", base+"/settings")
		if err != nil {
			return err
		}
		cur, err := parseSettings(resp.Body)
		if err != nil {
			return fmt.Errorf("akana: get settings: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
				Message: "Akana answered GET settings with an unreadable AccountSettings"})
		}
		body.Email, body.OptedNotification = cur.Email, cur.OptedNotification
	}
	if u.Email.Set {
		body.Email = u.Email.V
	}
	if u.Notifications.Set {
		body.OptedNotification = a.codes(u.Notifications.V)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("akana: put settings: %w", &canonical.Error{Code: canonical.CodeInternal, Message: "encoding AccountSettings failed"})
	}
	return a.put(ctx, do, "put settings", base+"/settings", userID, raw)
}

// putUser writes the names. The docs do not say that PUT
// /api/users/{UserID} leaves out members alone, so it is treated as a
// replacement: the whole User object is read and sent back with only
// FirstName and LastName changed.
func (a *Adapter) putUser(ctx context.Context, do adapters.Doer, base, userID string, u canonical.Update) error {
	resp, err := a.get(ctx, do, "get user", base)
	if err != nil {
		return err
	}
	obj, err := parseUser(resp.Body)
	if err != nil {
		return fmt.Errorf("akana: get user: %w", &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Akana answered GET user with an unreadable User object"})
	}
	set := func(k, v string) {
		b, _ := json.Marshal(v) // a string always encodes
		obj[k] = b
	}
	set("UserID", userID)
	if u.Email.Set {
		// The settings call just wrote it; a User read that lags behind
		// must not put the old address back.
		set("Email", u.Email.V)
	}
	if u.GivenName.Set {
		set("FirstName", u.GivenName.V)
	}
	if u.FamilyName.Set {
		set("LastName", u.FamilyName.V)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("akana: put user: %w", &canonical.Error{Code: canonical.CodeInternal, Message: "encoding the User object failed"})
	}
	return a.put(ctx, do, "put user", base, userID, raw)
}

// put sends a Write and checks Akana's 200 text/plain UserID confirmation.
// A dry run's synthetic answer carries nothing to check.
func (a *Adapter) put(ctx context.Context, do adapters.Doer, name, path, userID string, body []byte) error {
	resp, err := do.Do(ctx, &adapters.Call{Name: name, Kind: adapters.Write, Method: http.MethodPut, Path: path, Header: writeHeader(), Body: body})
	if err != nil {
		return fmt.Errorf("akana: %s: %w", name, err)
	}
	if resp.Synthetic {
		return nil
	}
	if !resp.OK() {
		return fmt.Errorf("akana: %s: %w", name, mapError(resp))
	}
	if got := parseConfirmation(resp.Body); got != userID {
		return fmt.Errorf("akana: %s: %w", name, &canonical.Error{Code: canonical.CodeUpstreamError, VendorStatus: resp.Status,
			Message: "Akana answered 200 without confirming the UserID, so the update cannot be taken as applied"})
	}
	return nil
}
