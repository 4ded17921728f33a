package adapters

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// Snapshot is what a vendor holds for one user, as canonical fields.
type Snapshot struct {
	// VendorID is the user's id at the vendor as the vendor reports it.
	VendorID string `json:"vendor_id,omitempty"`
	// Fields holds every canonical field the vendor showed, with where it
	// came from. A secret is never among them.
	Fields map[canonical.Field]Value `json:"fields"`
	// Version is the vendor's own ETag or version of the user, when the
	// vendor has one.
	Version *Version `json:"version,omitempty"`
}

// Value is one canonical field's value at a vendor. Value holds a string,
// a bool, []string (notifications: canonical names), canonical.Metadata,
// AvatarValue, []RefValue (groups) or RefValue (plan).
type Value struct {
	Value any `json:"value"`
	// From names the vendor field or call the value came from.
	From string `json:"from"`
	// Unmapped lists vendor values with no canonical name (a notification
	// code no mapping names); they are not part of Value.
	Unmapped []string `json:"unmapped,omitempty"`
}

// Version is a vendor's version marker for a user.
type Version struct {
	Value string `json:"value"`
	From  string `json:"from"`
}

// AvatarValue describes a picture without carrying its bytes: a snapshot
// stays small, and two vendors' pictures compare by digest.
type AvatarValue struct {
	ContentType string `json:"content_type,omitempty"`
	SHA256      string `json:"sha256"`
	Bytes       int    `json:"bytes"`
}

// NewAvatarValue digests a picture.
func NewAvatarValue(contentType string, data []byte) AvatarValue {
	sum := sha256.Sum256(data)
	return AvatarValue{ContentType: contentType, SHA256: hex.EncodeToString(sum[:]), Bytes: len(data)}
}

// RefValue is a vendor object (group, plan) as read: its id and name.
type RefValue struct {
	ID   *int64 `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Set records a field read from the vendor.
func (s *Snapshot) Set(f canonical.Field, v any, from string) {
	if s.Fields == nil {
		s.Fields = map[canonical.Field]Value{}
	}
	s.Fields[f] = Value{Value: v, From: from}
}

// ReadSupport is one field's readability as an adapter declares it: As
// names the vendor field or call it is read from (empty: not readable),
// Reason says why not.
type ReadSupport struct {
	As     string
	Reason string
}

// WithReads fills the Readable, ReadAs and ReadReason of c's rows from
// reads. Adapters call it from Capabilities so the matrix and Read stay
// side by side.
func (c Capabilities) WithReads(reads map[canonical.Field]ReadSupport) Capabilities {
	for f, r := range reads {
		s := c.Fields[f]
		s.Readable, s.ReadAs, s.ReadReason = r.As != "", r.As, r.Reason
		if c.Fields == nil {
			c.Fields = map[canonical.Field]Support{}
		}
		c.Fields[f] = s
	}
	return c
}

// secretReason is why a password is never readable, whatever an adapter
// declares.
const secretReason = "a secret is never readable"

// completeRead makes a row's read side total: a password is never readable,
// and a row that is not readable says why.
func completeRead(f canonical.Field, s Support) Support {
	if f == canonical.FieldPassword {
		s.Readable, s.ReadAs, s.ReadReason = false, "", secretReason
	}
	if !s.Readable && s.ReadReason == "" {
		s.ReadReason = "the adapter does not read this field back"
	}
	return s
}
