package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/sortedkeys"
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
	f = f.str('M', method)
	f = f.str('P', path)
	f = f.strs('T', r.Targets)
	f = f.strMap('I', r.VendorIDs)
	f = f.str('O', string(r.OnUnsupported))
	u := r.User
	f = f.optStr('u', u.Username)
	f = f.optStr('e', u.Email)
	f = f.optStr('g', u.GivenName)
	f = f.optStr('f', u.FamilyName)
	f = f.optStr('d', u.DisplayName)
	f = f.optBool('x', u.Enabled)
	f = f.optBool('o', u.OTPEnabled)
	if u.Notifications.Set {
		f = f.strs('n', u.Notifications.V)
	}
	if u.Avatar.Set {
		f = f.str('a', u.Avatar.V.ContentType)
		f = f.digest('A', u.Avatar.V.Data)
	}
	if u.Groups.Set {
		f = f.str('G', string(u.Groups.V.Op))
		f = f.num('#', len(u.Groups.V.Items))
		for _, it := range u.Groups.V.Items {
			f = f.ref('r', it)
		}
	}
	if u.Password.Set {
		f = f.digest('p', []byte(u.Password.V.New.Reveal()))
		if u.Password.V.Current.Set {
			f = f.digest('c', []byte(u.Password.V.Current.V.Reveal()))
		}
	}
	if u.Metadata.Set {
		// Free-form JSON: encoding/json writes maps in key order.
		b, _ := json.Marshal(map[string]any(u.Metadata.V)) // decoded JSON values: cannot fail
		f = f.bytes('m', b)
	}
	f = f.optStr('k', u.PrincipalName)
	f = f.optStr('h', u.AuthMethod)
	if u.Plan.Set {
		f = f.ref('l', u.Plan.V)
	}
	for _, vendor := range sortedkeys.Of(r.Extensions) {
		f = f.str('X', vendor)
		fields := r.Extensions[vendor]
		for _, k := range sortedkeys.Of(fields) {
			f = f.str('K', k)
			// Re-encoded from its decoded value, so whitespace and key order
			// inside an extension value do not matter either.
			var v any
			b := []byte(fields[k])
			if json.Unmarshal(b, &v) == nil {
				b, _ = json.Marshal(v)
			}
			f = f.bytes('V', b)
		}
	}
	sum := sha256.Sum256(f.b)
	return hex.EncodeToString(sum[:])
}

// fp builds the tagged, length-prefixed encoding that is hashed. Its
// methods take and return it by value: through a pointer, the buffer on
// Fingerprint's stack was moved to the heap (half a kilobyte per update).
type fp struct{ b []byte }

func (f fp) head(tag byte, n int) fp {
	f.b = binary.AppendUvarint(append(f.b, tag), uint64(n))
	return f
}

func (f fp) str(tag byte, s string) fp {
	f = f.head(tag, len(s))
	f.b = append(f.b, s...)
	return f
}

func (f fp) bytes(tag byte, b []byte) fp {
	f = f.head(tag, len(b))
	f.b = append(f.b, b...)
	return f
}

func (f fp) optStr(tag byte, o canonical.Opt[string]) fp {
	if o.Set {
		f = f.str(tag, o.V)
	}
	return f
}

func (f fp) optBool(tag byte, o canonical.Opt[bool]) fp {
	if !o.Set {
		return f
	}
	n := 0
	if o.V {
		n = 1
	}
	return f.head(tag, n)
}

func (f fp) num(tag byte, n int) fp { return f.head(tag, n) }

func (f fp) strs(tag byte, v []string) fp {
	f = f.head(tag, len(v))
	for _, s := range v {
		f = f.str('s', s)
	}
	return f
}

func (f fp) strMap(tag byte, m map[string]string) fp {
	f = f.head(tag, len(m))
	for _, k := range sortedkeys.Of(m) {
		f = f.str('k', k)
		f = f.str('v', m[k])
	}
	return f
}

func (f fp) ref(tag byte, r canonical.Ref) fp {
	f = f.head(tag, 0)
	if r.ID.Set {
		f = f.str('i', strconv.FormatInt(r.ID.V, 10))
	}
	if r.Name.Set {
		f = f.str('N', r.Name.V)
	}
	return f
}

// digest writes a value's own SHA-256, so secrets never enter the outer
// hash's input in clear.
func (f fp) digest(tag byte, b []byte) fp {
	sum := sha256.Sum256(b)
	return f.bytes(tag, sum[:])
}
