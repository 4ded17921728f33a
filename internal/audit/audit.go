package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Actions recorded by the gateway itself; other features add their own
// (link.create, link.delete, migration.item, scim.<op>).
const (
	ActionUserUpdate = "user.update"
	ActionUserDryRun = "user.dry_run"
	// ActionLinkCreate and ActionLinkDelete are identity-link changes made
	// through the links API.
	ActionLinkCreate = "link.create"
	ActionLinkDelete = "link.delete"
	// ActionMigrationItem is one user written by `gateway migrate`; its
	// Detail names the run, the source and the source's vendor id.
	ActionMigrationItem = "migration.item"
)

// Record is one audit entry. It never holds a secret.
type Record struct {
	// ID is assigned by the store (monotonic per store); 0 before Append.
	ID int64 `json:"id"`
	// Time is when the change finished (UTC, microsecond precision).
	Time time.Time `json:"time"`
	// Action is what happened: user.update, user.dry_run, link.create, ...
	Action string `json:"action"`
	// User is the canonical user id acted on.
	User string `json:"user"`
	// Client is the authenticated client; AuthMethod how it authenticated
	// (api_key, oidc, mtls, none; cli for gateway migrate).
	Client     string `json:"client"`
	AuthMethod string `json:"auth_method"`
	// Fields are the canonical fields changed (names only).
	Fields []string `json:"fields,omitempty"`
	// Values holds field values as audit.values allows: e-mail and names
	// plain or "sha256:<hex>", booleans plain; never secrets.
	Values map[string]string `json:"values,omitempty"`
	// Targets maps each target to its vendor id and outcome.
	Targets map[string]TargetOutcome `json:"targets,omitempty"`
	// Status is the overall outcome (applied, partial, failed, planned, ...)
	// and HTTPStatus the response status.
	Status     string `json:"status"`
	HTTPStatus int    `json:"http_status,omitempty"`
	DryRun     bool   `json:"dry_run,omitempty"`
	// IdempotencyKey and TraceID tie the record to the request.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	TraceID        string `json:"trace_id,omitempty"`
	// Detail is free-form, feature-specific context (no secrets).
	Detail map[string]string `json:"detail,omitempty"`
}

// TargetOutcome is one target's part of a change.
type TargetOutcome struct {
	VendorID string `json:"vendor_id,omitempty"`
	Status   string `json:"status"`
	Code     string `json:"code,omitempty"`
}

// Query selects records, newest first.
type Query struct {
	User, Client string
	// Since (inclusive) and Until (exclusive) bound Time; zero: unbounded.
	Since, Until time.Time
	// Limit is the page size (default 50, at most MaxLimit).
	Limit int
	// Cursor continues from a previous Page.Next.
	Cursor string
}

// MaxLimit bounds one page.
const MaxLimit = 500

// Page is one page of records; Next is empty on the last page.
type Page struct {
	Records []Record `json:"records"`
	Next    string   `json:"next,omitempty"`
}

// Sink receives records.
type Sink interface {
	// Append stores one record, assigning its ID when the sink has ids.
	Append(ctx context.Context, r *Record) error
	// Ping reports whether Append can work now.
	Ping(ctx context.Context) error
	// Name is for logs and errors ("postgres", "jsonl", "memory").
	Name() string
}

// Store is a sink that can be queried.
type Store interface {
	Sink
	Query(ctx context.Context, q Query) (Page, error)
}

// Recorder is what a feature that changes identities calls: Ready before it
// writes anything (an error means: write nothing, answer 503
// audit_unavailable), Record after, with the outcome. Record never fails the
// caller: a record that cannot be stored now is buffered and retried.
type Recorder interface {
	Ready(ctx context.Context) error
	Record(ctx context.Context, r Record)
}

// ErrUnavailable is Ready's answer when no record could be stored.
var ErrUnavailable = errors.New("audit: the audit trail is unavailable")

// ErrBadCursor is a cursor the store did not issue.
var ErrBadCursor = errors.New("audit: invalid cursor")

// Normalize checks a query and applies the default limit.
func (q *Query) Normalize() error {
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return fmt.Errorf("audit: limit must be between 1 and %d", MaxLimit)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return errors.New("audit: since must be before until")
	}
	return nil
}

// cursor is the position after the last record of a page: records sort by
// (time, id) descending.
type cursor struct {
	t  time.Time
	id int64
}

func encodeCursor(r Record) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(r.Time.UnixMicro(), 10) + "." + strconv.FormatInt(r.ID, 10)))
}

func decodeCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadCursor
	}
	ts, id, ok := strings.Cut(string(b), ".")
	us, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return nil, ErrBadCursor
	}
	return &cursor{t: time.UnixMicro(us).UTC(), id: n}, nil
}

// ValuePolicy is audit.values.
type ValuePolicy string

const (
	ValuesNone   ValuePolicy = "none"
	ValuesHashed ValuePolicy = "hashed"
	ValuesPlain  ValuePolicy = "plain"
)

// Value renders a personal value (e-mail, name) under the policy; ok false
// means: do not store it.
func (p ValuePolicy) Value(v string) (string, bool) {
	switch p {
	case ValuesPlain:
		return v, true
	case ValuesHashed:
		// Lower-cased and trimmed, so one address hashes the same however a
		// caller spelt its case: records of one person can be found by hashing
		// the address searched for.
		var buf [lowerBuf]byte
		sum := sha256.Sum256(lowerTrimmed(&buf, v))
		// Written into one array: one allocation (the string) per value,
		// on every update, rather than three.
		var out [len("sha256:") + 2*sha256.Size]byte
		copy(out[:], "sha256:")
		hex.Encode(out[len("sha256:"):], sum[:])
		return string(out[:]), true
	}
	return "", false
}

// lowerTrimmed is strings.ToLower(strings.TrimSpace(v)) as bytes to hash.
// An ASCII value that fits buf (nearly every address and name) is
// lower-cased into it, on the caller's stack, not into a new string
// (BenchmarkChanges); anything else goes through strings.ToLower, whose
// Unicode case mapping it keeps.
func lowerTrimmed(buf *[lowerBuf]byte, v string) []byte {
	v = strings.TrimSpace(v)
	if len(v) > len(buf) {
		return []byte(strings.ToLower(v))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= utf8.RuneSelf {
			return []byte(strings.ToLower(v))
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(v)]
}

const lowerBuf = 128

// Pruner deletes old records (the retention job).
type Pruner interface {
	Prune(ctx context.Context, before time.Time) (int64, error)
}

// RunRetention deletes records older than keep every interval until ctx
// ends. Every replica may run it: deleting is idempotent.
func RunRetention(ctx context.Context, p Pruner, keep, interval time.Duration, now func() time.Time, log func(n int64, err error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		n, err := p.Prune(ctx, now().Add(-keep))
		if log != nil && (n > 0 || err != nil) {
			log(n, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
