package links

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// Source says how a link was made.
type Source string

// The link sources.
const (
	// SourceConfig links come from the config file's users map.
	SourceConfig Source = "config"
	// SourceAPI links were set through PUT /v1/users/{id}/links.
	SourceAPI Source = "api"
	// SourceResolved links were found by looking the user up at the vendor.
	SourceResolved Source = "resolved"
	// SourceMigration links were set by a migration tool through the API.
	SourceMigration Source = "migration"
)

// Valid reports whether s is one of the known sources.
func (s Source) Valid() bool {
	switch s {
	case SourceConfig, SourceAPI, SourceResolved, SourceMigration:
		return true
	}
	return false
}

// Link is one canonical id's account at one target.
type Link struct {
	VendorID  string    `json:"vendor_id"`
	Source    Source    `json:"source"`
	Client    string    `json:"client,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Attributes are stable attributes remembered for a canonical id, used to
// resolve its account at a target that has no link yet.
type Attributes struct {
	Email    string `json:"email,omitempty"`
	Username string `json:"username,omitempty"`
}

// IsZero reports whether no attribute is set.
func (a Attributes) IsZero() bool { return a.Email == "" && a.Username == "" }

// Get returns the attribute named by (email or username).
func (a Attributes) Get(by string) string {
	switch by {
	case "email":
		return a.Email
	case "username":
		return a.Username
	}
	return ""
}

// Record is everything stored for one canonical id. An unknown id is a
// Record with no links and no attributes, not an error.
type Record struct {
	CanonicalID string          `json:"id"`
	Links       map[string]Link `json:"links"`
	Attributes  Attributes      `json:"attributes"`
	// Held is a JSON object a front door keeps for the id because no
	// target holds it (SCIM's name parts, for example); nil when none
	// was stored. The store does not interpret it, and it is not part of
	// the record's JSON (GET /v1/users/{id}/links shows links only).
	Held json.RawMessage `json:"-"`
	// HeldVersion counts the changes of Held: 0 before the first, then
	// one more on every change that set it.
	HeldVersion int64 `json:"-"`
}

// Clone copies r so a caller cannot change a cached value.
func (r Record) Clone() Record {
	r.Links = maps.Clone(r.Links)
	if r.Links == nil {
		r.Links = map[string]Link{}
	}
	r.Held = bytes.Clone(r.Held)
	return r
}

// Change sets one or more links of a canonical id at once: all of them are
// stored, or none (on a conflict).
type Change struct {
	// Links maps target to vendor id.
	Links  map[string]string
	Source Source
	Client string
	// Attributes, when set, replace the remembered attributes' non-empty
	// members (an empty member leaves the stored one as it is).
	Attributes Attributes
	// Held, when not nil, replaces the held JSON object as a whole (an
	// empty object clears it) and bumps HeldVersion; nil leaves it as it
	// is. At most MaxHeldBytes.
	Held json.RawMessage
}

// Store keeps identity links. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the canonical id's links and attributes.
	Get(ctx context.Context, canonicalID string) (Record, error)
	// Put stores the change and returns the record after it. A link whose
	// account already belongs to another canonical id is refused with a
	// *ConflictError, and nothing of the change is stored.
	Put(ctx context.Context, canonicalID string, c Change) (Record, error)
	// Delete removes one link; false when there was none.
	Delete(ctx context.Context, canonicalID, target string) (bool, error)
	// Reverse finds the canonical id owning an account; ok is false when
	// the account is linked to none.
	Reverse(ctx context.Context, target, vendorID string) (canonicalID string, l Link, ok bool, err error)
	// List pages through the canonical ids holding at least one link, in
	// ascending byte order: at most limit ids after skipping offset, and
	// the number of such ids in all (SCIM's startIndex/count listing).
	List(ctx context.Context, offset, limit int) (ids []string, total int, err error)
	// Ping checks the store can be reached.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close()
}

// ConflictError is a link refused because the account already belongs to
// another canonical id.
type ConflictError struct {
	Target, VendorID string
	// Owner is the canonical id the account is linked to.
	Owner string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("links: %s account %q is already linked to %q", e.Target, e.VendorID, e.Owner)
}

// ErrInvalid marks a change the store refuses as malformed.
var ErrInvalid = errors.New("links: invalid change")

// MaxIDLength bounds canonical ids, target names, vendor ids and
// attributes, so a caller cannot store unbounded values.
const MaxIDLength = 255

// MaxHeldBytes bounds a Change's Held object: it is a handful of short
// attributes, not a document store.
const MaxHeldBytes = 4096

// check validates a change before any store sees it.
func check(canonicalID string, c Change) error {
	if err := checkValue("canonical id", canonicalID); err != nil {
		return err
	}
	if len(c.Links) == 0 && c.Attributes.IsZero() && c.Held == nil {
		return fmt.Errorf("%w: no links and no attributes", ErrInvalid)
	}
	if c.Held != nil {
		if len(c.Held) > MaxHeldBytes {
			return fmt.Errorf("%w: held attributes longer than %d bytes", ErrInvalid, MaxHeldBytes)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(c.Held, &obj); err != nil || obj == nil {
			return fmt.Errorf("%w: held attributes must be a JSON object", ErrInvalid)
		}
	}
	if !c.Source.Valid() {
		return fmt.Errorf("%w: unknown source %q", ErrInvalid, c.Source)
	}
	for _, t := range slices.Sorted(maps.Keys(c.Links)) {
		if err := checkValue("target", t); err != nil {
			return err
		}
		if err := checkValue("vendor id of "+t, c.Links[t]); err != nil {
			return err
		}
	}
	if len(c.Attributes.Email) > MaxIDLength || len(c.Attributes.Username) > MaxIDLength || len(c.Client) > MaxIDLength {
		return fmt.Errorf("%w: attribute or client longer than %d bytes", ErrInvalid, MaxIDLength)
	}
	return nil
}

func checkValue(what, v string) error {
	if v == "" || len(v) > MaxIDLength || !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s must be 1 to %d bytes of UTF-8", ErrInvalid, what, MaxIDLength)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s holds a control character", ErrInvalid, what)
		}
	}
	return nil
}

// Seed stores the config file's users map (canonical id -> target -> vendor
// id) with source config. Links already stored for the canonical id and
// target are left as they are, so links changed through the API survive a
// restart; a seed link whose account belongs to another id is an error.
func Seed(ctx context.Context, s Store, users map[string]map[string]string) error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(users)) {
		rec, err := s.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("links: seed %q: %w", id, err)
		}
		missing := map[string]string{}
		for t, v := range users[id] {
			if _, ok := rec.Links[t]; !ok && v != "" {
				missing[t] = v
			}
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := s.Put(ctx, id, Change{Links: missing, Source: SourceConfig, Client: "config"}); err != nil {
			errs = append(errs, fmt.Errorf("links: seed users.%s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// heldValue is how a change's Held is stored: a copy, and nil for the
// empty object (which clears it).
func heldValue(h json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(h, &obj) == nil && len(obj) == 0 {
		return nil
	}
	return bytes.Clone(h)
}
