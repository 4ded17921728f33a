package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sort"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// Adapter writes canonical updates to one vendor.
type Adapter interface {
	// Capabilities lists, for every canonical field, whether the vendor can
	// take it and through which vendor field or call, or why not.
	Capabilities() Capabilities
	// Apply performs op through do. op.Update holds only fields the adapter
	// declared supported (the dispatcher applies the unsupported-field policy
	// centrally). Errors carry a *canonical.Error via %w.
	Apply(ctx context.Context, do Doer, op Op) (Outcome, error)
}

// Config is a vendor's decoded `settings` block. Open validates it and builds
// the adapter; it performs no I/O, so check-config can open every vendor.
type Config interface {
	Open(name string, deps Deps) (Adapter, error)
}

// Deps is what the gateway hands every adapter at Open.
type Deps struct {
	Logger *slog.Logger
	// Notifications maps canonical notification names to this vendor's names.
	// Nil means the adapter's documented default mapping.
	Notifications map[string]string
	// Credential is the vendor's service credential from config (environment
	// variables named there). Zero when the vendor runs on pass-through only.
	Credential Credential
}

// Credential is a service credential. Which fields a vendor needs is its
// adapter's business (token for Volterra, user and password for the others).
type Credential struct {
	Username string
	Password canonical.Secret
	Token    canonical.Secret
}

// IsZero reports whether no credential was configured.
func (c Credential) IsZero() bool { return c.Username == "" && c.Password == "" && c.Token == "" }

// Op is one update for one vendor.
type Op struct {
	// UserID is the user's id at the vendor (vendor_ids or the path id).
	UserID string
	Update canonical.Update
	// Extensions are this vendor's extension fields, already checked against
	// Capabilities().Extensions.
	Extensions map[string]json.RawMessage
	// PassThrough is the caller's own vendor credential when the vendor allows
	// one (docs/api.md, Pass-through credentials); empty otherwise. It is a Secret so it can
	// never be printed by accident.
	PassThrough canonical.Secret
	// Fields, for a Read, are the fields the caller will use (nil: all).
	// A Reader may skip vendor calls that read none of them; the snapshot
	// may still hold others.
	Fields []canonical.Field
}

// Wants reports whether a Read of o should read any of fs.
func (o Op) Wants(fs ...canonical.Field) bool {
	if o.Fields == nil {
		return true
	}
	for _, f := range fs {
		if slices.Contains(o.Fields, f) {
			return true
		}
	}
	return false
}

// Outcome is what an applied update did.
type Outcome struct {
	VendorID string
	// Applied lists the canonical fields the vendor confirmed (or, in a dry
	// run, would have written).
	Applied []canonical.Field
}

// Capabilities is one vendor's column of the field-support matrix.
type Capabilities struct {
	Fields map[canonical.Field]Support `json:"fields"`
	// Extensions lists the vendor-only body fields a request may pass
	// under extensions.<vendor>.
	Extensions []string `json:"extensions"`
	// IDFormat describes the vendor id the adapter accepts.
	IDFormat string `json:"id_format,omitempty"`
}

// Support is one cell of the matrix.
type Support struct {
	Supported bool `json:"supported"`
	// As names the vendor field or call that carries the value.
	As string `json:"as,omitempty"`
	// Reason says why a field is not supported, or which values are not.
	Reason string `json:"reason,omitempty"`
	// Readable says the adapter's Read reports the field; ReadAs names the
	// vendor field or call it is read from, ReadReason why it cannot be
	// read (a write-only field, a secret, no such field).
	Readable   bool   `json:"readable"`
	ReadAs     string `json:"read_as,omitempty"`
	ReadReason string `json:"read_reason,omitempty"`
}

// Unsupported lists the fields of u that caps cannot take, with the reason,
// in canonical field order.
func (c Capabilities) Unsupported(u *canonical.Update) []canonical.Unsupported {
	var out []canonical.Unsupported
	for _, f := range u.Fields() {
		s, ok := c.Fields[f]
		if !ok || !s.Supported {
			reason := s.Reason
			if reason == "" {
				reason = "not supported by this vendor"
			}
			out = append(out, canonical.Unsupported{Field: f, Reason: reason})
		}
	}
	return out
}

// AllowsExtension reports whether name is an allowed extension field.
func (c Capabilities) AllowsExtension(name string) bool {
	for _, e := range c.Extensions {
		if e == name {
			return true
		}
	}
	return false
}

// Complete fills a Support row (unsupported, with reason) for every
// canonical field the adapter left out, so the matrix is always total.
func (c Capabilities) Complete() Capabilities {
	out := Capabilities{Fields: make(map[canonical.Field]Support, len(canonical.AllFields())), IDFormat: c.IDFormat}
	for _, f := range canonical.AllFields() {
		s, ok := c.Fields[f]
		if !ok {
			s = Support{Reason: "the vendor's API has no such field"}
		}
		s = completeRead(f, s)
		out.Fields[f] = s
	}
	out.Extensions = append([]string(nil), c.Extensions...)
	sort.Strings(out.Extensions)
	return out
}

// Preflighter is implemented by adapters that check an op before any call is
// made to any target: the vendor id's shape and the vendor's own constraints
// (lengths, value sets), returned as a *canonical.Error with invalid_request
// naming the fields; and values the vendor cannot take even though it
// supports the field (a webp avatar, a notification with no mapping),
// returned as unsupported, which the dispatcher treats like unsupported
// fields under the request's policy.
type Preflighter interface {
	Preflight(op Op) (unsupported []canonical.Unsupported, err error)
}

// Classifier is implemented by adapters whose vendor signals something in a
// response that plain status codes do not say (Frontier's 503 "function not
// available" is an authorisation failure, not an outage). The resilience
// layer consults it before its own policy.
type Classifier interface {
	Classify(r *Response) Class
}

// Verifier is implemented by adapters that can tell, by reading the vendor,
// whether an update already holds. The dispatcher asks it before re-running
// a target whose earlier run may have been cut off after the vendor applied
// it (a crash between the vendor's answer and the idempotency record), so a
// retry does not write twice. ok is false when the adapter cannot be sure
// (a password, say, cannot be read back): the target then runs again.
type Verifier interface {
	Verify(ctx context.Context, do Doer, op Op) (ok bool, err error)
}

// Checker is implemented by adapters that can prove, without changing
// anything, that the vendor is reachable at its base URL (TLS included) and
// that the configured credential logs in and may read what updates need
// (gateway check-vendors). Check sends at most a login and one read through
// do, the same Doer updates use (breaker and retries included). A failure is
// a *CheckError when the adapter can say what to fix.
type Checker interface {
	Check(ctx context.Context, do Doer) error
}

// CheckError is a failed Check with a message an operator can act on.
type CheckError struct {
	// Message says what failed and what to do about it.
	Message string
	// Credential is true when the vendor refused the credential itself (a
	// failed login, a rejected token), so the operator should look at the
	// variables that hold it.
	Credential bool
	// Err is the underlying error, if any.
	Err error
}

func (e *CheckError) Error() string { return e.Message }

func (e *CheckError) Unwrap() error { return e.Err }

// ErrNoCredential is returned by Check when the vendor has no service
// credential to check (it runs on callers' pass-through credentials only).
var ErrNoCredential = errors.New("no service credential configured")

// ReadModifyWriter is implemented by adapters that write whole vendor
// objects: Apply reads the object, changes the update's fields and writes
// it all back, so two updates of one account that interleave would have
// the later write undo the earlier one. The dispatcher then holds a lock
// on the account from before the first call to the end of the last one,
// and confirms before every Write call that it still holds it.
//
// LockAccount names the vendor account op changes (unique within the
// target, stable across replicas, never a secret in clear) and reports
// whether op needs the lock: true when op reads an object to write it back,
// or writes part of an object such a read-modify-write rewrites (another
// update's whole-object write would otherwise put the old part back).
// Writes that carry only the fields they set need none, nor do dry runs
// (the dispatcher never locks those).
type ReadModifyWriter interface {
	LockAccount(op Op) (account string, lock bool)
}

// Reader is implemented by adapters that can read a user back from the
// vendor as canonical fields (GET /v1/users/{id}, If-Match checks). Read
// sends only Read and Auth calls: it never writes. A user the vendor does
// not have is an error carrying canonical.CodeNotFound. Op.Update is
// ignored.
type Reader interface {
	Read(ctx context.Context, do Doer, op Op) (Snapshot, error)
}

// The attributes a Resolver can look accounts up by.
const (
	ResolveByEmail    = "email"
	ResolveByUsername = "username"
)

// Resolver is implemented by adapters whose vendor can find a user's
// account by a stable attribute, for identity links: a request addressing
// a target with no link is resolved, and one match becomes the link.
type Resolver interface {
	// Resolve returns the vendor ids of every account whose attribute by
	// (ResolveByEmail or ResolveByUsername) matches value, matched the way
	// the vendor's lookup matches. Every call goes through do (Kind Read),
	// so it runs under the target's breaker and retries and shows in the
	// result's calls. No match is an empty slice, not an error.
	Resolve(ctx context.Context, do Doer, by, value string) ([]string, error)
}

// ResolveSupport says which lookups a vendor offers, for config checks and
// the README's identity-link table.
type ResolveSupport struct {
	// By lists the attributes Resolve accepts; empty means none.
	By []string
	// As names the vendor call used.
	As string
	// Reason says why a vendor offers no lookup (or limits it).
	Reason string
}

// ResolveDescriber is implemented by every built-in adapter, Resolver or
// not, to describe its vendor's lookup.
type ResolveDescriber interface {
	ResolveSupport() ResolveSupport
}

type passThroughKey struct{}

// WithPassThrough carries the caller's own vendor credential to a
// Resolver, whose signature has no Op: a vendor that acts on the
// credential's owner (Volterra) resolves that owner.
func WithPassThrough(ctx context.Context, s canonical.Secret) context.Context {
	if s == "" {
		return ctx
	}
	return context.WithValue(ctx, passThroughKey{}, s)
}

// PassThroughFrom is the credential WithPassThrough put in ctx, if any.
func PassThroughFrom(ctx context.Context) canonical.Secret {
	s, _ := ctx.Value(passThroughKey{}).(canonical.Secret)
	return s
}

// Creator is implemented by adapters whose vendor API can create a user
// (SCIM POST /Users, for an identity provider's new user with no account
// to link). Create sends the vendor's documented create call through do
// (Kind Write) with the fields of u the call takes, and returns the new
// account's vendor id; the dispatcher then links it and applies the rest
// of the update as usual. An account that already exists (same name or
// e-mail) is an error carrying canonical.CodeConflict.
type Creator interface {
	Create(ctx context.Context, do Doer, u canonical.Update) (vendorID string, err error)
}

// Deleter is implemented by adapters whose vendor API can delete a user
// permanently (SCIM DELETE /Users/{id} when config allows hard deletes).
// Delete sends the vendor's documented delete call through do (Kind
// Write); a user the vendor does not have is an error carrying
// canonical.CodeNotFound.
type Deleter interface {
	Delete(ctx context.Context, do Doer, vendorID string) error
}
