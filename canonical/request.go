package canonical

import "encoding/json"

// Opt is an optional value: Set is true when the field was present in the
// request. Absent fields are left unchanged at every vendor.
type Opt[T any] struct {
	Set bool
	V   T
}

// Some returns a present Opt holding v.
func Some[T any](v T) Opt[T] { return Opt[T]{Set: true, V: v} }

// Policy says what to do with fields a target cannot take.
type Policy string

// The on_unsupported policies.
const (
	// PolicyReject fails the whole request with 422 before any vendor call.
	PolicyReject Policy = "reject"
	// PolicySkip drops the fields for that target and reports them.
	PolicySkip Policy = "skip"
)

// Request is one canonical update: PATCH /v1/users/{id} with its body.
type Request struct {
	// UserID is the {id} path segment.
	UserID string
	// Targets are the vendors to write; empty means the route's defaults.
	Targets []string
	// VendorIDs maps a target to the user's id at that vendor.
	VendorIDs map[string]string
	// OnUnsupported is reject (the default) or skip.
	OnUnsupported Policy
	// User holds the fields to set.
	User Update
	// Extensions maps a vendor to its vendor-only fields, passed through after
	// checking them against the adapter's allowed extension fields.
	Extensions map[string]map[string]json.RawMessage
}

// Update is the set of user fields a request changes.
type Update struct {
	Username      Opt[string]
	Email         Opt[string]
	GivenName     Opt[string]
	FamilyName    Opt[string]
	DisplayName   Opt[string]
	Enabled       Opt[bool]
	OTPEnabled    Opt[bool]
	Notifications Opt[[]string]
	Avatar        Opt[Avatar]
	Groups        Opt[GroupChange]
	Password      Opt[Password]
	Metadata      Opt[Metadata]
	PrincipalName Opt[string]
	AuthMethod    Opt[string]
	Plan          Opt[Ref]
}

// Avatar is a user picture. Data holds the decoded bytes; the request carries
// them as standard base64.
type Avatar struct {
	ContentType string
	Data        []byte
}

// GroupOp is a group membership operation.
type GroupOp string

// Group operations.
const (
	GroupAdd     GroupOp = "add"
	GroupRemove  GroupOp = "remove"
	GroupReplace GroupOp = "replace"
)

// GroupChange adds, removes or replaces group memberships.
type GroupChange struct {
	Op    GroupOp
	Items []Ref
}

// Ref names a vendor object (group, plan) by numeric id or by name; exactly
// one of ID and Name is set.
type Ref struct {
	ID   Opt[int64]
	Name Opt[string]
}

// Password is a password change. New is required; Current is optional.
type Password struct {
	New     Secret
	Current Opt[Secret]
}

// Metadata is free-form user metadata, kept as decoded JSON (numbers as
// json.Number so nothing is lost).
type Metadata map[string]any
