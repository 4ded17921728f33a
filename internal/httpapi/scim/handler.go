package scim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	filter "github.com/scim2/filter-parser/v2"
	"golang.org/x/sync/singleflight"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// The gateway-owned pseudo-links kept with a SCIM user (see the package
// comment). Target names cannot hold a colon, so they never collide.
const (
	linkUserName   = "scim:userName"
	linkExternalID = "scim:externalId"
	linkEmail      = "scim:email"
	linkCreate     = "scim:create"
	// linkCreated marks a Bulk POST that completed (keyed like
	// linkCreate): a repeat of the Bulk request answers its user again.
	linkCreated = "scim:created"
)

// Caller is the authenticated identity provider, as the HTTP layer knows
// it: its client name (idempotency is keyed per client) and ACL.
type Caller struct {
	Name string
	// AuthMethod is how it authenticated (api_key, oidc, mtls, none), for
	// the audit trail.
	AuthMethod     string
	AllowedTargets []string
	AllowedFields  []string
}

// Options configures a Handler.
type Options struct {
	Dispatcher *dispatch.Dispatcher
	Config     Config
	// Caller reads the authenticated client from a request.
	Caller func(c *fiber.Ctx) (Caller, bool)
	// BodyLimit is advertised as Bulk's maxPayloadSize.
	BodyLimit int
	Logger    *slog.Logger
	// Audit records every SCIM write as scim.create, scim.replace,
	// scim.patch or scim.delete (nil: no trail); AuditValues is how e-mail
	// and name values are kept.
	Audit       audit.Recorder
	AuditValues audit.ValuePolicy
	// Lister, when set, lets listing show the users a vendor has that
	// are linked to no canonical id yet (see Lister); nil lists the link
	// store's users only.
	Lister Lister
	// Concurrency bounds how many operations of one Bulk request run at
	// once: the batch endpoint's bound (server.batch_concurrency; 0: 8).
	Concurrency int
}

// Handler serves /scim/v2.
type Handler struct {
	d         *dispatch.Dispatcher
	cfg       Config
	mappings  []mapping
	caller    func(c *fiber.Ctx) (Caller, bool)
	base      string
	bodyLimit int
	log       *slog.Logger

	audit       audit.Recorder
	auditValues audit.ValuePolicy
	lister      Lister
	concurrency int

	// adoption walks the vendor's whole list, so concurrent listings
	// share one walk and a walk stays fresh for adoptInterval: an
	// identity provider paging through thousands of users does not make
	// one walk per page.
	adopting  singleflight.Group
	adoptMu   sync.Mutex
	adoptedAt time.Time
	now       func() time.Time
}

// adoptInterval is how long a successful walk of the vendor's list stays
// fresh; an account created at the vendor meanwhile is listed from the
// first listing after it.
const adoptInterval = 30 * time.Second

// New checks the config against the dispatcher's targets.
func New(o Options) (*Handler, error) {
	if o.Dispatcher == nil || o.Caller == nil {
		return nil, errors.New("scim: a dispatcher and a caller function are required")
	}
	cfg, err := o.Config.withDefaults(o.Dispatcher.Targets())
	if err != nil {
		return nil, err
	}
	ms, err := parseMappings(cfg.Attributes)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = 2 << 20
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	return &Handler{d: o.Dispatcher, cfg: cfg, mappings: ms, caller: o.Caller, base: "/scim/v2", bodyLimit: o.BodyLimit, log: o.Logger,
		audit: o.Audit, auditValues: o.AuditValues, lister: o.Lister, concurrency: o.Concurrency, now: time.Now}, nil
}

// Routes mounts the SCIM endpoints on r (the /scim/v2 group, behind
// authentication and the scim permission).
func (h *Handler) Routes(r fiber.Router) {
	r.Get("/ServiceProviderConfig", h.serviceProviderConfig)
	r.Get("/ResourceTypes", h.resourceTypes)
	r.Get("/ResourceTypes/:id", h.resourceType)
	r.Get("/Schemas", h.schemaList)
	r.Get("/Schemas/:id", h.schemaByID)
	r.Get("/Users", h.listUsers)
	r.Post("/Users", h.createUser)
	r.Get("/Users/:id", h.getUser)
	r.Put("/Users/:id", h.replaceUser)
	r.Patch("/Users/:id", h.patchUser)
	r.Delete("/Users/:id", h.deleteUser)
	r.Post("/Bulk", h.bulk)
}

// WriteError renders err as a SCIM error (for the HTTP layer's error
// handler).
func (h *Handler) WriteError(c *fiber.Ctx, err error) error { return WriteError(c, err) }

func (h *Handler) send(c *fiber.Ctx, status int, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("scim: encode: %w", err)
	}
	c.Set(fiber.HeaderContentType, MediaType)
	return c.Status(status).Send(b)
}

// TargetResult is one target's share of a SCIM write, in the gateway
// extension of the response.
type TargetResult struct {
	// Status is applied, unchanged (the target already held every value),
	// skipped (nothing it supports changed), deleted (DELETE, at a target
	// in scim.hard_delete), not_linked or failed.
	Status   string            `json:"status"`
	VendorID string            `json:"vendorId,omitempty"`
	Applied  []canonical.Field `json:"applied,omitempty"`
	Skipped  []string          `json:"skipped,omitempty"`
	Error    *result.ErrorBody `json:"error,omitempty"`
	Replayed bool              `json:"replayed,omitempty"`
	// Created: POST /Users created the account with the vendor's create
	// call (no account resolved to the user).
	Created bool `json:"created,omitempty"`
}

// createAccounts creates the user's account at every SCIM target that has
// none (not linked after resolution) and whose adapter can create users.
func (h *Handler) createAccounts(ctx context.Context, cl Caller, id string, v view, want state) (map[string]bool, map[string]TargetResult) {
	var u canonical.Update
	for f, val := range want.Fields {
		if f != canonical.FieldEnabled { // a new account takes the vendor's default state
			setField(&u, f, val)
		}
	}
	if want.Password != "" {
		u.Password = canonical.Some(canonical.Password{New: canonical.Secret(want.Password)})
	}
	created, failed := map[string]bool{}, map[string]TargetResult{}
	for _, t := range h.cfg.Targets {
		if cl.AllowedTargets != nil && !slices.Contains(cl.AllowedTargets, t) {
			continue
		}
		if v.reads[t].Status != dispatch.ReadNotLinked || !h.d.CanCreate(t) {
			continue
		}
		vid, _, err := h.d.Create(ctx, cl.Name, t, id, u)
		if err != nil {
			failed[t] = TargetResult{Status: "failed", VendorID: vid, Error: result.NewErrorBody(canonical.AsError(err))}
			continue
		}
		created[t] = true
	}
	return created, failed
}

func (h *Handler) who(c *fiber.Ctx) (Caller, error) {
	cl, ok := h.caller(c)
	if !ok {
		return Caller{}, errorf(401, "", "not authenticated")
	}
	return cl, nil
}

// view is what the gateway knows of a SCIM user: its link record and
// every SCIM target's read.
type view struct {
	rec   links.Record
	reads map[string]dispatch.TargetRead
	etag  string
	cur   state
}

func (h *Handler) load(ctx context.Context, cl Caller, id string) (view, error) {
	if err := canonical.CheckID("id", id); err != nil {
		return view{}, errorf(404, "", "no such user")
	}
	rec, err := h.d.Links().Get(ctx, id)
	if err != nil {
		return view{}, errorf(503, "", "the link store is unavailable")
	}
	if len(rec.Links) == 0 {
		// Every user the gateway knows holds a link: a SCIM user its
		// scim:userName, any other the link to one of its accounts.
		return view{}, errorf(404, "", "no such user: "+id)
	}
	res, err := h.d.Read(ctx, dispatch.ReadInput{Client: cl.Name, AllowedTargets: cl.AllowedTargets, UserID: id, Targets: h.cfg.Targets})
	if err != nil {
		return view{}, err
	}
	v := view{rec: rec, reads: res.Results, etag: res.ETag}
	v.cur = h.current(rec, res.Results)
	return v, nil
}

// current builds the user from the reads: each field from the target
// named authoritative for it, else the first target (scim.targets order)
// showing it; userName and e-mail fall back to the remembered attributes.
func (h *Handler) current(rec links.Record, reads map[string]dispatch.TargetRead) state {
	s := state{Fields: map[canonical.Field]any{}, Meta: map[string]any{}, Ext: map[string]map[string]any{}}
	s.ExternalID = rec.Links[linkExternalID].VendorID
	s.Held = decodeHeld(rec.Held)
	order := func(f canonical.Field) []string {
		out := []string{}
		if t, ok := h.cfg.Authoritative[string(f)]; ok {
			out = append(out, t)
		}
		return append(out, h.cfg.Targets...)
	}
	notFound := false
	for _, f := range defaultFields {
		for _, t := range order(f) {
			r := reads[t]
			if r.Status == dispatch.ReadNotFound {
				notFound = true
			}
			if r.Status != dispatch.ReadOK || r.Snapshot == nil {
				continue
			}
			if v, ok := r.Snapshot.Fields[f]; ok && v.Value != nil {
				s.Fields[f] = v.Value
				break
			}
		}
	}
	for _, m := range h.mappings {
		if m.metaKey == "" {
			continue
		}
		for _, t := range order(canonical.FieldMetadata) {
			r := reads[t]
			if r.Status != dispatch.ReadOK || r.Snapshot == nil {
				continue
			}
			if md, ok := r.Snapshot.Fields[canonical.FieldMetadata].Value.(canonical.Metadata); ok {
				if v, ok := md[m.metaKey]; ok {
					s.Meta[m.metaKey] = v
					break
				}
			}
		}
	}
	if _, ok := s.Fields[canonical.FieldUsername]; !ok && rec.Attributes.Username != "" {
		s.Fields[canonical.FieldUsername] = rec.Attributes.Username
	}
	if _, ok := s.Fields[canonical.FieldUsername]; !ok {
		// A user linked outside SCIM whose targets show no username:
		// SCIM requires a userName, and the canonical id is the name the
		// gateway knows it by.
		s.Fields[canonical.FieldUsername] = rec.CanonicalID
	}
	if _, ok := s.Fields[canonical.FieldEmail]; !ok && rec.Attributes.Email != "" {
		s.Fields[canonical.FieldEmail] = rec.Attributes.Email
	}
	if _, ok := s.Fields[canonical.FieldEnabled]; !ok {
		// Frontier's GET hides a disabled user: not found there reads as
		// inactive when no target shows enabled.
		s.Fields[canonical.FieldEnabled] = !notFound
	}
	return s
}

func (h *Handler) getUser(c *fiber.Ctx) error {
	cl, err := h.who(c)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	v, err := h.load(c.UserContext(), cl, id)
	if err != nil {
		return err
	}
	attrs, excl := listParam(c.Query("attributes")), listParam(c.Query("excludedAttributes"))
	return h.send(c, 200, project(h.resource(id, v.cur), attrs, excl))
}

func listParam(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (h *Handler) listUsers(c *fiber.Ctx) error {
	cl, err := h.who(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	start, count := 1, h.cfg.MaxResults
	if s := c.Query("startIndex"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return errorf(400, "invalidValue", "startIndex must be an integer")
		}
		start = max(n, 1)
	}
	if s := c.Query("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return errorf(400, "invalidValue", "count must be an integer")
		}
		count = min(max(n, 0), h.cfg.MaxResults)
	}
	attrs, excl := listParam(c.Query("attributes")), listParam(c.Query("excludedAttributes"))
	var expr filter.Expression
	if raw := c.Query("filter"); raw != "" {
		if expr, err = parseFilter(raw); err != nil {
			return filterError(raw)
		}
	}
	var (
		matched []map[string]any
		total   int
	)
	idx, ok := indexed(expr)
	switch {
	case expr == nil:
		// No filter: one page straight from the link store, whose total
		// is the answer's totalResults.
		if matched, total, err = h.listPage(ctx, cl, start, count); err != nil {
			return err
		}
		return h.send(c, 200, listResponse(projectAll(matched, attrs, excl), total, start))
	case ok:
		ids, err := h.find(ctx, cl, idx)
		if err != nil {
			return err
		}
		if matched, err = h.loadMatching(ctx, cl, ids, expr); err != nil {
			return err
		}
	default:
		// Any other filter is evaluated on the built resources, so every
		// user must be built: at most max_results of them, else tooMany
		// (RFC 7644 §3.4.2.4) rather than a wrong totalResults.
		h.adoptListed(ctx, cl)
		ids, n, err := h.d.Links().List(ctx, 0, h.cfg.MaxResults+1)
		if err != nil {
			return errorf(503, "", "the link store is unavailable")
		}
		if n > h.cfg.MaxResults {
			return errorf(400, "tooMany", fmt.Sprintf("the filter would be evaluated on %d users, more than max_results (%d): narrow it with userName, externalId, id or emails.value eq", n, h.cfg.MaxResults))
		}
		if matched, err = h.loadMatching(ctx, cl, ids, expr); err != nil {
			return err
		}
	}
	total = len(matched)
	lo := min(start-1, total)
	return h.send(c, 200, listResponse(projectAll(matched[lo:min(lo+count, total)], attrs, excl), total, start))
}

// listPage builds one page of every user the gateway knows (canonical ids
// holding a link), in the link store's order, which stays the same from
// page to page as Okta's import requires. An id whose links vanished
// between the listing and its read is left out.
func (h *Handler) listPage(ctx context.Context, cl Caller, start, count int) ([]map[string]any, int, error) {
	h.adoptListed(ctx, cl)
	ids, total, err := h.d.Links().List(ctx, start-1, count)
	if err != nil {
		return nil, 0, errorf(503, "", "the link store is unavailable")
	}
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		v, err := h.load(ctx, cl, id)
		if err != nil {
			if se := (*Error)(nil); errors.As(err, &se) && se.Status == 404 {
				continue
			}
			return nil, 0, err
		}
		out = append(out, h.resource(id, v.cur))
	}
	return out, total, nil
}

// adoptListed links the accounts the Lister (if any) lists that nobody
// owns, before a listing; a failure leaves the listing to linked users.
func (h *Handler) adoptListed(ctx context.Context, cl Caller) {
	target := h.listTarget()
	if h.lister == nil || target == "" {
		return
	}
	h.adoptMu.Lock()
	fresh := !h.adoptedAt.IsZero() && h.now().Sub(h.adoptedAt) < adoptInterval
	h.adoptMu.Unlock()
	if fresh {
		return
	}
	// The walk runs under the first caller's context and name: the
	// accounts it links are the same whoever asked.
	_, err, _ := h.adopting.Do(target, func() (any, error) {
		if err := adopt(ctx, h.d.Links(), h.lister, target, cl.Name); err != nil {
			return nil, err
		}
		h.adoptMu.Lock()
		h.adoptedAt = h.now()
		h.adoptMu.Unlock()
		return nil, nil
	})
	if err != nil {
		h.log.WarnContext(ctx, "scim: listing the vendor's users failed; listing linked users only", "err", err)
	}
}

// loadMatching builds the users ids name and keeps those expr matches.
func (h *Handler) loadMatching(ctx context.Context, cl Caller, ids []string, expr filter.Expression) ([]map[string]any, error) {
	var out []map[string]any
	for _, id := range ids {
		v, err := h.load(ctx, cl, id)
		if err != nil {
			if se := (*Error)(nil); errors.As(err, &se) && se.Status == 404 {
				continue
			}
			return nil, err
		}
		doc := h.resource(id, v.cur)
		if matches(roundTrip(doc), expr) {
			out = append(out, doc)
		}
	}
	return out, nil
}

func projectAll(docs []map[string]any, attrs, excl []string) []any {
	out := make([]any, 0, len(docs))
	for _, d := range docs {
		out = append(out, project(d, attrs, excl))
	}
	return out
}

// roundTrip gives a resource the shapes decoded JSON has ([]any, not
// []string), so filters evaluate on it as on a request body.
func roundTrip(doc map[string]any) map[string]any {
	b, _ := json.Marshal(doc)
	v, _ := decodeValue(b)
	m, _ := v.(map[string]any)
	return m
}

// find answers index lookups from the link store.
func (h *Handler) find(ctx context.Context, cl Caller, idx []index) ([]string, error) {
	seen := map[string]bool{}
	for _, ix := range idx {
		var (
			id  string
			ok  bool
			err error
		)
		switch ix.kind {
		case "id":
			id, ok = ix.value, true
		case "userName":
			id, _, ok, err = h.d.Links().Reverse(ctx, linkUserName, strings.ToLower(ix.value))
		case "externalId":
			id, _, ok, err = h.d.Links().Reverse(ctx, linkExternalID, ix.value)
		case "email":
			id, _, ok, err = h.d.Links().Reverse(ctx, linkEmail, strings.ToLower(ix.value))
		}
		if err == nil && !ok && (ix.kind == "userName" || ix.kind == "email") {
			id, ok, err = h.resolveNew(ctx, cl, ix.kind, ix.value)
		}
		if err != nil {
			return nil, errorf(503, "", "the link store is unavailable")
		}
		if ok {
			seen[id] = true
		}
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

// resolveNew makes a user that exists at a SCIM target but is linked to
// no canonical id visible to a userName or emails.value eq filter, as the
// read path would: a new canonical id remembers the value (a userName
// with an @ also as the e-mail), and reading it resolves each SCIM target
// by its resolve setting, storing the links it finds (source resolved).
// When no target resolved, nothing is kept and ok is false.
func (h *Handler) resolveNew(ctx context.Context, cl Caller, kind, value string) (string, bool, error) {
	attrs, pseudo := links.Attributes{}, map[string]string{}
	switch kind {
	case "userName":
		attrs.Username, pseudo[linkUserName] = value, strings.ToLower(value)
		if strings.Contains(value, "@") {
			attrs.Email = value
		}
	case "email":
		attrs.Email, pseudo[linkEmail] = value, strings.ToLower(value)
	}
	store := h.d.Links()
	id := newID()
	if _, err := store.Put(ctx, id, links.Change{Links: pseudo, Source: links.SourceResolved, Client: cl.Name, Attributes: attrs}); err != nil {
		var ce *links.ConflictError
		if errors.As(err, &ce) {
			return ce.Owner, true, nil // claimed meanwhile by another request
		}
		if errors.Is(err, links.ErrInvalid) {
			return "", false, nil // not a value the store can keep: nobody has it
		}
		return "", false, err
	}
	// load reads every SCIM target, resolving each as the read path does.
	v, err := h.load(ctx, cl, id)
	if err == nil && resolvedMatch(v, kind, value) {
		return id, true, nil
	}
	// Nobody has the value, or the accounts found show another userName:
	// the new id and whatever its reads linked are forgotten.
	rec, gerr := store.Get(ctx, id)
	if gerr != nil {
		return "", false, gerr
	}
	for t := range rec.Links {
		if _, err := store.Delete(ctx, id, t); err != nil {
			return "", false, err
		}
	}
	return "", false, nil
}

// resolvedMatch reports whether a user resolved for a filter value holds
// it: some target linked, and the built userName (or an e-mail) equal to
// it.
func resolvedMatch(v view, kind, value string) bool {
	linked := false
	for t := range v.rec.Links {
		linked = linked || !strings.HasPrefix(t, "scim:")
	}
	for _, r := range v.reads {
		linked = linked || r.Status == dispatch.ReadOK
	}
	if !linked {
		return false
	}
	f := canonical.FieldUsername
	if kind == "email" {
		f = canonical.FieldEmail
	}
	s, _ := v.cur.Fields[f].(string)
	return strings.EqualFold(s, value)
}

func decodeBody(c *fiber.Ctx) (map[string]any, *Error) {
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.Contains(ct, "json") {
		return nil, errorf(415, "", "Content-Type must be application/scim+json or application/json")
	}
	v, err := decodeValue(c.Body())
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		return nil, errorf(400, "invalidSyntax", "the body must be one JSON object")
	}
	return m, nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func digest(parts ...string) string {
	s := sha256.New()
	for _, p := range parts {
		s.Write([]byte(p))
		s.Write([]byte{0})
	}
	return hex.EncodeToString(s.Sum(nil))[:40]
}

func (h *Handler) createUser(c *fiber.Ctx) error {
	cl, err := h.who(c)
	if err != nil {
		return err
	}
	doc, se := decodeBody(c)
	if se != nil {
		return se
	}
	status, body, err := h.create(c.UserContext(), cl, doc, c.Body(), "")
	if err != nil {
		return err
	}
	if id, _ := body["id"].(string); id != "" {
		c.Set(fiber.HeaderLocation, h.base+"/Users/"+id)
	}
	return h.send(c, status, body)
}

// create is POST /Users. A resend of the same body by the same client
// (after a 5xx) finds the user it created through the scim:create
// pseudo-link and finishes the work instead of answering 409.
//
// opKey is a Bulk operation's idempotency key (see bulk); it replaces the
// body as the create marker's key, and success leaves a scim:created
// marker under it, so a repeated Bulk request answers the same 201 and
// location (its later operations' bulkId references resolve again) and
// writes nothing.
func (h *Handler) create(ctx context.Context, cl Caller, doc map[string]any, raw []byte, opKey string) (int, map[string]any, error) {
	want, se := h.parseUser(doc)
	if se != nil {
		return 0, nil, se
	}
	un := want.userName()
	if un == "" {
		return 0, nil, errorf(400, "invalidValue", "userName is required")
	}
	if err := h.auditReady(ctx); err != nil {
		return 0, nil, err
	}
	store := h.d.Links()
	createKey := digest(cl.Name, string(raw))
	if opKey != "" {
		createKey = digest(cl.Name, "bulk", opKey)
		done, _, ok, err := store.Reverse(ctx, linkCreated, createKey)
		if err != nil {
			return 0, nil, errorf(503, "", "the link store is unavailable")
		}
		if ok {
			// A repeated Bulk request: the user was created; answer it as
			// it is now, writing nothing.
			v, err := h.load(ctx, cl, done)
			if err != nil {
				return 0, nil, err
			}
			return http.StatusCreated, h.resource(done, v.cur), nil
		}
	}
	id, _, resumed, err := store.Reverse(ctx, linkCreate, createKey)
	if err != nil {
		return 0, nil, errorf(503, "", "the link store is unavailable")
	}
	if !resumed {
		if _, _, taken, err := store.Reverse(ctx, linkUserName, strings.ToLower(un)); err != nil {
			return 0, nil, errorf(503, "", "the link store is unavailable")
		} else if taken {
			return 0, nil, errorf(409, "uniqueness", "a user with this userName exists")
		}
		if want.ExternalID != "" {
			if _, _, taken, err := store.Reverse(ctx, linkExternalID, want.ExternalID); err != nil {
				return 0, nil, errorf(503, "", "the link store is unavailable")
			} else if taken {
				return 0, nil, errorf(409, "uniqueness", "a user with this externalId exists")
			}
		}
		id = newID()
		ls := map[string]string{linkUserName: strings.ToLower(un), linkCreate: createKey}
		if want.ExternalID != "" {
			ls[linkExternalID] = want.ExternalID
		}
		_, err := store.Put(ctx, id, links.Change{Links: ls, Source: links.SourceAPI, Client: cl.Name,
			Attributes: links.Attributes{Username: un, Email: want.email()}, Held: encodeHeld(want.Held)})
		var ce *links.ConflictError
		switch {
		case errors.As(err, &ce):
			return 0, nil, errorf(409, "uniqueness", "a user with this "+strings.TrimPrefix(ce.Target, "scim:")+" exists")
		case err != nil:
			return 0, nil, storeRefusal(err)
		}
		h.indexEmail(ctx, cl, id, want.email())
	}
	v, err := h.load(ctx, cl, id)
	if err != nil {
		return 0, nil, err
	}
	created, failed := h.createAccounts(ctx, cl, id, v, want)
	if len(created) > 0 {
		// Read again: the new accounts now answer, and the write below
		// sends them only what the create call could not carry.
		if v, err = h.load(ctx, cl, id); err != nil {
			return 0, nil, err
		}
	}
	results, _ := h.write(ctx, cl, id, "POST", raw, v, state{}, want, nil)
	for t, r := range results {
		if created[t] {
			// The create call wrote the account: nothing left for the
			// update to send is not "skipped" for the caller.
			r.Created = true
			if r.Status == "skipped" || r.Status == "unchanged" {
				r.Status = "applied"
			}
			results[t] = r
		}
	}
	for t, r := range failed {
		results[t] = r
	}
	err = outcome(results, true)
	h.record(ctx, cl, "POST", id, want, results, err)
	if err != nil {
		return 0, nil, err
	}
	// Done: a resend of the same body is now a duplicate (409), not a
	// resume; a Bulk operation's marker stays (see opKey).
	if opKey != "" {
		if _, err := store.Put(ctx, id, links.Change{Links: map[string]string{linkCreated: createKey}, Source: links.SourceAPI, Client: cl.Name}); err != nil {
			h.log.WarnContext(ctx, "scim: storing the Bulk create marker failed", "err", err)
		}
	}
	if _, err := store.Delete(ctx, id, linkCreate); err != nil {
		h.log.WarnContext(ctx, "scim: clearing the create marker failed", "err", err)
	}
	body := h.resource(id, merge(v.cur, want))
	body[SchemaGateway] = map[string]any{"targets": results}
	return http.StatusCreated, body, nil
}

// indexEmail keeps the scim:email pseudo-link for emails.value filters;
// an address another user already has stays indexed to that user.
func (h *Handler) indexEmail(ctx context.Context, cl Caller, id, email string) {
	if email == "" {
		return
	}
	if _, err := h.d.Links().Put(ctx, id, links.Change{Links: map[string]string{linkEmail: strings.ToLower(email)},
		Source: links.SourceAPI, Client: cl.Name}); err != nil {
		h.log.DebugContext(ctx, "scim: e-mail not indexed", "err", err)
	}
}

func (h *Handler) replaceUser(c *fiber.Ctx) error {
	cl, err := h.who(c)
	if err != nil {
		return err
	}
	doc, se := decodeBody(c)
	if se != nil {
		return se
	}
	id := strings.Clone(c.Params("id"))
	body, err := h.replace(c.UserContext(), cl, id, doc, c.Body())
	if err != nil {
		return err
	}
	return h.send(c, 200, body)
}

// replace is PUT: read first, then send each target only what differs
// from what it holds; attributes the request leaves out are not blanked.
func (h *Handler) replace(ctx context.Context, cl Caller, id string, doc map[string]any, raw []byte) (map[string]any, error) {
	v, err := h.load(ctx, cl, id)
	if err != nil {
		return nil, err
	}
	want, se := h.parseUser(doc)
	if se != nil {
		return nil, se
	}
	if want.userName() == "" {
		return nil, errorf(400, "invalidValue", "userName is required")
	}
	return h.update(ctx, cl, id, "PUT", raw, v, want)
}

func (h *Handler) update(ctx context.Context, cl Caller, id, method string, raw []byte, v view, want state) (map[string]any, error) {
	if err := h.auditReady(ctx); err != nil {
		return nil, err
	}
	if err := h.rekey(ctx, cl, id, v, want); err != nil {
		return nil, err
	}
	results, err := h.write(ctx, cl, id, method, raw, v, heldAsPrev(v.cur), want, nil)
	if err != nil {
		return nil, err
	}
	body := h.resource(id, merge(v.cur, want))
	body[SchemaGateway] = map[string]any{"targets": results}
	return body, nil
}

// rekey moves the userName, externalId and e-mail pseudo-links when they
// change, and keeps the held attributes when they do.
func (h *Handler) rekey(ctx context.Context, cl Caller, id string, v view, want state) error {
	ls := map[string]string{}
	if un := strings.ToLower(want.userName()); un != "" && un != v.rec.Links[linkUserName].VendorID {
		ls[linkUserName] = un
	}
	if want.ExternalID != "" && want.ExternalID != v.rec.Links[linkExternalID].VendorID {
		ls[linkExternalID] = want.ExternalID
	}
	var held json.RawMessage
	if want.Held != nil && !sameHeld(v.rec.Held, want.Held) {
		held = encodeHeld(want.Held)
	}
	if len(ls) > 0 || held != nil {
		_, err := h.d.Links().Put(ctx, id, links.Change{Links: ls, Source: links.SourceAPI, Client: cl.Name,
			Attributes: links.Attributes{Username: want.userName(), Email: want.email()}, Held: held})
		var ce *links.ConflictError
		switch {
		case errors.As(err, &ce):
			return errorf(409, "uniqueness", "another user has this "+strings.TrimPrefix(ce.Target, "scim:"))
		case err != nil:
			return errorf(400, "invalidValue", err.Error())
		}
	}
	if e := want.email(); e != "" && strings.ToLower(e) != v.rec.Links[linkEmail].VendorID {
		h.indexEmail(ctx, cl, id, e)
	}
	return nil
}

func (h *Handler) patchUser(c *fiber.Ctx) error {
	cl, err := h.who(c)
	if err != nil {
		return err
	}
	var req patchRequest
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	if err := dec.Decode(&req); err != nil {
		return errorf(400, "invalidSyntax", "the body must be a PatchOp message")
	}
	id := strings.Clone(c.Params("id"))
	body, err := h.patch(c.UserContext(), cl, id, req, c.Body())
	if err != nil {
		return err
	}
	return h.send(c, 200, body)
}

func (h *Handler) patch(ctx context.Context, cl Caller, id string, req patchRequest, raw []byte) (map[string]any, error) {
	if !slices.ContainsFunc(req.Schemas, func(s string) bool { return strings.EqualFold(s, SchemaPatchOp) }) {
		return nil, errorf(400, "invalidSyntax", "schemas must name "+SchemaPatchOp)
	}
	v, err := h.load(ctx, cl, id)
	if err != nil {
		return nil, err
	}
	doc := roundTrip(h.resource(id, v.cur))
	if se := applyPatch(doc, req.Operations); se != nil {
		return nil, se
	}
	want, se := h.parseUser(doc)
	if se != nil {
		return nil, se
	}
	return h.update(ctx, cl, id, "PATCH", raw, v, want)
}

func (h *Handler) deleteUser(c *fiber.Ctx) error {
	cl, err := h.who(c)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	if err := h.remove(c.UserContext(), cl, id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// remove is DELETE: the accounts are deactivated (enabled: false) where
// the target supports it, then the SCIM resource is gone (its userName,
// externalId and e-mail pseudo-links removed, and the links to its SCIM
// targets' accounts, which stay at the vendors deactivated), so GET
// answers 404 and listings leave it out, as Entra requires of a deleted
// user. Links to targets SCIM does not write stay with the canonical id.
func (h *Handler) remove(ctx context.Context, cl Caller, id string) error {
	v, err := h.load(ctx, cl, id)
	if err != nil {
		return err
	}
	if err := h.auditReady(ctx); err != nil {
		return err
	}
	want := state{Fields: map[canonical.Field]any{canonical.FieldEnabled: false}}
	hard := map[string]bool{}
	for _, t := range h.cfg.HardDelete {
		if (cl.AllowedTargets == nil || slices.Contains(cl.AllowedTargets, t)) && h.d.CanDelete(t) && v.reads[t].Status != dispatch.ReadNotLinked {
			hard[t] = true
		}
	}
	results, _ := h.write(ctx, cl, id, "DELETE", nil, v, v.cur, want, hard)
	for t := range hard {
		vid, err := h.d.Delete(ctx, t, id)
		tr := TargetResult{Status: "deleted", VendorID: vid}
		if err != nil {
			tr = TargetResult{Status: "failed", VendorID: vid, Error: result.NewErrorBody(canonical.AsError(err))}
		}
		results[t] = tr
	}
	err = outcome(results, false)
	h.record(ctx, cl, "DELETE", id, want, results, err)
	if err != nil {
		return err
	}
	// Read again: the write may have linked accounts it resolved.
	rec, err := h.d.Links().Get(ctx, id)
	if err != nil {
		return errorf(503, "", "the accounts were deactivated, but the link store is unavailable")
	}
	unlink := []string{linkUserName, linkExternalID, linkEmail, linkCreate, linkCreated}
	for _, t := range h.cfg.Targets {
		if _, ok := rec.Links[t]; ok && !hard[t] {
			unlink = append(unlink, t)
		}
	}
	for _, l := range unlink {
		if _, err := h.d.Links().Delete(ctx, id, l); err != nil {
			return errorf(503, "", "the accounts were deactivated, but the link store is unavailable")
		}
	}
	if rec.Held != nil {
		// The resource is gone: so are the attributes kept for it.
		if _, err := h.d.Links().Put(ctx, id, links.Change{Source: links.SourceAPI, Client: cl.Name, Held: encodeHeld(nil)}); err != nil {
			h.log.WarnContext(ctx, "scim: clearing the held attributes failed", "err", err)
		}
	}
	return nil
}

// write sends every SCIM target what differs between want and what it
// holds (its read, or prev for a field it cannot read), each target as its
// own dispatcher update so it carries only its own changes. Each update's
// Idempotency-Key is derived from the client, the request and the state
// read before it: an identical resend while the first is running waits for
// it, and a resend after it finds nothing left to change.
func (h *Handler) write(ctx context.Context, cl Caller, id, method string, raw []byte, v view, prev, want state, skip map[string]bool) (map[string]TargetResult, error) {
	caps := h.d.Capabilities()
	results := make(map[string]TargetResult, len(h.cfg.Targets))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	key := digest(cl.Name, method, id, string(raw), v.etag)
	for _, t := range h.cfg.Targets {
		if skip[t] || (cl.AllowedTargets != nil && !slices.Contains(cl.AllowedTargets, t)) {
			continue
		}
		u, ext, skipped := h.diff(caps[t], t, v.reads[t], prev, want)
		if len(u.Fields()) == 0 && len(ext) == 0 {
			st := "unchanged"
			if len(skipped) > 0 {
				st = "skipped"
			}
			mu.Lock()
			results[t] = TargetResult{Status: st, VendorID: v.reads[t].VendorID, Skipped: skipped}
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := h.apply(ctx, cl, id, t, key+"-"+t, u, ext)
			tr.Skipped = append(tr.Skipped, skipped...)
			mu.Lock()
			results[t] = tr
			mu.Unlock()
		}()
	}
	wg.Wait()
	if method == "POST" || method == "DELETE" {
		// The caller adds what it did itself (creates, hard deletes)
		// before deciding and recording the outcome.
		return results, nil
	}
	err := outcome(results, false)
	h.record(ctx, cl, method, id, want, results, err)
	return results, err
}

func (h *Handler) apply(ctx context.Context, cl Caller, id, t, key string, u canonical.Update, ext map[string]json.RawMessage) TargetResult {
	req := canonical.Request{UserID: id, Targets: []string{t}, OnUnsupported: canonical.PolicySkip, User: u}
	if len(ext) > 0 {
		req.Extensions = map[string]map[string]json.RawMessage{t: ext}
	}
	in := dispatch.Input{Client: cl.Name, AllowedTargets: cl.AllowedTargets, AllowedFields: cl.AllowedFields, Key: key,
		Method: http.MethodPatch, Path: "/scim/v2/Users/" + id, Request: req}
	if err := req.Validate(); err != nil {
		return TargetResult{Status: "failed", Error: result.NewErrorBody(canonical.AsError(err))}
	}
	out, err := h.d.Apply(ctx, in)
	if err != nil {
		e := canonical.AsError(err)
		st := "failed"
		if e.Code == canonical.CodeNotLinked {
			st = "not_linked"
		}
		return TargetResult{Status: st, Error: result.NewErrorBody(e)}
	}
	res := out.Result
	if res == nil {
		var r result.Result
		if err := json.Unmarshal(out.Body, &r); err != nil {
			return TargetResult{Status: "failed", Error: &result.ErrorBody{Code: canonical.CodeInternal, Message: "unreadable stored result"}}
		}
		res = &r
	}
	r := res.Results[t]
	tr := TargetResult{Status: string(r.Status), VendorID: r.VendorID, Applied: r.Applied, Error: r.Error, Replayed: out.Replayed || r.Replayed}
	for _, f := range res.SkippedFields[t] {
		tr.Skipped = append(tr.Skipped, string(f))
	}
	return tr
}

// diff is one target's minimal update.
func (h *Handler) diff(caps adapters.Capabilities, t string, r dispatch.TargetRead, prev, want state) (canonical.Update, map[string]json.RawMessage, []string) {
	var (
		u       canonical.Update
		skipped []string
	)
	have := func(f canonical.Field) (any, bool) {
		if r.Status == dispatch.ReadOK && r.Snapshot != nil && caps.Fields[f].Readable {
			v, ok := r.Snapshot.Fields[f]
			return v.Value, ok
		}
		v, ok := prev.Fields[f]
		return v, ok
	}
	for _, f := range defaultFields {
		w, ok := want.Fields[f]
		if !ok {
			continue
		}
		if hv, ok := have(f); ok && same(f, hv, w) {
			continue
		}
		if !caps.Fields[f].Supported {
			skipped = append(skipped, string(f))
			continue
		}
		setField(&u, f, w)
	}
	if want.Password != "" {
		if caps.Fields[canonical.FieldPassword].Supported {
			u.Password = canonical.Some(canonical.Password{New: canonical.Secret(want.Password)})
		} else {
			skipped = append(skipped, string(canonical.FieldPassword))
		}
	}
	if len(want.Meta) > 0 {
		var held canonical.Metadata
		if r.Status == dispatch.ReadOK && r.Snapshot != nil && caps.Fields[canonical.FieldMetadata].Readable {
			held, _ = r.Snapshot.Fields[canonical.FieldMetadata].Value.(canonical.Metadata)
		} else {
			held = canonical.Metadata(prev.Meta)
		}
		md := canonical.Metadata{}
		for k, w := range want.Meta {
			if hv, ok := held[k]; !ok || fmt.Sprint(hv) != fmt.Sprint(w) {
				md[k] = w
			}
		}
		if len(md) > 0 {
			if caps.Fields[canonical.FieldMetadata].Supported {
				u.Metadata = canonical.Some(md)
			} else {
				skipped = append(skipped, string(canonical.FieldMetadata))
			}
		}
	}
	var ext map[string]json.RawMessage
	for k, w := range want.Ext[t] {
		if fmt.Sprint(prev.Ext[t][k]) == fmt.Sprint(w) {
			continue
		}
		if !caps.AllowsExtension(k) {
			skipped = append(skipped, "extensions."+t+"."+k)
			continue
		}
		b, _ := json.Marshal(w)
		if ext == nil {
			ext = map[string]json.RawMessage{}
		}
		ext[k] = b
	}
	return u, ext, skipped
}

// outcome decides the response of a fan-out (README, SCIM 2.0): every
// target applied, unchanged or skipped answers the resource; a target that
// failed in a way a retry can fix (a vendor outage, a timeout, an open
// breaker, a rate limit, a key in progress) answers 503 (502 for a vendor
// error) with every target's result, so the identity provider resends the
// same request and only what is still missing is written. A refusal no
// retry fixes (not linked, a vendor rejecting the value) is reported in
// the resource's gateway extension when another target applied, and as
// the error when none did.
//
// A create never fails for a refusal: the user exists from then on, and
// the 201 lists, per target, what could not be done.
func outcome(results map[string]TargetResult, create bool) error {
	var retry, refused []string
	ok := 0
	for _, t := range sortedStrings(mapsKeysTR(results)) {
		r := results[t]
		switch r.Status {
		case "applied", "unchanged", "skipped", "planned", "deleted":
			ok++
		default:
			if r.Error != nil && retryable(r.Error.Code) {
				retry = append(retry, t)
			} else {
				refused = append(refused, t)
			}
		}
	}
	switch {
	case len(retry) > 0:
		e := &Error{Status: 503, Detail: "some targets failed and may succeed on a retry: " + strings.Join(retry, ", ") + "; resend the same request", Targets: results, RetryAfter: 1}
		for _, t := range retry {
			if c := results[t].Error.Code; c == canonical.CodeUpstreamError || c == canonical.CodeUpstreamUnavailable {
				e.Status = 502
			}
		}
		return e
	case len(refused) > 0 && ok == 0 && !create:
		e := &Error{Status: 400, Detail: "no target took the change: " + strings.Join(refused, ", "), Targets: results}
		if c := results[refused[0]].Error; c != nil {
			e.Status = c.Code.HTTPStatus()
			if c.Code == canonical.CodeNotLinked {
				e.Status = 404
			}
		}
		return e
	}
	return nil
}

// same compares a held value with a wanted one; e-mail addresses compare
// case-insensitively (Frontier stores them lowercase).
func same(f canonical.Field, have, want any) bool {
	if f == canonical.FieldEmail {
		hs, _ := have.(string)
		ws, _ := want.(string)
		return strings.EqualFold(hs, ws)
	}
	return reflect.DeepEqual(have, want)
}

func mapsKeysTR(m map[string]TargetResult) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func retryable(c canonical.Code) bool {
	switch c {
	case canonical.CodeUpstreamUnavailable, canonical.CodeUpstreamTimeout, canonical.CodeUpstreamError,
		canonical.CodeCircuitOpen, canonical.CodeRateLimited, canonical.CodeIdempotencyInProgress,
		canonical.CodeIdempotencyUnavailable, canonical.CodeAccountBusy:
		return true
	}
	return false
}

// setField sets one of the canonical fields SCIM maps (enabled and the
// string fields) on u from its state value.
func setField(u *canonical.Update, f canonical.Field, v any) {
	switch f {
	case canonical.FieldEnabled:
		u.Enabled = canonical.Some(v.(bool))
	case canonical.FieldUsername:
		u.Username = canonical.Some(v.(string))
	case canonical.FieldEmail:
		u.Email = canonical.Some(v.(string))
	case canonical.FieldGivenName:
		u.GivenName = canonical.Some(v.(string))
	case canonical.FieldFamilyName:
		u.FamilyName = canonical.Some(v.(string))
	case canonical.FieldDisplayName:
		u.DisplayName = canonical.Some(v.(string))
	}
}
