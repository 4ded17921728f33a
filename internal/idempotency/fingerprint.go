package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// Fingerprint hashes method, path and the decoded request. It hashes the
// decoded values, not the body, so key order and whitespace do not matter.
// Secrets and avatar bytes enter only as their own SHA-256.
//
// The values are hashed as a tagged, length-prefixed encoding (maps in key
// order), so two different requests cannot encode
// alike. Building a document and marshalling it to JSON first cost a dozen
// maps and a reflective encode per request for the same guarantee.
func Fingerprint(method, path string, r canonical.Request) string {
	var stack [512]byte
	f := fp{b: stack[:0]}
	f.str('M', method)
	f.str('P', path)
	f.strs('T', r.Targets)
	f.strMap('I', r.VendorIDs)
	f.str('O', string(r.OnUnsupported))
	u := r.User
	f.optStr('u', u.Username)
	f.optStr('e', u.Email)
	f.optStr('g', u.GivenName)
	f.optStr('f', u.FamilyName)
	f.optStr('d', u.DisplayName)
	f.optBool('x', u.Enabled)
	f.optBool('o', u.OTPEnabled)
	if u.Notifications.Set {
		f.strs('n', u.Notifications.V)
	}
	if u.Avatar.Set {
		f.str('a', u.Avatar.V.ContentType)
		f.digest('A', u.Avatar.V.Data)
	}
	if u.Groups.Set {
		f.str('G', string(u.Groups.V.Op))
		f.num('#', len(u.Groups.V.Items))
		for _, it := range u.Groups.V.Items {
			f.ref('r', it)
		}
	}
	if u.Password.Set {
		f.digest('p', []byte(u.Password.V.New.Reveal()))
		if u.Password.V.Current.Set {
			f.digest('c', []byte(u.Password.V.Current.V.Reveal()))
		}
	}
	if u.Metadata.Set {
		// Free-form JSON: encoding/json writes maps in key order.
		b, _ := json.Marshal(map[string]any(u.Metadata.V)) // decoded JSON values: cannot fail
		f.bytes('m', b)
	}
	f.optStr('k', u.PrincipalName)
	f.optStr('h', u.AuthMethod)
	if u.Plan.Set {
		f.ref('l', u.Plan.V)
	}
	for _, vendor := range sortedKeys(r.Extensions) {
		f.str('X', vendor)
		fields := r.Extensions[vendor]
		for _, k := range sortedKeys(fields) {
			f.str('K', k)
			// Re-encoded from its decoded value, so whitespace and key order
			// inside an extension value do not matter either.
			var v any
			b := []byte(fields[k])
			if json.Unmarshal(b, &v) == nil {
				b, _ = json.Marshal(v)
			}
			f.bytes('V', b)
		}
	}
	sum := sha256.Sum256(f.b)
	return hex.EncodeToString(sum[:])
}

// fp builds the tagged, length-prefixed encoding that is hashed.
type fp struct{ b []byte }

func (f *fp) head(tag byte, n int) {
	f.b = binary.AppendUvarint(append(f.b, tag), uint64(n))
}

func (f *fp) str(tag byte, s string) {
	f.head(tag, len(s))
	f.b = append(f.b, s...)
}

func (f *fp) bytes(tag byte, b []byte) {
	f.head(tag, len(b))
	f.b = append(f.b, b...)
}

func (f *fp) optStr(tag byte, o canonical.Opt[string]) {
	if o.Set {
		f.str(tag, o.V)
	}
}

func (f *fp) optBool(tag byte, o canonical.Opt[bool]) {
	if !o.Set {
		return
	}
	n := 0
	if o.V {
		n = 1
	}
	f.head(tag, n)
}

func (f *fp) num(tag byte, n int) { f.head(tag, n) }

func (f *fp) strs(tag byte, v []string) {
	f.head(tag, len(v))
	for _, s := range v {
		f.str('s', s)
	}
}

func (f *fp) strMap(tag byte, m map[string]string) {
	f.head(tag, len(m))
	for _, k := range sortedKeys(m) {
		f.str('k', k)
		f.str('v', m[k])
	}
}

func (f *fp) ref(tag byte, r canonical.Ref) {
	f.head(tag, 0)
	if r.ID.Set {
		f.str('i', strconv.FormatInt(r.ID.V, 10))
	}
	if r.Name.Set {
		f.str('N', r.Name.V)
	}
}

// digest writes a value's own SHA-256, so secrets never enter the outer
// hash's input in clear.
func (f *fp) digest(tag byte, b []byte) {
	sum := sha256.Sum256(b)
	f.bytes(tag, sum[:])
}

// sortedKeys is m's keys in order. Not slices.Sorted(maps.Keys(m)): that
// grows its slice through an iterator, six more allocations per
// fingerprint in BenchmarkFingerprint.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
