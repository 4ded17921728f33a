package audit

import (
	"strconv"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// Changes names the canonical fields a request changes and the
// values the policy lets the trail keep: e-mail and names per policy,
// booleans as they are; secrets, avatars, groups and free-form data never.
func Changes(req canonical.Request, policy ValuePolicy) ([]string, map[string]string) {
	var fields []string
	for _, f := range req.User.Fields() {
		fields = append(fields, string(f))
	}
	for vendor, ext := range req.Extensions {
		for name := range ext {
			fields = append(fields, "extensions."+vendor+"."+name)
		}
	}
	values := map[string]string{}
	personal := func(name string, o canonical.Opt[string]) {
		if !o.Set {
			return
		}
		if v, ok := policy.Value(o.V); ok {
			values[name] = v
		}
	}
	u := req.User
	personal("username", u.Username)
	personal("email", u.Email)
	personal("given_name", u.GivenName)
	personal("family_name", u.FamilyName)
	personal("display_name", u.DisplayName)
	if u.Enabled.Set {
		values["enabled"] = strconv.FormatBool(u.Enabled.V)
	}
	if u.OTPEnabled.Set {
		values["otp_enabled"] = strconv.FormatBool(u.OTPEnabled.V)
	}
	if len(values) == 0 {
		values = nil
	}
	return fields, values
}
