package decode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// MaxNesting bounds how deep free-form JSON (metadata, extensions) may nest, so
// a hostile body cannot make later stages recurse without end.
const MaxNesting = 32

// Request reads one canonical request body strictly: unknown fields, null,
// duplicate keys, wrong types and trailing data are errors. Every problem found
// is reported at once in one invalid_request *canonical.Error, each with its JSON path.
// It checks shapes and types; [canonical.Request.Validate] checks values.
func Request(body []byte, userID string) (canonical.Request, error) {
	d := decoder{}
	req := canonical.Request{UserID: userID}
	if !utf8.Valid(body) {
		return req, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "body is not valid UTF-8",
			Fields: []canonical.FieldError{{Field: pathOr(""), Message: "invalid UTF-8"}}}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return req, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "body is empty",
			Fields: []canonical.FieldError{{Field: pathOr(""), Message: "a JSON object is required"}}}
	}
	if err := checkSyntax(trimmed); err != nil {
		return req, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "body is not valid JSON",
			Fields: []canonical.FieldError{{Field: pathOr(""), Message: err.Error()}}}
	}
	userSeen := false
	d.object(trimmed, "", func(key string, raw json.RawMessage, path string) {
		switch key {
		case "targets":
			req.Targets = d.stringList(raw, path)
		case "vendor_ids":
			req.VendorIDs = map[string]string{}
			d.object(raw, path, func(k string, v json.RawMessage, p string) {
				if s, ok := d.str(v, p); ok {
					req.VendorIDs[k] = s
				}
			})
		case "on_unsupported":
			if s, ok := d.str(raw, path); ok {
				req.OnUnsupported = canonical.Policy(s)
			}
		case "user":
			userSeen = true
			d.user(raw, path, &req.User)
		case "extensions":
			req.Extensions = map[string]map[string]json.RawMessage{}
			d.object(raw, path, func(vendor string, v json.RawMessage, p string) {
				fields := map[string]json.RawMessage{}
				d.object(v, p, func(k string, fv json.RawMessage, fp string) {
					if d.freeForm(fv, fp) {
						fields[k] = fv
					}
				})
				req.Extensions[vendor] = fields
			})
		default:
			d.errs.Add(path, "%s", didYouMean("", key, topLevelKeys()))
		}
	})
	if !userSeen && len(d.errs) == 0 {
		d.errs.Add("user", "is required")
	}
	if req.OnUnsupported == "" {
		req.OnUnsupported = canonical.PolicyReject
	}
	return req, d.errs.Err("request body does not match the canonical schema")
}

// topLevelKeys are the request body's members, for did-you-mean.
func topLevelKeys() []string {
	return []string{"targets", "vendor_ids", "on_unsupported", "user", "extensions"}
}

// fieldNames lists the canonical field names, for did-you-mean.
func fieldNames() []string {
	all := canonical.AllFields()
	out := make([]string, len(all))
	for i, f := range all {
		out[i] = string(f)
	}
	return out
}

type decoder struct {
	errs canonical.FieldErrors
}

func join(path, key string) string {
	switch path {
	case "":
		return key
	case "user":
		return canonical.Field(key).Path() // constants for the known fields
	}
	return path + "." + key
}

// checkSyntax validates the whole document once, so later per-field decoding
// can assume well-formed JSON and report only shape errors.
func checkSyntax(b []byte) error {
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("syntax error at byte %d: %s", se.Offset, se.Error())
		}
		if err != nil {
			return fmt.Errorf("invalid JSON: %s", err.Error())
		}
		return errors.New("invalid JSON")
	}
	return nil
}

// object walks a JSON object key by key in document order, rejecting null,
// non-objects and duplicate keys.
func (d *decoder) object(raw json.RawMessage, path string, fn func(key string, v json.RawMessage, path string)) bool {
	if d.isNull(raw, path) {
		return false
	}
	if len(raw) == 0 || raw[0] != '{' {
		d.errs.Add(pathOr(path), "must be an object")
		return false
	}
	seen := make(map[string]bool, 8)
	members(raw, func(key string, v json.RawMessage) {
		p := join(path, key)
		if seen[key] {
			d.errs.Add(p, "duplicate key")
			return
		}
		seen[key] = true
		fn(key, v, p)
	})
	return true
}

// pathOr names the body as a whole "(body)": a problem with no JSON path
// is the body's, and the parentheses keep it apart from any member's name.
func pathOr(p string) string {
	if p == "" {
		return "(body)"
	}
	return p
}

func (d *decoder) isNull(raw json.RawMessage, path string) bool {
	if bytes.Equal(raw, []byte("null")) {
		d.errs.Add(pathOr(path), "must not be null (omit the field to leave it unchanged)")
		return true
	}
	return false
}

func (d *decoder) str(raw json.RawMessage, path string) (string, bool) {
	if d.isNull(raw, path) {
		return "", false
	}
	if len(raw) == 0 || raw[0] != '"' {
		d.errs.Add(path, "must be a string")
		return "", false
	}
	if msg := literalProblem(raw); msg != "" {
		d.errs.Add(path, "%s", msg)
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		// No escapes: the bytes between the quotes are the string (the body
		// is valid UTF-8 and valid JSON, so no raw control characters).
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.errs.Add(path, "must be a string")
		return "", false
	}
	return s, true
}

func (d *decoder) boolean(raw json.RawMessage, path string) (bool, bool) {
	if d.isNull(raw, path) {
		return false, false
	}
	switch string(raw) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.errs.Add(path, "must be a boolean")
	return false, false
}

func (d *decoder) integer(raw json.RawMessage, path string) (int64, bool) {
	if d.isNull(raw, path) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		// Accept 3.0 style only when it is an exact integer in range.
		f, ferr := strconv.ParseFloat(string(raw), 64)
		if ferr != nil || raw[0] == '"' || f != math.Trunc(f) || math.Abs(f) > math.MaxInt64/2 {
			d.errs.Add(path, "must be an integer")
			return 0, false
		}
		n = int64(f)
	}
	return n, true
}

func (d *decoder) list(raw json.RawMessage, path string, fn func(v json.RawMessage, path string)) bool {
	if d.isNull(raw, path) {
		return false
	}
	if len(raw) == 0 || raw[0] != '[' {
		d.errs.Add(path, "must be an array")
		return false
	}
	i := 0
	elements(raw, func(it json.RawMessage) {
		fn(it, path+"["+strconv.Itoa(i)+"]")
		i++
	})
	return true
}

func (d *decoder) stringList(raw json.RawMessage, path string) []string {
	out := []string{}
	d.list(raw, path, func(v json.RawMessage, p string) {
		if s, ok := d.str(v, p); ok {
			out = append(out, s)
		}
	})
	return out
}

// freeForm accepts any JSON value except null (at any depth) and nesting
// beyond MaxNesting.
func (d *decoder) freeForm(raw json.RawMessage, path string) bool {
	depth, maxDepth, inStr, esc := 0, 0, false, false
	for _, c := range raw {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > maxDepth {
				maxDepth = depth
			}
		case '}', ']':
			depth--
		}
	}
	if maxDepth > MaxNesting {
		d.errs.Add(path, "nests deeper than %d levels", MaxNesting)
		return false
	}
	if hasNull(raw) {
		d.errs.Add(path, "must not contain null")
		return false
	}
	if msg := stringsProblem(raw); msg != "" {
		d.errs.Add(path, "%s", msg)
		return false
	}
	return true
}

// hasNull reports a JSON null token anywhere outside strings.
func hasNull(raw []byte) bool {
	inStr, esc := false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		if c == '"' {
			inStr = true
		} else if c == 'n' && bytes.HasPrefix(raw[i:], []byte("null")) {
			return true
		}
	}
	return false
}

func (d *decoder) optString(raw json.RawMessage, path string, o *canonical.Opt[string]) {
	if s, ok := d.str(raw, path); ok {
		*o = canonical.Some(s)
	}
}

func (d *decoder) optBool(raw json.RawMessage, path string, o *canonical.Opt[bool]) {
	if b, ok := d.boolean(raw, path); ok {
		*o = canonical.Some(b)
	}
}

func (d *decoder) user(raw json.RawMessage, path string, u *canonical.Update) {
	d.object(raw, path, func(key string, v json.RawMessage, p string) {
		switch canonical.Field(key) {
		case canonical.FieldUsername:
			d.optString(v, p, &u.Username)
		case canonical.FieldEmail:
			d.optString(v, p, &u.Email)
		case canonical.FieldGivenName:
			d.optString(v, p, &u.GivenName)
		case canonical.FieldFamilyName:
			d.optString(v, p, &u.FamilyName)
		case canonical.FieldDisplayName:
			d.optString(v, p, &u.DisplayName)
		case canonical.FieldPrincipalName:
			d.optString(v, p, &u.PrincipalName)
		case canonical.FieldAuthMethod:
			d.optString(v, p, &u.AuthMethod)
		case canonical.FieldEnabled:
			d.optBool(v, p, &u.Enabled)
		case canonical.FieldOTPEnabled:
			d.optBool(v, p, &u.OTPEnabled)
		case canonical.FieldNotifications:
			if d.list(v, p, func(json.RawMessage, string) {}) {
				u.Notifications = canonical.Some(d.stringList(v, p))
			}
		case canonical.FieldAvatar:
			d.avatar(v, p, u)
		case canonical.FieldGroups:
			d.groups(v, p, u)
		case canonical.FieldPassword:
			d.password(v, p, u)
		case canonical.FieldMetadata:
			d.metadata(v, p, u)
		case canonical.FieldPlan:
			if r, ok := d.ref(v, p); ok {
				u.Plan = canonical.Some(r)
			}
		default:
			d.errs.Add(p, "%s", didYouMean(path, key, fieldNames()))
		}
	})
}

func (d *decoder) avatar(raw json.RawMessage, path string, u *canonical.Update) {
	var a canonical.Avatar
	var ct, data canonical.Opt[string]
	ok := d.object(raw, path, func(key string, v json.RawMessage, p string) {
		switch key {
		case "content_type":
			d.optString(v, p, &ct)
		case "data":
			d.optString(v, p, &data)
		default:
			d.errs.Add(p, "%s", didYouMean(path, key, []string{"content_type", "data"}))
		}
	})
	if !ok {
		return
	}
	if !ct.Set {
		d.errs.Add(join(path, "content_type"), "is required")
	}
	if !data.Set {
		d.errs.Add(join(path, "data"), "is required")
		return
	}
	// Decoded size is checked before decoding, so a huge value costs nothing.
	if base64.StdEncoding.DecodedLen(len(data.V)) > canonical.MaxAvatarBytes+2 {
		d.errs.Add(join(path, "data"), "decodes to more than %d bytes", canonical.MaxAvatarBytes)
		return
	}
	b, err := base64.StdEncoding.Strict().DecodeString(data.V)
	if err != nil {
		d.errs.Add(join(path, "data"), "must be standard base64 (RFC 4648, with padding)")
		return
	}
	a.ContentType, a.Data = ct.V, b
	u.Avatar = canonical.Some(a)
}

func (d *decoder) groups(raw json.RawMessage, path string, u *canonical.Update) {
	var g canonical.GroupChange
	var op canonical.Opt[string]
	itemsSeen := false
	ok := d.object(raw, path, func(key string, v json.RawMessage, p string) {
		switch key {
		case "op":
			d.optString(v, p, &op)
		case "items":
			itemsSeen = true
			g.Items = []canonical.Ref{}
			d.list(v, p, func(iv json.RawMessage, ip string) {
				if r, ok := d.ref(iv, ip); ok {
					g.Items = append(g.Items, r)
				}
			})
		default:
			d.errs.Add(p, "%s", didYouMean(path, key, []string{"op", "items"}))
		}
	})
	if !ok {
		return
	}
	if !op.Set {
		d.errs.Add(join(path, "op"), "is required")
	}
	if !itemsSeen {
		d.errs.Add(join(path, "items"), "is required")
	}
	g.Op = canonical.GroupOp(op.V)
	u.Groups = canonical.Some(g)
}

func (d *decoder) ref(raw json.RawMessage, path string) (canonical.Ref, bool) {
	var r canonical.Ref
	ok := d.object(raw, path, func(key string, v json.RawMessage, p string) {
		switch key {
		case "id":
			if n, ok := d.integer(v, p); ok {
				r.ID = canonical.Some(n)
			}
		case "name":
			d.optString(v, p, &r.Name)
		default:
			d.errs.Add(p, "%s", didYouMean(path, key, []string{"id", "name"}))
		}
	})
	if !ok {
		return r, false
	}
	if r.ID.Set == r.Name.Set {
		d.errs.Add(path, "must have exactly one of id and name")
		return r, false
	}
	return r, true
}

func (d *decoder) password(raw json.RawMessage, path string, u *canonical.Update) {
	var pw canonical.Password
	var nw, cur canonical.Opt[string]
	ok := d.object(raw, path, func(key string, v json.RawMessage, p string) {
		switch key {
		case "new":
			d.optString(v, p, &nw)
		case "current":
			d.optString(v, p, &cur)
		default:
			d.errs.Add(p, "%s", didYouMean(path, key, []string{"new", "current"}))
		}
	})
	if !ok {
		return
	}
	if !nw.Set {
		d.errs.Add(join(path, "new"), "is required")
		return
	}
	pw.New = canonical.Secret(nw.V)
	if cur.Set {
		pw.Current = canonical.Some(canonical.Secret(cur.V))
	}
	u.Password = canonical.Some(pw)
}

func (d *decoder) metadata(raw json.RawMessage, path string, u *canonical.Update) {
	if d.isNull(raw, path) {
		return
	}
	if raw[0] != '{' {
		d.errs.Add(path, "must be an object")
		return
	}
	if !d.freeForm(raw, path) {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	m := canonical.Metadata{}
	if err := dec.Decode(&m); err != nil {
		d.errs.Add(path, "must be an object")
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		d.errs.Add(path, "must be one object")
		return
	}
	u.Metadata = canonical.Some(m)
}
