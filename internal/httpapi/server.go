package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/identity-gateway/identity-gateway/canonical"
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
	// Links grants the identity-link API (permission "links").
	Links bool
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
	// Metrics serves /metrics when set.
	Metrics        http.Handler
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	Logger         *slog.Logger
	Observer       Observer
	// LimiterStorage backs per-client rate limits (Redis across replicas);
	// nil keeps counters in memory.
	LimiterStorage fiber.Storage
	// LinkObserver counts link conflicts refused by the links API; optional.
	LinkObserver dispatch.LinkObserver
}

type server struct {
	o      Options
	tracer trace.Tracer
}

// New builds the Fiber app.
func New(o Options) *fiber.App {
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
	s := &server{o: o, tracer: o.TracerProvider.Tracer("github.com/identity-gateway/identity-gateway/internal/httpapi")}
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
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.readyz)
	if o.Metrics != nil {
		app.Get("/metrics", adaptor.HTTPHandler(o.Metrics))
	}
	v1 := app.Group("/v1", s.authenticate)
	v1.Get("/capabilities", s.capabilities)
	rl := s.rateLimit()
	s.linkRoutes(v1, rl)
	if h := rl; h != nil {
		v1.Patch("/users/:id", h, s.patchUser)
	} else {
		v1.Patch("/users/:id", s.patchUser)
	}
	app.Use(func(c *fiber.Ctx) error {
		return &canonical.Error{Code: canonical.CodeNotFound, Message: "no such route: " + c.Method() + " " + c.Path()}
	})
	return app
}

func (s *server) readyz(c *fiber.Ctx) error {
	if s.o.Ready != nil {
		if err := s.o.Ready(c.UserContext()); err != nil {
			return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "reason": err.Error()})
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
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

// authenticate checks Authorization: Bearer <key> against the clients'
// SHA-256 hashes in constant time.
func (s *server) authenticate(c *fiber.Ctx) error {
	if s.o.AuthNone {
		c.Locals(clientKey, &Client{Name: "anonymous", Links: true})
		return c.Next()
	}
	h := c.Get(fiber.HeaderAuthorization)
	key, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || key == "" {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "an API key is required: Authorization: Bearer <key>"}
	}
	sum := sha256.Sum256([]byte(key))
	var found *Client
	for i := range s.o.Clients {
		// Compare against every client, so timing does not reveal which
		// position (if any) matched.
		if subtle.ConstantTimeCompare(sum[:], s.o.Clients[i].KeyHash[:]) == 1 {
			found = &s.o.Clients[i]
		}
	}
	if found == nil {
		return &canonical.Error{Code: canonical.CodeUnauthorized, Message: "the API key is not valid"}
	}
	c.Locals(clientKey, found)
	return c.Next()
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
	id := strings.Clone(c.Params("id"))
	body := bytes.Clone(c.Body())
	req, err := canonical.Decode(body, id)
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
		Key:            strings.Clone(c.Get("Idempotency-Key")),
		Method:         http.MethodPatch,
		Path:           "/v1/users/" + id,
		Request:        req,
		DryRun:         dry,
	}
	for target, header := range s.o.Dispatcher.PassThroughHeaders() {
		if v := c.Get(header); v != "" {
			if in.PassThrough == nil {
				in.PassThrough = map[string]canonical.Secret{}
			}
			in.PassThrough[target] = canonical.Secret(strings.Clone(v))
		}
	}
	out, err := s.o.Dispatcher.Apply(c.UserContext(), in)
	if err != nil {
		return err
	}
	c.Locals(outputKey, &out)
	if out.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(canonical.RetryAfterSeconds(out.RetryAfter)))
	}
	if out.Replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(out.Status).Send(out.Body)
}

const outputKey = "gateway.output"

func checkJSON(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return &canonical.Error{Code: canonical.CodeUnsupportedMediaType, Message: "Content-Type must be application/json"}
	}
	return nil
}

func parseDryRun(c *fiber.Ctx) (bool, error) {
	v := c.Query("dry_run")
	switch v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "dry_run must be true or false",
		Fields: []canonical.FieldError{{Field: "dry_run", Message: "must be true or false"}}}
}

// errorHandler renders every error as RFC 9457 problem+json.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	var e *canonical.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
	case errors.As(err, &fe):
		e = fromFiber(fe)
	default:
		s.o.Logger.ErrorContext(c.UserContext(), "unhandled error", "err", err)
		e = &canonical.Error{Code: canonical.CodeInternal, Message: "internal error"}
	}
	p := canonical.NewProblem(e)
	p.Instance = strings.Clone(c.Path())
	if sc := trace.SpanContextFromContext(c.UserContext()); sc.HasTraceID() {
		p.TraceID = sc.TraceID().String()
	}
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(canonical.RetryAfterSeconds(e.RetryAfter)))
	}
	if e.Code == canonical.CodeUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="identity-gateway"`)
	}
	c.Locals(problemKey, e)
	c.Set(fiber.HeaderContentType, canonical.ProblemContentType)
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
