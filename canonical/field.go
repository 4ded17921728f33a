package canonical

// Field names one canonical user field, as it appears under "user" in the request.
type Field string

// The canonical user fields (docs/api.md, Fields).
const (
	FieldUsername      Field = "username"
	FieldEmail         Field = "email"
	FieldGivenName     Field = "given_name"
	FieldFamilyName    Field = "family_name"
	FieldDisplayName   Field = "display_name"
	FieldEnabled       Field = "enabled"
	FieldOTPEnabled    Field = "otp_enabled"
	FieldNotifications Field = "notifications"
	FieldAvatar        Field = "avatar"
	FieldGroups        Field = "groups"
	FieldPassword      Field = "password"
	FieldMetadata      Field = "metadata"
	FieldPrincipalName Field = "principal_name"
	FieldAuthMethod    Field = "auth_method"
	FieldPlan          Field = "plan"
)

// AllFields lists every canonical field in the order of the design's table.
// It returns a fresh slice each call, so callers may keep or modify it.
func AllFields() []Field {
	return []Field{
		FieldUsername, FieldEmail, FieldGivenName, FieldFamilyName, FieldDisplayName,
		FieldEnabled, FieldOTPEnabled, FieldNotifications, FieldAvatar, FieldGroups,
		FieldPassword, FieldMetadata, FieldPrincipalName, FieldAuthMethod, FieldPlan,
	}
}

// Path is the field's JSON path in a request ("user.email").
func (f Field) Path() string {
	// Constant strings for the known fields: validation asks for paths on
	// every request, and a concatenation allocates each time.
	switch f {
	case FieldUsername:
		return "user.username"
	case FieldEmail:
		return "user.email"
	case FieldGivenName:
		return "user.given_name"
	case FieldFamilyName:
		return "user.family_name"
	case FieldDisplayName:
		return "user.display_name"
	case FieldEnabled:
		return "user.enabled"
	case FieldOTPEnabled:
		return "user.otp_enabled"
	case FieldNotifications:
		return "user.notifications"
	case FieldAvatar:
		return "user.avatar"
	case FieldGroups:
		return "user.groups"
	case FieldPassword:
		return "user.password"
	case FieldMetadata:
		return "user.metadata"
	case FieldPrincipalName:
		return "user.principal_name"
	case FieldAuthMethod:
		return "user.auth_method"
	case FieldPlan:
		return "user.plan"
	}
	return "user." + string(f)
}

// Fields lists the fields the update sets, in AllFields order.
func (u *Update) Fields() []Field {
	out := make([]Field, 0, 4)
	for _, f := range AllFields() {
		if u.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// Has reports whether the update sets f.
func (u *Update) Has(f Field) bool {
	switch f {
	case FieldUsername:
		return u.Username.Set
	case FieldEmail:
		return u.Email.Set
	case FieldGivenName:
		return u.GivenName.Set
	case FieldFamilyName:
		return u.FamilyName.Set
	case FieldDisplayName:
		return u.DisplayName.Set
	case FieldEnabled:
		return u.Enabled.Set
	case FieldOTPEnabled:
		return u.OTPEnabled.Set
	case FieldNotifications:
		return u.Notifications.Set
	case FieldAvatar:
		return u.Avatar.Set
	case FieldGroups:
		return u.Groups.Set
	case FieldPassword:
		return u.Password.Set
	case FieldMetadata:
		return u.Metadata.Set
	case FieldPrincipalName:
		return u.PrincipalName.Set
	case FieldAuthMethod:
		return u.AuthMethod.Set
	case FieldPlan:
		return u.Plan.Set
	}
	return false
}

// Without returns a copy of the update with the given fields unset. The
// dispatcher uses it to drop unsupported fields under on_unsupported=skip.
func (u Update) Without(fs ...Field) Update {
	for _, f := range fs {
		switch f {
		case FieldUsername:
			u.Username = Opt[string]{}
		case FieldEmail:
			u.Email = Opt[string]{}
		case FieldGivenName:
			u.GivenName = Opt[string]{}
		case FieldFamilyName:
			u.FamilyName = Opt[string]{}
		case FieldDisplayName:
			u.DisplayName = Opt[string]{}
		case FieldEnabled:
			u.Enabled = Opt[bool]{}
		case FieldOTPEnabled:
			u.OTPEnabled = Opt[bool]{}
		case FieldNotifications:
			u.Notifications = Opt[[]string]{}
		case FieldAvatar:
			u.Avatar = Opt[Avatar]{}
		case FieldGroups:
			u.Groups = Opt[GroupChange]{}
		case FieldPassword:
			u.Password = Opt[Password]{}
		case FieldMetadata:
			u.Metadata = Opt[Metadata]{}
		case FieldPrincipalName:
			u.PrincipalName = Opt[string]{}
		case FieldAuthMethod:
			u.AuthMethod = Opt[string]{}
		case FieldPlan:
			u.Plan = Opt[Ref]{}
		}
	}
	return u
}

// IsEmpty reports whether the update sets no field at all.
func (u *Update) IsEmpty() bool {
	for _, f := range AllFields() {
		if u.Has(f) {
			return false
		}
	}
	return true
}
