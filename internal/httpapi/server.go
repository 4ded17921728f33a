package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/decode"
	canonicalproblem "github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/auth"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// Client is one authenticated API client and what it may do.
type Client struct {
	Name string
	// KeyHash is the SHA-256 of the client's API key.
	KeyHash [32]byte
	// Targets the client may write (nil: all) and Fields it may change (nil: all).
	Targets []string
	Fields  []string
	// RateLimit is requests per RateWindow; 0 disables the limit.
	RateLimit  int
	RateWindow time.Duration

	// NextKeyHash is a second key accepted during a rotation (zero: none;
	// a zero KeyHash likewise means the client has no API key). KeyExpires,
	// when set, is when KeyHash should be retired.
	NextKeyHash [32]byte
	KeyExpires  time.Time
	// OIDCSubject matches the token's client claim; TokenTargets and
	// TokenPermissions bound what a token's scopes can grant (nil: no bound).
	OIDCSubject                    string
	TokenTargets, TokenPermissions []string
	// CertSubject and CertSANs match a client certificate.
	CertSubject string
	CertSANs    []string
	// Permissions beyond writing users (audit, links, scim);
	// AllPermissions is the anonymous client of auth mode none.
	Permissions    []string
	AllPermissions bool
}

// Observer receives request metrics.
type Observer interface {
	Request(ctx context.Context, route, outcome string, status int, d time.Duration)
}

// Options configures the HTTP API.
type Options struct {
	Dispatcher *dispatch.Dispatcher
	// AuthNone lets every request in as the client "anonymous" with no
	// restrictions (gateway dev); otherwise Clients are checked.
	AuthNone bool
	Clients  []Client
	// BodyLimit in bytes; ReadTimeout, WriteTimeout, IdleTimeout and
	// MaxHeaderBytes bound what one client can hold.
	BodyLimit                              int
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                         int
	// Ready reports readiness (store reachable); nil means ready.
	Ready func(ctx context.Context) error
	// Vendors, when set, is what /readyz?verbose=1 lists under "vendors":
	// each vendor's breaker state and last call, read from memory (never a
	// vendor call).
	Vendors func() any
	// StoreStatus, when set, adds the idempotency store's state to /readyz
	// under "store"; degraded (keyed requests refused after the store lost
	// its data) answers 200 with status "degraded": unkeyed requests still
	// work, so the replica stays in rotation.
	StoreStatus func(ctx context.Context) (status any, degraded bool)
	// Metrics serves /metrics when set.
	Metrics        http.Handler
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	Logger         *slog.Logger
	Observer       Observer
	// RateLimiter keeps per-client rate limits across replicas (Redis); nil
	// keeps them per replica. When it fails or takes longer than
	// RateLimitTimeout (default 50ms), the replica's own budgets decide.
	RateLimiter      RateLimiter
	RateLimitTimeout time.Duration
	// OpenAPI is the API description as JSON, served at /openapi.json when
	// set (converted from api/openapi.yaml once, at start).
	OpenAPI []byte
	// Docs is the HTML page served at /docs when set: it renders the
	// description inlined in it, and its Content-Security-Policy forbids
	// every fetch.
	Docs []byte
	// LinkObserver counts link conflicts refused by the links API; optional.
	LinkObserver dispatch.LinkObserver
	// AuthModes are the accepted methods: api_key, oidc, mtls (nil:
	// api_key). OIDC verifies JWTs when oidc is on.
	AuthModes []string
	OIDC      *auth.OIDC
	// Audit records every write and dry run (nil: no trail); AuditValues
	// is how e-mail and name values are kept.
	Audit       AuditTrail
	AuditValues audit.ValuePolicy
	// Now is the clock (key expiry notices); nil is time.Now.
	Now func() time.Time
	// BatchMaxItems bounds the updates of one POST /v1/users:batch
	// (default 1000); BatchConcurrency is how many of them run at once
	// (default 8).
	BatchMaxItems, BatchConcurrency int
	// SCIM serves /scim/v2 when set (internal/httpapi/scim).
	SCIM SCIMRoutes
}

type server struct {
	o      Options
	tracer trace.Tracer
	// serverSpan starts a server span: a kept slice, since one option
	// passed to the (interface) Start allocates its slice on every call.
	serverSpan []trace.SpanStartOption
	auth       *authState
	// anonymous is auth mode none's client, one for every request: it is
	// only read, and a fresh one cost an allocation per request.
	anonymous *Client
	// passThrough maps target -> the header carrying a caller's credential
	// for it; the targets are fixed once the dispatcher is built.
	passThrough map[string]string
}

// buildApp builds the Fiber app; NewServer wraps it, so no caller outside
// this package names Fiber.
func buildApp(o Options) *fiber.App {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
	if o.Propagator == nil {
		o.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = 2 << 20
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 16 << 10
	}
	s := &server{o: o, tracer: o.TracerProvider.Tracer("github.com/identity-gateway/identity-gateway/internal/httpapi"),
		serverSpan: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)},
		auth:       &authState{notified: map[string]time.Time{}},
		anonymous:  &Client{Name: "anonymous", AllPermissions: true}}
	if o.Dispatcher != nil {
		s.passThrough = o.Dispatcher.PassThroughHeaders()
	}
	app := fiber.New(fiber.Config{
		AppName:               "identity-gateway",
		BodyLimit:             o.BodyLimit,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		IdleTimeout:           o.IdleTimeout,
		ReadBufferSize:        o.MaxHeaderBytes,
		DisableStartupMessage: true,
		StrictRouting:         true,
		ErrorHandler:          s.errorHandler,
	})
	app.Use(s.telemetry)
	app.Get("/healthz", strictQuery, func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", strictQuery, s.readyz)
	if o.Metrics != nil {
		app.Get("/metrics", strictQuery, adaptor.HTTPHandler(o.Metrics))
	}
	if o.OpenAPI != nil {
		app.Get("/openapi.json", func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(o.OpenAPI)
		})
	}
	if o.Docs != nil {
		app.Get("/docs", func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
			c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
			return c.Send(o.Docs)
		})
	}
	v1 := app.Group("/v1", s.authenticate)
	v1.Get("/capabilities", strictQuery, s.capabilities)
	rl := s.rateLimit()
	s.linkRoutes(v1, rl)
	if h := rl; h != nil {
		// The colon of /users:batch is escaped: unescaped it would start a
		// parameter. Registered before /users/:id, which it never matches
		// anyway (no slash after "users").
		v1.Post("/users\\:batch", strictQuery, h, s.batchUsers)
		v1.Patch("/users/:id", strictQuery, h, s.patchUser)
		// getUser checks its own query (targets, vendor_ids.<target>).
		v1.Get("/users/:id", h, s.getUser)
	} else {
		v1.Post("/users\\:batch", strictQuery, s.batchUsers)
		v1.Patch("/users/:id", strictQuery, s.patchUser)
		v1.Get("/users/:id", s.getUser)
	}
	if o.Audit != nil && o.Audit.Queryable() {
		v1.Get("/audit", strictQuery, s.getAudit)
	}
	if o.SCIM != nil {
		s.mountSCIM(app, rl)
	}
	// No catch-all route: a request no route takes falls through to Fiber's
	// own 404, or 405 with Allow when another method has the path.
	s.guardServer(app)
	return app
}

// queryParams lists the query parameters each route defines (by its route
// pattern). strictQuery refuses every other one, so a misspelt option (say
// ?DRY_RUN=true) is never silently ignored. A route that gains a parameter
// adds it here.
func queryParams(route string) []string {
	switch route {
	case "/v1/users/:id":
		return []string{"dry_run"}
	case "/v1/users\\:batch", "/v1/users:batch":
		return []string{"dry_run"}
	case "/readyz":
		return []string{"verbose"}
	case "/v1/links":
		return []string{"target", "vendor_id"}
	case "/v1/audit":
		return []string{"user", "client", "since", "until", "limit", "cursor"}
	}
	return nil
}

// strictQuery refuses (400) a query parameter the matched route does not
// define, a name given twice, and an empty name. It runs as each route's
// first handler, where the route is known.
func strictQuery(c *fiber.Ctx) error {
	args := c.Request().URI().QueryArgs()
	if args.Len() == 0 {
		return c.Next()
	}
	allowed := queryParams(c.Route().Path)
	var fe canonical.FieldErrors
	var seen []string
	args.VisitAll(func(k, _ []byte) {
		name := string(k)
		switch {
		case name == "":
			fe.Add("(query)", "a query parameter has an empty name")
		case !slices.Contains(allowed, name):
			if len(allowed) == 0 {
				fe.Add(printableName(name), "unknown query parameter: %s takes none", documentedRoute(c.Route().Path))
			} else {
				msg := "unknown query parameter: " + documentedRoute(c.Route().Path) + " takes only " + strings.Join(allowed, ", ")
				if s := decode.Suggest(name, allowed); s != "" {
					msg += "; did you mean " + s + "?"
				}
				fe.Add(printableName(name), "%s", msg)
			}
		case slices.Contains(seen, name):
			fe.Add(name, "must be given once")
		}
		seen = append(seen, name)
	})
	if len(fe) > 0 {
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "invalid query string; nothing was done", Fields: fe}
	}
	return c.Next()
}

// printableName bounds a caller's parameter name for an error message.
func printableName(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "?")
}

func (s *server) readyz(c *fiber.Ctx) error {
	body := fiber.Map{"status": "ready"}
	if c.QueryBool("verbose") && s.o.Vendors != nil {
		body["vendors"] = s.o.Vendors()
	}
	if s.o.Ready != nil {
		if err := s.o.Ready(c.UserContext()); err != nil {
			body["status"], body["reason"] = "unavailable", err.Error()
			if s.o.StoreStatus != nil {
				body["store"], _ = s.o.StoreStatus(c.UserContext())
			}
			return c.Status(http.StatusServiceUnavailable).JSON(body)
		}
	}
	if s.o.StoreStatus != nil {
		st, degraded := s.o.StoreStatus(c.UserContext())
		body["store"] = st
		if degraded {
			body["status"] = "degraded"
		}
	}
	return c.JSON(body)
}

// capabilityDoc is GET /v1/capabilities.
type capabilityDoc struct {
	Fields  []canonical.Field `json:"fields"`
	Targets any               `json:"targets"`
}

func (s *server) capabilities(c *fiber.Ctx) error {
	return c.JSON(capabilityDoc{Fields: canonical.AllFields(), Targets: s.o.Dispatcher.Capabilities()})
}

const clientKey = "gateway.client"

// authenticate identifies the client: an API key or a JWT in
// Authorization: Bearer, or a client certificate (authn.go).
func (s *server) authenticate(c *fiber.Ctx) error {
	if s.o.AuthNone {
		c.Locals(clientKey, s.anonymous)
		c.Locals(authMethodKey, MethodNone)
		return c.Next()
	}
	return s.authenticateAny(c)
}

// passThroughOf collects the callers' credentials for the targets that
// accept one; nil when the request carries none.
func (s *server) passThroughOf(c *fiber.Ctx) map[string]canonical.Secret {
	var pass map[string]canonical.Secret
	for target, header := range s.passThrough {
		if v := c.Get(header); v != "" {
			if pass == nil {
				pass = map[string]canonical.Secret{}
			}
			pass[target] = canonical.Secret(strings.Clone(v))
		}
	}
	return pass
}

func (s *server) patchUser(c *fiber.Ctx) error {
	cl, _ := c.Locals(clientKey).(*Client)
	if cl == nil {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "not authenticated"}
	}
	if err := checkJSON(c.Get(fiber.HeaderContentType)); err != nil {
		return err
	}
	dry, err := parseDryRun(c)
	if err != nil {
		return err
	}
	idemKey, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	body := bytes.Clone(c.Body())
	req, err := decode.Request(body, id)
	if err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	in := dispatch.Input{
		Client:         cl.Name,
		AllowedTargets: cl.Targets,
		AllowedFields:  cl.Fields,
		Key:            idemKey,
		Method:         http.MethodPatch,
		Path:           "/v1/users/" + id,
		Request:        req,
		DryRun:         dry,
		IfMatch:        strings.Clone(c.Get(fiber.HeaderIfMatch)),
	}
	in.PassThrough = s.passThroughOf(c)
	if err := s.auditReady(c); err != nil {
		return err
	}
	out, err := s.o.Dispatcher.Apply(c.UserContext(), in)
	if err != nil {
		return err
	}
	s.auditWrite(c, cl, in, &out)
	c.Locals(outputKey, &out)
	if out.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(canonicalproblem.RetryAfterSeconds(out.RetryAfter)))
	}
	if out.Replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(out.Status).Send(out.Body)
}

const outputKey = "gateway.output"

func checkJSON(ct string) error {
	if ct == "application/json" {
		// What nearly every client sends, and what ParseMediaType would
		// accept: without its parameter map (BenchmarkCheckJSON).
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return &canonical.Error{Code: canonical.CodeUnsupportedMediaType, Message: "Content-Type must be application/json (or a +json type)"}
	}
	// JSON is UTF-8 (RFC 8259 section 8.1): a body declared in another
	// charset would be read as something its sender did not mean.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &canonical.Error{Code: canonical.CodeUnsupportedMediaType, Message: "Content-Type charset must be utf-8, not " + strconv.Quote(cs)}
	}
	return nil
}

// parseDryRun accepts exactly dry_run=true and dry_run=false (strictQuery
// has refused a repeat): a bare ?dry_run, an empty value, 1 or TRUE could
// each be read either way, and the wrong reading writes.
func parseDryRun(c *fiber.Ctx) (bool, error) {
	args := c.Request().URI().QueryArgs()
	if !args.Has("dry_run") {
		return false, nil
	}
	switch string(args.Peek("dry_run")) {
	case "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "dry_run must be true or false; nothing was written",
		Fields: []canonical.FieldError{{Field: "dry_run", Message: "must be exactly true or false"}}}
}

// idempotencyKey returns the Idempotency-Key header ("" when absent). An
// empty key, or two, is refused: read as "no key" they would let a resend
// write twice.
func idempotencyKey(c *fiber.Ctx) (string, error) {
	keys := c.Request().Header.PeekAll("Idempotency-Key")
	switch {
	case len(keys) == 0:
		return "", nil
	case len(keys) > 1:
		return "", &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "invalid Idempotency-Key",
			Fields: []canonical.FieldError{{Field: "Idempotency-Key", Message: "must be sent once"}}}
	case len(bytes.TrimSpace(keys[0])) == 0:
		return "", &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "invalid Idempotency-Key",
			Fields: []canonical.FieldError{{Field: "Idempotency-Key", Message: "must not be empty (omit the header to send no key)"}}}
	}
	return string(keys[0]), nil
}

// errorHandler renders every error as RFC 9457 problem+json.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	if s.o.SCIM != nil && isSCIMPath(c.Path()) {
		if fe := (*fiber.Error)(nil); errors.As(err, &fe) {
			err = fromFiber(fe)
		}
		if e := canonical.AsError(err); e.Code == canonical.CodeUnauthorized {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="identity-gateway"`)
		}
		return s.o.SCIM.WriteError(c, err)
	}
	var e *canonical.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
	case errors.As(err, &fe):
		e = fromFiber(fe)
		switch fe.Code {
		case http.StatusNotFound:
			e.Message = "no such route: " + c.Method() + " " + c.Path()
		case http.StatusMethodNotAllowed:
			e.Message = "method " + c.Method() + " is not allowed on this route (Allow: " + string(c.Response().Header.Peek(fiber.HeaderAllow)) + ")"
		}
	default:
		s.o.Logger.ErrorContext(c.UserContext(), "unhandled error", "err", err)
		e = &canonical.Error{Code: canonical.CodeInternal, Message: "internal error"}
	}
	p := canonicalproblem.New(e)
	p.Instance = strings.Clone(c.Path())
	if sc := trace.SpanContextFromContext(c.UserContext()); sc.HasTraceID() {
		p.TraceID = sc.TraceID().String()
	}
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(canonicalproblem.RetryAfterSeconds(e.RetryAfter)))
	}
	if e.Code == canonical.CodeUnauthorized {
		challenge, _ := c.Locals(challengeKey).(string)
		if challenge == "" {
			challenge = `Bearer realm="identity-gateway"`
		}
		c.Set(fiber.HeaderWWWAuthenticate, challenge)
	}
	c.Locals(problemKey, e)
	c.Set(fiber.HeaderContentType, canonicalproblem.ContentType)
	return c.Status(p.Status).Send(p.JSON())
}

const problemKey = "gateway.problem"

func fromFiber(fe *fiber.Error) *canonical.Error {
	switch fe.Code {
	case http.StatusRequestEntityTooLarge:
		return &canonical.Error{Code: canonical.CodePayloadTooLarge, Message: "the request body is larger than the limit"}
	case http.StatusMethodNotAllowed:
		return &canonical.Error{Code: canonical.CodeMethodNotAllowed, Message: "method not allowed"}
	case http.StatusNotFound:
		return &canonical.Error{Code: canonical.CodeNotFound, Message: "not found"}
	case http.StatusTooManyRequests:
		return &canonical.Error{Code: canonical.CodeRateLimited, Message: "rate limit exceeded"}
	case http.StatusRequestTimeout:
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "request timed out"}
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: fe.Message}
	}
	return &canonical.Error{Code: canonical.CodeInternal, Message: "internal error"}
}
