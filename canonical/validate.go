package canonical

import (
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the canonical contract. Vendors may be stricter: their adapters
// check their own limits before any call.
const (
	MaxAvatarBytes    = 1 << 20 // 1 MiB decoded
	MaxNameRunes      = 256
	MaxEmailBytes     = 254
	MaxIDBytes        = 255
	MaxPasswordBytes  = 1024
	MaxNotifications  = 64
	MaxGroupItems     = 256
	MaxMetadataBytes  = 64 << 10
	maxExtensionBytes = 64 << 10
)

// AvatarTypes are the accepted avatar content types.
var avatarTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

var notificationRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// maxTargetName is the longest target name: one letter and 62 more bytes.
const maxTargetName = 63

// ValidTargetName reports whether s can name a target (config keys follow the
// same rule): ^[a-z][a-z0-9_-]{0,62}$. It is a byte loop, not that regexp,
// because every update checks its target names and vendor_ids keys with it:
// BenchmarkValidTargetName, 15-16 ns for four names against 558-596 ns.
// TestValidTargetName and FuzzValidTargetName hold it to the regexp.
func ValidTargetName(s string) bool {
	if len(s) == 0 || len(s) > maxTargetName || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Validate checks every value against the canonical rules and reports every
// bad field at once, each with its JSON path. Vendor-specific rules (id shape,
// lengths, value sets) are the adapters' Preflight.
func (r *Request) Validate() error {
	var fe FieldErrors
	checkID(&fe, "id", r.UserID)
	seen := map[string]bool{}
	if r.Targets != nil && len(r.Targets) == 0 {
		fe.Add("targets", "must name at least one target when present")
	}
	for i, t := range r.Targets {
		switch {
		case !ValidTargetName(t):
			fe.Add("targets["+strconv.Itoa(i)+"]", "is not a valid target name")
		case seen[t]:
			fe.Add("targets["+strconv.Itoa(i)+"]", "duplicate target %q", t)
		}
		seen[t] = true
	}
	for k, v := range r.VendorIDs {
		if !ValidTargetName(k) {
			fe.Add("vendor_ids", "key %q is not a valid target name", printable(k))
			continue
		}
		checkID(&fe, "vendor_ids."+k, v)
	}
	switch r.OnUnsupported {
	case PolicyReject, PolicySkip:
	default:
		fe.Add("on_unsupported", "must be %q or %q", PolicyReject, PolicySkip)
	}
	for vendor, fields := range r.Extensions {
		if !ValidTargetName(vendor) {
			fe.Add("extensions", "key %q is not a valid target name", printable(vendor))
			continue
		}
		size := 0
		for k, v := range fields {
			size += len(k) + len(v)
		}
		if size > maxExtensionBytes {
			fe.Add("extensions."+vendor, "is larger than %d bytes", maxExtensionBytes)
		}
	}
	r.User.validate(&fe)
	if r.User.IsEmpty() && len(fe) == 0 {
		fe.Add("user", "must change at least one field")
	}
	return fe.Err("request failed validation")
}

// printable quotes hostile keys safely for messages.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "?")
}

// checkID enforces what any id, at any vendor, must satisfy: present, bounded
// and free of anything that could change the meaning of a URL path or header.
func checkID(fe *FieldErrors, path, id string) {
	switch {
	case id == "":
		fe.Add(path, "must not be empty")
	case len(id) > MaxIDBytes:
		fe.Add(path, "must be at most %d bytes", MaxIDBytes)
	case !utf8.ValidString(id):
		fe.Add(path, "must be valid UTF-8")
	case strings.ContainsAny(id, "/\\?#%"):
		fe.Add(path, "must not contain '/', '\\', '?', '#' or '%%'")
	case id == "." || id == "..":
		fe.Add(path, "must not be a dot segment")
	case hasControl(id) || strings.ContainsRune(id, ' '):
		fe.Add(path, "must not contain spaces or control characters")
	}
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

func checkText(fe *FieldErrors, f Field, o Opt[string], allowEmpty bool) {
	if !o.Set {
		return
	}
	p := f.Path()
	switch {
	case !allowEmpty && strings.TrimSpace(o.V) == "":
		fe.Add(p, "must not be empty")
	case utf8.RuneCountInString(o.V) > MaxNameRunes:
		fe.Add(p, "must be at most %d characters", MaxNameRunes)
	case hasControl(o.V):
		fe.Add(p, "must not contain control characters")
	}
}

func (u *Update) validate(fe *FieldErrors) {
	checkText(fe, FieldUsername, u.Username, false)
	checkText(fe, FieldGivenName, u.GivenName, false)
	checkText(fe, FieldFamilyName, u.FamilyName, false)
	checkText(fe, FieldDisplayName, u.DisplayName, true)
	checkText(fe, FieldPrincipalName, u.PrincipalName, false)
	checkText(fe, FieldAuthMethod, u.AuthMethod, false)
	if u.Email.Set {
		if msg := CheckEmail(u.Email.V); msg != "" {
			fe.Add(FieldEmail.Path(), "%s", msg)
		}
	}
	if u.Notifications.Set {
		p := FieldNotifications.Path()
		if len(u.Notifications.V) > MaxNotifications {
			fe.Add(p, "must list at most %d names", MaxNotifications)
		}
		seen := map[string]bool{}
		for i, n := range u.Notifications.V {
			switch {
			case !notificationRe.MatchString(n):
				fe.Add(p+"["+strconv.Itoa(i)+"]", "must be a canonical notification name (lowercase letters, digits, '.', '_', '-')")
			case seen[n]:
				fe.Add(p+"["+strconv.Itoa(i)+"]", "duplicate notification %q", n)
			}
			seen[n] = true
		}
	}
	if u.Avatar.Set {
		a := u.Avatar.V
		p := FieldAvatar.Path()
		switch {
		case !avatarTypes[a.ContentType]:
			fe.Add(p+".content_type", "must be one of image/png, image/jpeg, image/gif, image/webp")
		case len(a.Data) == 0:
			fe.Add(p+".data", "must not be empty")
		case len(a.Data) > MaxAvatarBytes:
			fe.Add(p+".data", "decodes to more than %d bytes", MaxAvatarBytes)
		default:
			if got := SniffImage(a.Data); got != a.ContentType {
				if got == "" {
					got = "not a supported image"
				}
				fe.Add(p+".data", "content is %s, not %s", got, a.ContentType)
			}
		}
	}
	if u.Groups.Set {
		g := u.Groups.V
		p := FieldGroups.Path()
		switch g.Op {
		case GroupAdd, GroupRemove:
			if len(g.Items) == 0 {
				fe.Add(p+".items", "must name at least one group for op %q", g.Op)
			}
		case GroupReplace:
		default:
			fe.Add(p+".op", "must be add, remove or replace")
		}
		if len(g.Items) > MaxGroupItems {
			fe.Add(p+".items", "must name at most %d groups", MaxGroupItems)
		}
		for i, it := range g.Items {
			checkRef(fe, p+".items["+strconv.Itoa(i)+"]", it)
		}
	}
	if u.Password.Set {
		p := FieldPassword.Path()
		checkSecret(fe, p+".new", u.Password.V.New)
		if u.Password.V.Current.Set {
			checkSecret(fe, p+".current", u.Password.V.Current.V)
		}
	}
	if u.Metadata.Set {
		if approxSize(u.Metadata.V) > MaxMetadataBytes {
			fe.Add(FieldMetadata.Path(), "is larger than %d bytes", MaxMetadataBytes)
		}
	}
	if u.Plan.Set {
		checkRef(fe, FieldPlan.Path(), u.Plan.V)
	}
}

func checkSecret(fe *FieldErrors, path string, s Secret) {
	v := s.Reveal()
	switch {
	case v == "":
		fe.Add(path, "must not be empty")
	case len(v) > MaxPasswordBytes:
		fe.Add(path, "must be at most %d bytes", MaxPasswordBytes)
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		fe.Add(path, "must be valid UTF-8 without NUL")
	case hasControl(v):
		fe.Add(path, "must not contain control characters")
	}
}

func checkRef(fe *FieldErrors, path string, r Ref) {
	if r.ID.Set && r.ID.V < 0 {
		fe.Add(path+".id", "must not be negative")
	}
	if r.Name.Set {
		switch {
		case strings.TrimSpace(r.Name.V) == "":
			fe.Add(path+".name", "must not be empty")
		case utf8.RuneCountInString(r.Name.V) > MaxNameRunes:
			fe.Add(path+".name", "must be at most %d characters", MaxNameRunes)
		case hasControl(r.Name.V):
			fe.Add(path+".name", "must not contain control characters")
		}
	}
}

// approxSize bounds the encoded size of decoded JSON without encoding it.
func approxSize(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := 2
		for k, e := range x {
			n += len(k) + 4 + approxSize(e)
		}
		return n
	case Metadata:
		return approxSize(map[string]any(x))
	case []any:
		n := 2
		for _, e := range x {
			n += 1 + approxSize(e)
		}
		return n
	case string:
		return len(x) + 2
	default:
		return 8
	}
}

// CheckEmail returns "" when s is a bare RFC 5322 addr-spec (no display name,
// no angle brackets) of at most 254 bytes, else why not.
func CheckEmail(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > MaxEmailBytes {
		return "must be at most 254 bytes"
	}
	if hasControl(s) {
		return "must not contain control characters"
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "must be an e-mail address (addr-spec, like jane@example.com)"
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at > 64 || !strings.Contains(s[at+1:], ".") && s[at+1:] != "localhost" {
		return "must be an e-mail address with a local part of at most 64 bytes and a domain"
	}
	return ""
}

// SniffImage returns the image content type of b per the WHATWG sniffing
// rules, or "" when b is not a png, jpeg, gif or webp image.
func SniffImage(b []byte) string {
	ct := http.DetectContentType(b)
	if avatarTypes[ct] {
		return ct
	}
	return ""
}
