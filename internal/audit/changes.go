package audit

import (
	"strconv"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// Changes names the canonical fields a request changes and the
// values the policy lets the trail keep: e-mail and names per policy,
// booleans as they are; secrets, avatars, groups and free-form data never.
// It runs on every update: the fields slice is made once at its size, and
// the values map only when a value is kept (BenchmarkChanges).
func Changes(req canonical.Request, policy ValuePolicy) ([]string, map[string]string) {
	u := &req.User
	n := 0
	for _, f := range canonical.AllFields() {
		if u.Has(f) {
			n++
		}
	}
	for _, ext := range req.Extensions {
		n += len(ext)
	}
	var fields []string
	if n > 0 {
		fields = make([]string, 0, n)
	}
	for _, f := range canonical.AllFields() {
		if u.Has(f) {
			fields = append(fields, string(f))
		}
	}
	for vendor, ext := range req.Extensions {
		for name := range ext {
			fields = append(fields, "extensions."+vendor+"."+name)
		}
	}
	var values map[string]string
	keep := func(name, v string) {
		if values == nil {
			values = make(map[string]string, 7) // at most the seven below
		}
		values[name] = v
	}
	personal := func(name string, o canonical.Opt[string]) {
		if !o.Set {
			return
		}
		if v, ok := policy.Value(o.V); ok {
			keep(name, v)
		}
	}
	personal("username", u.Username)
	personal("email", u.Email)
	personal("given_name", u.GivenName)
	personal("family_name", u.FamilyName)
	personal("display_name", u.DisplayName)
	if u.Enabled.Set {
		keep("enabled", strconv.FormatBool(u.Enabled.V))
	}
	if u.OTPEnabled.Set {
		keep("otp_enabled", strconv.FormatBool(u.OTPEnabled.V))
	}
	return fields, values
}
