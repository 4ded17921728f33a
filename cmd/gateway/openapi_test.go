package main

// TestOpenAPIContract keeps api/openapi.yaml and the running gateway equal:
// it starts the real gateway (simulators, memory store, client keys on),
// sends requests that reach every route and every canonical error code, and
// validates each request and answer with kin-openapi's openapi3filter. It
// fails when a route the Fiber app registers is missing from the
// description, when a code in package canonical is missing (or has another
// status), or when an answer does not match.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	identitygateway "github.com/identity-gateway/identity-gateway"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/httpapi"
)

const specPath = "../../api/openapi.yaml"

// uncoverable lists the canonical codes no request from outside can cause,
// with why; every other code needs a live case below.
var uncoverable = map[canonical.Code]string{
	canonical.CodeInternal: "raised only for a fault in the gateway itself (an adapter error without a code); no input reaches it",
}

// loadSpec parses and validates api/openapi.yaml.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		t.Fatalf("%s: %v", specPath, err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("%s: openapi %q, want 3.1", specPath, doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s does not validate: %v", specPath, err)
	}
	return doc
}

// canonicalCodes reads every constant of type Code declared in package
// canonical, so a code added there without a spec entry fails this test.
func canonicalCodes(t *testing.T) []canonical.Code {
	t.Helper()
	files, err := filepath.Glob("../../canonical/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []canonical.Code
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for _, v := range vs.Values {
					if bl, ok := v.(*ast.BasicLit); ok && bl.Kind == token.STRING {
						s, _ := strconv.Unquote(bl.Value)
						out = append(out, canonical.Code(s))
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no Code constants found in package canonical")
	}
	return out
}

func TestOpenAPIEmbeddedIsTheFile(t *testing.T) {
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, identitygateway.OpenAPI) {
		t.Fatal("the embedded OpenAPI differs from api/openapi.yaml")
	}
	j, err := openAPIJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(j)
	if err != nil {
		t.Fatalf("/openapi.json does not load: %v", err)
	}
	if doc.Paths.Find("/v1/users/{id}") == nil {
		t.Fatal("/openapi.json lacks /v1/users/{id}")
	}
}

// TestOpenAPICodes checks the Code schema against package canonical: every
// code listed, with its status and title, and nothing stale.
func TestOpenAPICodes(t *testing.T) {
	doc := loadSpec(t)
	codeSchema := doc.Components.Schemas["Code"].Value
	table, _ := codeSchema.Extensions["x-codes"].(map[string]any)
	codes := canonicalCodes(t)
	for _, c := range codes {
		t.Run(string(c), func(t *testing.T) {
			if !slices.Contains(codeSchema.Enum, any(string(c))) {
				t.Errorf("Code enum lacks %q", c)
			}
			row, _ := table[string(c)].(map[string]any)
			if row == nil {
				t.Fatalf("x-codes lacks %q", c)
			}
			if st, _ := row["status"].(float64); int(st) != c.HTTPStatus() {
				t.Errorf("x-codes %s status %v, the code's is %d", c, row["status"], c.HTTPStatus())
			}
			if row["title"] != c.Title() {
				t.Errorf("x-codes %s title %q, the code's is %q", c, row["title"], c.Title())
			}
			// A problem with this code must fit the problem schema of its
			// status, which every operation answering it refers to.
			name := fmt.Sprintf("Problem%d", c.HTTPStatus())
			ps := doc.Components.Schemas[name]
			if ps == nil {
				t.Fatalf("no schema %s for %s", name, c)
			}
			p := problem.New(&canonical.Error{Code: c, Message: "m"})
			var v any
			_ = json.Unmarshal(p.JSON(), &v)
			if err := ps.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("a %s problem does not fit %s: %v", c, name, err)
			}
		})
	}
	// docs/api.md's codes table says the same.
	guide, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if row := fmt.Sprintf("| `%s` | %d |", c, c.HTTPStatus()); !bytes.Contains(guide, []byte(row)) {
			t.Errorf("docs/api.md's codes table lacks the row %q", row)
		}
	}
	for _, e := range codeSchema.Enum {
		if !slices.Contains(codes, canonical.Code(fmt.Sprint(e))) {
			t.Errorf("Code enum lists %v, which package canonical does not define", e)
		}
	}
}

// contract is the running gateways, the description and what the cases saw.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	sims   *simSet
	opts   *openapi3filter.Options

	mu    sync.Mutex
	codes map[canonical.Code][]string // code -> cases that produced it
	ops   map[string]bool             // "METHOD /path" of the spec exercised
	sent  int                         // exchanges validated
}

// exchange is one request and what it must produce.
type exchange struct {
	name   string
	method string
	url    string // full URL
	body   string
	hdr    []string
	// status wanted; code, when set, must appear as the problem's code or a
	// target's error code.
	status int
	code   canonical.Code
	// invalid marks a request the description itself refuses (the gateway
	// refuses it too: that is the point of the case).
	invalid bool
}

// do sends ex and validates both ends. It reports with t.Errorf only, so it
// may run on a goroutine of its own.
func (c *contract) do(t *testing.T, ex exchange) (http.Header, []byte) {
	t.Helper()
	newReq := func() *http.Request {
		var body io.Reader
		if ex.body != "" {
			body = strings.NewReader(ex.body)
		}
		r, err := http.NewRequest(ex.method, ex.url, body)
		if err != nil {
			panic(err) // a malformed case in this file
		}
		if ex.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(ex.hdr); i += 2 {
			r.Header.Set(ex.hdr[i], ex.hdr[i+1])
		}
		return r
	}
	ctx := context.Background()
	vreq := newReq()
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		t.Errorf("%s: %s %s is not in the description: %v", ex.name, ex.method, vreq.URL.Path, err)
		return nil, nil
	}
	c.mu.Lock()
	c.ops[ex.method+" "+route.Path] = true
	c.sent++
	c.mu.Unlock()
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: c.opts}
	verr := openapi3filter.ValidateRequest(ctx, in)
	switch {
	case ex.invalid && verr == nil:
		t.Errorf("%s: the description accepts a request the gateway must refuse", ex.name)
	case !ex.invalid && verr != nil:
		t.Errorf("%s: request does not match the description: %v", ex.name, verr)
	}

	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		t.Errorf("%s: %v", ex.name, err)
		return nil, nil
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != ex.status {
		t.Errorf("%s: status %d, want %d: %s", ex.name, resp.StatusCode, ex.status, body)
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)), Options: c.opts}
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		t.Errorf("%s: %s %s answer %d does not match the description: %v\n%s", ex.name, ex.method, route.Path, resp.StatusCode, err, body)
	}
	c.record(t, ex, resp.Header.Get("Content-Type"), body)
	return resp.Header, body
}

// record notes the codes an answer carries and checks the wanted one is
// among them.
func (c *contract) record(t *testing.T, ex exchange, ct string, body []byte) {
	var got []canonical.Code
	if strings.HasPrefix(ct, problem.ContentType) {
		var p problem.Problem
		if err := json.Unmarshal(body, &p); err == nil {
			got = append(got, p.Code)
		}
	} else if strings.HasPrefix(ct, "application/json") {
		var r result.Result
		if err := json.Unmarshal(body, &r); err == nil {
			for _, tr := range r.Results {
				if tr.Error != nil {
					got = append(got, tr.Error.Code)
				}
			}
		}
	}
	c.mu.Lock()
	for _, g := range got {
		c.codes[g] = append(c.codes[g], ex.name)
	}
	c.mu.Unlock()
	if ex.code != "" && !slices.Contains(got, ex.code) {
		t.Errorf("%s: codes %v, want %s: %s", ex.name, got, ex.code, body)
	}
}

// checkSchema validates an answer no operation describes (an unknown path,
// a method a route does not take) against a component response's schema.
func (c *contract) checkSchema(t *testing.T, name, response, url, method string, status int, code canonical.Code, hdr ...string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.checkAnswer(t, name, response, resp, body, status, code)
}

// raw sends a request as bytes (what net/http will not send: another
// protocol version, ambiguous framing) and checks the answer like
// checkSchema; these are refused before routing, so no operation has them.
func (c *contract) raw(t *testing.T, name, response, base, request string, status int, code canonical.Code) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !resp.Close {
		t.Errorf("%s: the connection is not closed (Connection: %q)", name, resp.Header.Get("Connection"))
	}
	c.checkAnswer(t, name, response, resp, body, status, code)
}

// checkAnswer validates an answer against a component response: status,
// content type, body schema and required headers.
func (c *contract) checkAnswer(t *testing.T, name, response string, resp *http.Response, body []byte, status int, code canonical.Code) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d: %s", name, resp.StatusCode, status, body)
	}
	rr := c.doc.Components.Responses[response]
	if rr == nil {
		t.Fatalf("no component response %s", response)
	}
	mt := rr.Value.Content.Get(resp.Header.Get("Content-Type"))
	if mt == nil {
		t.Fatalf("%s: content type %q not in response %s", name, resp.Header.Get("Content-Type"), response)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("%s: answer does not match response %s: %v\n%s", name, response, err, body)
	}
	for h, hr := range rr.Value.Headers {
		if hr.Value.Required && resp.Header.Get(h) == "" && !(h == "Connection" && resp.Close) {
			t.Errorf("%s: no %s header", name, h)
		}
	}
	c.record(t, exchange{name: name, code: code}, resp.Header.Get("Content-Type"), body)
}

// gate holds the next request to the vendor behind it until released, and
// says when it arrived; otherwise it forwards.
type gate struct {
	mu      sync.Mutex
	armed   bool
	arrived chan struct{}
	release chan struct{}
	next    http.Handler
}

func (g *gate) arm() (arrived, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.arrived, g.release = true, make(chan struct{}), make(chan struct{})
	return g.arrived, g.release
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	held := g.armed
	arrived, release := g.arrived, g.release
	g.armed = false
	g.mu.Unlock()
	if held {
		close(arrived)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// serveBuilt builds the gateway from cfg and serves it on a loopback port
// until the test ends; it returns the base URL and the HTTP API.
func serveBuilt(t *testing.T, cfg *config.Config, o buildOptions) (string, *httpapi.Server) {
	t.Helper()
	g, err := build(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return serveGateway(t, g), g.api
}

// serveGateway serves g's HTTP API on a loopback port until the test ends,
// then shuts g down; it returns the base URL.
func serveGateway(t *testing.T, g *gateway) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.api.Serve(ln) }()
	t.Cleanup(func() {
		if err := g.api.Shutdown(5 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
		_ = g.Shutdown(context.Background())
	})
	return "http://" + ln.Addr().String()
}

// routeParam matches a Fiber route parameter (":id"), not an escaped colon
// ("\\:batch").
var routeParam = regexp.MustCompile(`(^|[^\\]):([A-Za-z_]+)`)

// specPathOf turns a Fiber route path into the description's: parameters
// in braces, Fiber's escaped colon a plain one.
func specPathOf(route string) string {
	return strings.ReplaceAll(routeParam.ReplaceAllString(route, "${1}{$2}"), `\:`, ":")
}

const ndjsonType = "application/x-ndjson"

// ndjsonDecoder reads an NDJSON body as the array of its lines' values
// (blank lines skipped), which is how the description shows NDJSON.
func ndjsonDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for i, l := range bytes.Split(b, []byte{'\n'}) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(l, &v); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// failingWriter fails every write (an audit sink whose disk is gone).
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk gone") }

func keyHash(k string) string {
	s := sha256.Sum256([]byte(k))
	return hex.EncodeToString(s[:])
}

func (c *contract) fault(t *testing.T, vendor, rule string) {
	t.Helper()
	method := http.MethodPost
	if rule == "" {
		method = http.MethodDelete
	}
	req, _ := http.NewRequest(method, c.sims.addrs[vendor]+"/_fault", strings.NewReader(rule))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("fault %s %s: %d", vendor, rule, resp.StatusCode)
	}
}

func TestOpenAPIContract(t *testing.T) {
	doc := loadSpec(t)
	// GET /docs answers text/html, which openapi3filter has no decoder for.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
	t.Cleanup(func() { openapi3filter.UnregisterBodyDecoder("text/html") })
	// POST /v1/users:batch takes and answers NDJSON, which the description
	// reads as an array of lines; application/scim+json needs no decoder of
	// its own (kin falls back to JSON for "+json").
	openapi3filter.RegisterBodyDecoder(ndjsonType, ndjsonDecoder)
	t.Cleanup(func() { openapi3filter.UnregisterBodyDecoder(ndjsonType) })
	sims, cfg := devSims(t)
	// Two Commvault users with one e-mail (the API refuses a duplicate, but
	// users synchronised from a directory can share one): resolving that
	// e-mail is ambiguous.
	cv := sims.handlers["commvault"].(*commvaultsim.Sim)
	for _, id := range []int32{700001, 700002} {
		cv.AddUser(commvaultsim.User{ID: id, Name: fmt.Sprintf("twin%d", id), Email: "twin@example.com", Password: "unused", Enabled: true, AuthMethod: "LOCAL"})
	}

	// Client keys on: ops may do everything, narrow only display_name at
	// frontier, tiny has a budget of one request.
	cfg.Auth.Mode = "api_key"
	cfg.Clients = []config.Client{
		{Name: "ops", KeySHA256: keyHash("ops-key"), Targets: []string{"volterra", "akana", "commvault", "frontier", "breaky"}, Permissions: []string{"links", "audit", "scim"}},
		{Name: "narrow", KeySHA256: keyHash("narrow-key"), Targets: []string{"frontier"}, Fields: []string{"display_name"}},
		{Name: "tiny", KeySHA256: keyHash("tiny-key"), Targets: []string{"frontier"}, RateLimit: config.RateLimit{Requests: 1, Window: config.Duration(time.Hour)}},
	}
	// A small body limit: a request just over it fits in the server's read
	// buffer, so the 413 is read back before the connection closes.
	cfg.Server.BodyLimit = 4 << 10
	// An update of an account another update holds gives up at once
	// (account_busy); nothing else here updates one account concurrently.
	cfg.Idempotency.AccountLockWait = config.Duration(time.Millisecond)
	zero := 0
	for n, v := range cfg.Vendors {
		v.Retry.Max = &zero // one attempt: an injected fault is the answer
		cfg.Vendors[n] = v
	}
	// frontier behind a gate, so a request can be held at the vendor.
	fu, _ := url.Parse(sims.addrs["frontier"])
	g := &gate{next: httputil.NewSingleHostReverseProxy(fu)}
	gs := httptest.NewServer(g)
	t.Cleanup(gs.Close)
	fr := cfg.Vendors["frontier"]
	fr.BaseURL = gs.URL
	cfg.Vendors["frontier"] = fr
	// breaky: a second Frontier target whose breaker opens on one failure.
	br := cfg.Vendors["frontier"]
	br.Type = "frontier"
	br.BaseURL = sims.addrs["frontier"]
	br.Breaker.ConsecutiveFailures = 1
	br.Breaker.OpenFor = config.Duration(time.Hour)
	cfg.Vendors["breaky"] = br
	// SCIM writes Commvault and Frontier, whose adapters can create users.
	cfg.SCIM = config.SCIM{Targets: []string{"commvault", "frontier"}}
	base, app := serveBuilt(t, cfg, buildOptions{LogOutput: io.Discard})

	// A second gateway whose Redis goes away after start.
	mr := miniredis.RunT(t)
	_, cfg2 := devSims(t)
	cfg2.Idempotency.Store = "redis"
	cfg2.Redis.URL = "redis://" + mr.Addr()
	cfg2.Redis.AllowVolatile = true // miniredis has no persistence
	base2, _ := serveBuilt(t, cfg2, buildOptions{LogOutput: io.Discard, AuthNone: true})
	mr.Close()

	// A third gateway whose audit sink (JSON lines, to a writer that always
	// fails) is down after its first record.
	_, cfg3 := devSims(t)
	cfg3.Audit.Sinks = []string{"jsonl"}
	base3, _ := serveBuilt(t, cfg3, buildOptions{LogOutput: failingWriter{}, AuthNone: true})

	doc.Servers = openapi3.Servers{{URL: base}, {URL: base2}, {URL: base3}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := &contract{doc: doc, router: router, sims: sims, codes: map[canonical.Code][]string{}, ops: map[string]bool{},
		opts: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}}

	// Every route the app registers is described.
	t.Run("routes", func(t *testing.T) {
		for _, r := range app.Routes() {
			p := specPathOf(r.Path)
			item := doc.Paths.Find(p)
			if item == nil || item.GetOperation(r.Method) == nil {
				t.Errorf("route %s %s is not in api/openapi.yaml", r.Method, r.Path)
			}
		}
	})

	auth := []string{"Authorization", "Bearer ops-key"}
	with := func(h ...string) []string { return append(slices.Clone(auth), h...) }
	users := base + "/v1/users/demo"
	frontierID := frontiersim.DemoUserID

	t.Run("served description", func(t *testing.T) {
		_, body := c.do(t, exchange{name: "openapi.json again", method: "GET", url: base + "/openapi.json", status: 200})
		want, err := openAPIJSON(identitygateway.OpenAPI)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want) {
			t.Error("/openapi.json is not api/openapi.yaml converted")
		}
	})
	t.Run("trace continues", func(t *testing.T) {
		_, body := c.do(t, exchange{name: "traceparent", method: "PATCH", url: users, hdr: with("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
			body: `{"targets":["frontier"],"user":{"display_name":"Traced"}}`, status: 200})
		var r result.Result
		if err := json.Unmarshal(body, &r); err != nil || r.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("trace_id %q, want the inbound traceparent's (%v)", r.TraceID, err)
		}
	})

	for _, ex := range []exchange{
		{name: "healthz", method: "GET", url: base + "/healthz", status: 200},
		{name: "healthz head", method: "HEAD", url: base + "/healthz", status: 200},
		{name: "readyz", method: "GET", url: base + "/readyz", status: 200},
		{name: "readyz head", method: "HEAD", url: base + "/readyz", status: 200},
		{name: "metrics", method: "GET", url: base + "/metrics", status: 200},
		{name: "metrics head", method: "HEAD", url: base + "/metrics", status: 200},
		{name: "openapi.json", method: "GET", url: base + "/openapi.json", status: 200},
		{name: "openapi.json head", method: "HEAD", url: base + "/openapi.json", status: 200},
		{name: "docs", method: "GET", url: base + "/docs", status: 200},
		{name: "docs head", method: "HEAD", url: base + "/docs", status: 200},
		{name: "capabilities", method: "GET", url: base + "/v1/capabilities", hdr: auth, status: 200},
		{name: "capabilities head", method: "HEAD", url: base + "/v1/capabilities", hdr: auth, status: 200},
		{name: "capabilities without key", method: "GET", url: base + "/v1/capabilities", status: 401, code: canonical.CodeUnauthorized},
		{name: "applied", method: "PATCH", url: users, hdr: with("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
			body: `{"targets":["frontier"],"user":{"display_name":"Jane Doe"}}`, status: 200},
		{name: "all four, skip", method: "PATCH", url: users, hdr: auth,
			body: `{"targets":["frontier","volterra","akana","commvault"],"on_unsupported":"skip","user":{"display_name":"Jane Doe","given_name":"Jane","enabled":true}}`, status: 200},
		{name: "dry run", method: "PATCH", url: users + "?dry_run=true", hdr: auth,
			body: `{"targets":["frontier","volterra","akana","commvault"],"on_unsupported":"skip","user":{"display_name":"Jane","given_name":"Jane","password":{"new":"s3cret-Pass"},"notifications":["ticket.change"]}}`, status: 200},
		{name: "pass-through credential", method: "PATCH", url: users, hdr: with("X-Volterra-Api-Token", "APIToken "+sims.env["VOLTERRA_TOKEN"]),
			body: `{"targets":["volterra"],"user":{"given_name":"Jane","otp_enabled":true,"notifications":["ticket.change"]}}`, status: 200},
		{name: "every field shape", method: "PATCH", url: users + "?dry_run=true", hdr: auth,
			body: `{"targets":["commvault"],"vendor_ids":{"commvault":"` + sims.env["COMMVAULT_DEMO_ID"] + `"},"on_unsupported":"reject","user":{"username":"jdoe","email":"jane@example.com","display_name":"Jane Doe","enabled":true,"groups":{"op":"add","items":[{"id":3},{"name":"operators"}]},"password":{"new":"n3w-Pass","current":"old"},"principal_name":"jdoe@corp.example","auth_method":"LOCAL","plan":{"id":7}}}`, status: 200},
		{name: "avatar and metadata", method: "PATCH", url: users + "?dry_run=true", hdr: auth,
			body: `{"targets":["frontier"],"user":{"avatar":{"content_type":"image/png","data":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="},"metadata":{"label":{"team":"sre"},"description":"on call"}}}`, status: 200},
		{name: "extension not allowed", method: "PATCH", url: users, hdr: auth,
			body: `{"targets":["frontier"],"user":{"display_name":"J"},"extensions":{"frontier":{"x":1}}}`, status: 400, code: canonical.CodeInvalidRequest},
		{name: "vendor id shape", method: "PATCH", url: users, hdr: auth,
			body: `{"targets":["commvault"],"vendor_ids":{"commvault":"not-a-number"},"user":{"display_name":"J"}}`, status: 400, code: canonical.CodeInvalidRequest},
		{name: "bad body shape", method: "PATCH", url: users, hdr: auth, body: `{"user":{"password":"x"}}`, status: 400, code: canonical.CodeInvalidRequest, invalid: true},
		{name: "unknown field", method: "PATCH", url: users, hdr: auth, body: `{"user":{"givenName":"J"}}`, status: 400, code: canonical.CodeInvalidRequest, invalid: true},
		{name: "null", method: "PATCH", url: users, hdr: auth, body: `{"user":{"email":null}}`, status: 400, code: canonical.CodeInvalidRequest, invalid: true},
		{name: "empty user", method: "PATCH", url: users, hdr: auth, body: `{"user":{}}`, status: 400, code: canonical.CodeInvalidRequest, invalid: true},
		{name: "bad target name", method: "PATCH", url: users, hdr: auth, body: `{"targets":["Nope!"],"user":{"display_name":"J"}}`, status: 400, code: canonical.CodeInvalidRequest, invalid: true},
		{name: "bad dry_run", method: "PATCH", url: users + "?dry_run=maybe", hdr: auth, body: `{"user":{"display_name":"J"}}`, status: 400, code: canonical.CodeInvalidRequest, invalid: true},
		{name: "bad idempotency key", method: "PATCH", url: users, hdr: with("Idempotency-Key", "has space"), body: `{"targets":["frontier"],"user":{"display_name":"J"}}`, status: 400, code: canonical.CodeInvalidRequest, invalid: true},
		{name: "no key", method: "PATCH", url: users, body: `{"user":{"display_name":"J"}}`, status: 401, code: canonical.CodeUnauthorized},
		{name: "wrong key", method: "PATCH", url: users, hdr: []string{"Authorization", "Bearer nope"}, body: `{"user":{"display_name":"J"}}`, status: 401, code: canonical.CodeUnauthorized},
		{name: "target not allowed", method: "PATCH", url: users, hdr: []string{"Authorization", "Bearer narrow-key"}, body: `{"targets":["commvault"],"user":{"display_name":"J"}}`, status: 403, code: canonical.CodeForbidden},
		{name: "field not allowed", method: "PATCH", url: users, hdr: []string{"Authorization", "Bearer narrow-key"}, body: `{"targets":["frontier"],"user":{"metadata":{"description":"x"}}}`, status: 403, code: canonical.CodeForbidden},
		{name: "unknown user at the vendor", method: "PATCH", url: base + "/v1/users/ghost", hdr: auth,
			body: `{"targets":["frontier"],"vendor_ids":{"frontier":"ffffffff-ffff-4fff-bfff-ffffffffffff"},"user":{"display_name":"J"}}`, status: 404, code: canonical.CodeNotFound},
		{name: "unsupported field", method: "PATCH", url: users, hdr: auth, body: `{"targets":["frontier"],"user":{"email":"jane@example.com"}}`, status: 422, code: canonical.CodeUnsupportedField},
		{name: "too large", method: "PATCH", url: users, hdr: auth, body: `{"user":{"display_name":"` + strings.Repeat("a", 8<<10) + `"}}`, status: 413, code: canonical.CodePayloadTooLarge, invalid: true},
		{name: "not json", method: "PATCH", url: users, hdr: with("Content-Type", "text/plain"), body: `{"user":{"display_name":"J"}}`, status: 415, code: canonical.CodeUnsupportedMediaType, invalid: true},
		{name: "json in another charset", method: "PATCH", url: users, hdr: with("Content-Type", "application/json; charset=utf-16"), body: `{"user":{"display_name":"J"}}`, status: 415, code: canonical.CodeUnsupportedMediaType},
	} {
		c.do(t, ex)
	}

	t.Run("idempotency", func(t *testing.T) {
		body := `{"targets":["frontier"],"user":{"display_name":"Key One"}}`
		c.do(t, exchange{name: "keyed", method: "PATCH", url: users, hdr: with("Idempotency-Key", "contract-1"), body: body, status: 200})
		h, _ := c.do(t, exchange{name: "replay", method: "PATCH", url: users, hdr: with("Idempotency-Key", "contract-1"), body: body, status: 200})
		if h.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay without Idempotent-Replayed: %v", h)
		}
		c.do(t, exchange{name: "key reused", method: "PATCH", url: users, hdr: with("Idempotency-Key", "contract-1"),
			body: `{"targets":["frontier"],"user":{"display_name":"Key Two"}}`, status: 422, code: canonical.CodeIdempotencyKeyReused})

		// The first request is held at Frontier; a repeat meanwhile is 409.
		arrived, release := g.arm()
		first := make(chan struct{})
		go func() {
			defer close(first)
			c.do(t, exchange{name: "held", method: "PATCH", url: users, hdr: with("Idempotency-Key", "contract-2"), body: body, status: 200})
		}()
		<-arrived
		h, _ = c.do(t, exchange{name: "in progress", method: "PATCH", url: users, hdr: with("Idempotency-Key", "contract-2"), body: body, status: 409, code: canonical.CodeIdempotencyInProgress})
		if h.Get("Retry-After") == "" {
			t.Error("409 in progress without Retry-After")
		}
		close(release)
		<-first

		c.do(t, exchange{name: "store down", method: "PATCH", url: base2 + "/v1/users/demo", hdr: []string{"Idempotency-Key", "contract-3"}, body: body, status: 503, code: canonical.CodeIdempotencyUnavailable})
		c.do(t, exchange{name: "not ready", method: "GET", url: base2 + "/readyz", status: 503})
	})

	t.Run("rate limit", func(t *testing.T) {
		tiny := []string{"Authorization", "Bearer tiny-key"}
		body := `{"targets":["frontier"],"user":{"display_name":"Tiny"}}`
		c.do(t, exchange{name: "within budget", method: "PATCH", url: users, hdr: tiny, body: body, status: 200})
		h, _ := c.do(t, exchange{name: "over budget", method: "PATCH", url: users, hdr: tiny, body: body, status: 429, code: canonical.CodeRateLimited})
		if h.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})

	t.Run("vendor outcomes", func(t *testing.T) {
		body := `{"targets":["frontier"],"user":{"display_name":"Faulty"}}`
		for _, tc := range []struct {
			name, vendor, rule string
			ex                 exchange
		}{
			{"partial", "commvault", `{"fail_times":1,"status":503}`, exchange{body: `{"targets":["frontier","commvault"],"user":{"display_name":"Half"}}`, status: 207, code: canonical.CodeUpstreamUnavailable}},
			{"vendor 503", "frontier", `{"fail_times":1,"status":502}`, exchange{body: body, status: 502, code: canonical.CodeUpstreamUnavailable}},
			{"vendor refuses the credential", "frontier", `{"fail_times":1,"status":401}`, exchange{body: body, status: 502, code: canonical.CodeUpstreamAuthFailed}},
			{"vendor 504", "frontier", `{"fail_times":1,"status":504}`, exchange{body: body, status: 504, code: canonical.CodeUpstreamTimeout}},
			{"vendor 418", "frontier", `{"fail_times":1,"status":418}`, exchange{body: body, status: 502, code: canonical.CodeUpstreamError}},
			{"vendor 409", "commvault", `{"fail_times":2,"status":409,"methods":["PUT"]}`, exchange{body: `{"targets":["commvault"],"user":{"display_name":"Dup"}}`, status: 409, code: canonical.CodeConflict}},
			{"vendor 429", "frontier", `{"fail_times":1,"status":429,"retry_after":"1"}`, exchange{body: body, status: 429, code: canonical.CodeRateLimited}},
			{"vendor 400", "frontier", `{"fail_times":1,"status":400}`, exchange{body: body, status: 400, code: canonical.CodeInvalidRequest}},
			{"breaker opens", "frontier", `{"fail_times":1,"status":503}`, exchange{body: `{"targets":["breaky"],"vendor_ids":{"breaky":"` + frontierID + `"},"user":{"display_name":"B"}}`, status: 502, code: canonical.CodeUpstreamUnavailable}},
			{"breaker open", "", "", exchange{body: `{"targets":["breaky"],"vendor_ids":{"breaky":"` + frontierID + `"},"user":{"display_name":"B"}}`, status: 503, code: canonical.CodeCircuitOpen}},
		} {
			if tc.vendor != "" {
				c.fault(t, tc.vendor, tc.rule)
			}
			ex := tc.ex
			ex.name, ex.method, ex.url, ex.hdr = tc.name, "PATCH", users, auth
			c.do(t, ex)
			if tc.vendor != "" {
				c.fault(t, tc.vendor, "")
			}
		}
	})

	t.Run("docs page fetches nothing", func(t *testing.T) {
		h, body := c.do(t, exchange{name: "docs again", method: "GET", url: base + "/docs", status: 200})
		if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
		for _, bad := range []string{"<script src", "<link", "@import", "fetch(", "XMLHttpRequest", "{{SPEC}}"} {
			if bytes.Contains(body, []byte(bad)) {
				t.Errorf("/docs contains %q", bad)
			}
		}
		if !bytes.Contains(body, []byte(`"/v1/users/{id}"`)) {
			t.Error("/docs does not inline the description")
		}
	})

	t.Run("no operation", func(t *testing.T) {
		c.checkSchema(t, "unknown path", "NotFound", base+"/nope", "GET", 404, canonical.CodeNotFound)
		c.checkSchema(t, "method not allowed", "MethodNotAllowed", base+"/healthz", "DELETE", 405, canonical.CodeMethodNotAllowed)
	})

	t.Run("reads", func(t *testing.T) {
		h, _ := c.do(t, exchange{name: "read", method: "GET", url: users + "?targets=frontier,commvault", hdr: auth, status: 200})
		etag := h.Get("ETag")
		if etag == "" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("read without ETag or Cache-Control: %v", h)
		}
		c.do(t, exchange{name: "read head", method: "HEAD", url: users + "?targets=frontier", hdr: auth, status: 200})
		c.do(t, exchange{name: "read by vendor id", method: "GET", url: base + "/v1/users/someone?targets=commvault&vendor_ids.commvault=" + sims.env["COMMVAULT_DEMO_ID"], hdr: auth, status: 200})
		c.do(t, exchange{name: "read, not linked", method: "GET", url: base + "/v1/users/nobody?targets=akana", hdr: auth, status: 200})
		c.do(t, exchange{name: "read, unknown parameter", method: "GET", url: users + "?target=frontier", hdr: auth, status: 400, code: canonical.CodeInvalidRequest})
		c.do(t, exchange{name: "read without key", method: "GET", url: users, status: 401, code: canonical.CodeUnauthorized})
		c.do(t, exchange{name: "read, target not allowed", method: "GET", url: users + "?targets=commvault", hdr: []string{"Authorization", "Bearer narrow-key"}, status: 403, code: canonical.CodeForbidden})

		body := `{"targets":["frontier"],"user":{"display_name":"Matched"}}`
		c.do(t, exchange{name: "if-match holds", method: "PATCH", url: users, hdr: with("If-Match", etag), body: body, status: 200})
		// The update above changed frontier: the same ETag is stale now.
		c.do(t, exchange{name: "if-match stale", method: "PATCH", url: users, hdr: with("If-Match", etag),
			body: `{"targets":["frontier"],"user":{"display_name":"Stale"}}`, status: 412, code: canonical.CodePreconditionFailed})
	})

	t.Run("addressing", func(t *testing.T) {
		c.do(t, exchange{name: "identity mismatch", method: "PATCH", url: users, hdr: auth,
			body: `{"targets":["volterra"],"vendor_ids":{"volterra":"someone.else@example.com"},"user":{"given_name":"J"}}`, status: 422, code: canonical.CodeIdentityMismatch})
		c.do(t, exchange{name: "not linked", method: "PATCH", url: base + "/v1/users/nobody", hdr: auth,
			body: `{"targets":["akana"],"user":{"given_name":"J"}}`, status: 404, code: canonical.CodeNotLinked})
		c.do(t, exchange{name: "resolved to another id's account", method: "PATCH", url: base + "/v1/users/impostor", hdr: auth,
			body: `{"targets":["commvault"],"user":{"display_name":"X","email":"jane.doe@example.com"}}`, status: 409, code: canonical.CodeConflict})
		c.do(t, exchange{name: "ambiguous link", method: "PATCH", url: base + "/v1/users/either", hdr: auth,
			body: `{"targets":["commvault"],"user":{"display_name":"E","email":"twin@example.com"}}`, status: 409, code: canonical.CodeAmbiguousLink})
	})

	t.Run("links", func(t *testing.T) {
		links := base + "/v1/users/u-contract/links"
		c.do(t, exchange{name: "put links", method: "PUT", url: links, hdr: auth, body: `{"links":{"commvault":"700001"},"attributes":{"email":"twin@example.com"}}`, status: 200})
		c.do(t, exchange{name: "get links", method: "GET", url: links, hdr: auth, status: 200})
		c.do(t, exchange{name: "get links head", method: "HEAD", url: links, hdr: auth, status: 200})
		c.do(t, exchange{name: "link taken", method: "PUT", url: base + "/v1/users/u-other/links", hdr: auth, body: `{"links":{"commvault":"700001"}}`, status: 409, code: canonical.CodeConflict})
		c.do(t, exchange{name: "link, unknown target", method: "PUT", url: links, hdr: auth, body: `{"links":{"nope":"1"}}`, status: 400, code: canonical.CodeInvalidRequest})
		c.do(t, exchange{name: "links without permission", method: "GET", url: links, hdr: []string{"Authorization", "Bearer narrow-key"}, status: 403, code: canonical.CodeForbidden})
		c.do(t, exchange{name: "reverse", method: "GET", url: base + "/v1/links?target=commvault&vendor_id=700001", hdr: auth, status: 200})
		c.do(t, exchange{name: "reverse head", method: "HEAD", url: base + "/v1/links?target=commvault&vendor_id=700001", hdr: auth, status: 200})
		c.do(t, exchange{name: "reverse, none", method: "GET", url: base + "/v1/links?target=commvault&vendor_id=999", hdr: auth, status: 404, code: canonical.CodeNotLinked})
		c.do(t, exchange{name: "delete link", method: "DELETE", url: links + "/commvault", hdr: auth, status: 204})
		c.do(t, exchange{name: "delete link again", method: "DELETE", url: links + "/commvault", hdr: auth, status: 404, code: canonical.CodeNotLinked})
	})

	t.Run("audit", func(t *testing.T) {
		c.do(t, exchange{name: "audit", method: "GET", url: base + "/v1/audit?limit=5", hdr: auth, status: 200})
		c.do(t, exchange{name: "audit head", method: "HEAD", url: base + "/v1/audit", hdr: auth, status: 200})
		c.do(t, exchange{name: "audit, bad limit", method: "GET", url: base + "/v1/audit?limit=0", hdr: auth, status: 400, code: canonical.CodeInvalidRequest, invalid: true})
		c.do(t, exchange{name: "audit without permission", method: "GET", url: base + "/v1/audit", hdr: []string{"Authorization", "Bearer narrow-key"}, status: 403, code: canonical.CodeForbidden})
		body := `{"targets":["frontier"],"user":{"display_name":"Audited"}}`
		c.do(t, exchange{name: "audit sink fails", method: "PATCH", url: base3 + "/v1/users/demo?dry_run=true", body: body, status: 200})
		h, _ := c.do(t, exchange{name: "audit unavailable", method: "PATCH", url: base3 + "/v1/users/demo?dry_run=true", body: body, status: 503, code: canonical.CodeAuditUnavailable})
		if h.Get("Retry-After") == "" {
			t.Error("503 audit_unavailable without Retry-After")
		}
	})

	t.Run("readiness", func(t *testing.T) {
		_, body := c.do(t, exchange{name: "readyz verbose", method: "GET", url: base + "/readyz?verbose=1", status: 200})
		if !bytes.Contains(body, []byte(`"breaker":"closed"`)) {
			t.Errorf("readyz?verbose=1 lists no vendor: %s", body)
		}
		c.do(t, exchange{name: "readyz, unknown parameter", method: "GET", url: base + "/readyz?verbose=1&x=1", status: 400, code: canonical.CodeInvalidRequest})
	})

	t.Run("account busy", func(t *testing.T) {
		// The first update holds the frontier account (at the vendor); the
		// second gives up after account_lock_wait.
		arrived, release := g.arm()
		first := make(chan struct{})
		go func() {
			defer close(first)
			c.do(t, exchange{name: "holds the account", method: "PATCH", url: users, hdr: auth, body: `{"targets":["frontier"],"user":{"display_name":"First"}}`, status: 200})
		}()
		<-arrived
		h, _ := c.do(t, exchange{name: "account busy", method: "PATCH", url: users, hdr: auth, body: `{"targets":["frontier"],"user":{"display_name":"Second"}}`, status: 409, code: canonical.CodeAccountBusy})
		if h.Get("Retry-After") == "" {
			t.Error("409 account_busy without Retry-After")
		}
		close(release)
		<-first
	})

	t.Run("batch", func(t *testing.T) {
		batch := base + "/v1/users:batch?dry_run=true"
		nd := with("Content-Type", ndjsonType)
		body := `{"id":"demo","targets":["frontier"],"user":{"display_name":"Batch One"}}` + "\n\n" +
			`{"id":"batch-two","targets":["frontier"],"vendor_ids":{"frontier":"` + frontierID + `"},"user":{"display_name":"Batch Two"}}` + "\n"
		for _, ex := range []exchange{
			{name: "batch ndjson", method: "POST", url: batch, hdr: nd, body: body, status: 200},
			{name: "batch json array", method: "POST", url: batch, hdr: auth, body: `[{"id":"demo","targets":["frontier"],"user":{"display_name":"Batch Three"}}]`, status: 200},
		} {
			h, b := c.do(t, ex)
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, ndjsonType) || h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Content-Type %q, Cache-Control %q", ex.name, ct, h.Get("Cache-Control"))
			}
			lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
			if !bytes.HasPrefix(lines[len(lines)-1], []byte(`{"summary":`)) {
				t.Errorf("%s: the last line is not the summary: %s", ex.name, b)
			}
			for _, l := range lines[:len(lines)-1] {
				if !bytes.Contains(l, []byte(`"status":"planned"`)) {
					t.Errorf("%s: line %s, want planned", ex.name, l)
				}
			}
		}
		c.do(t, exchange{name: "batch empty", method: "POST", url: batch, hdr: nd, body: "\n", status: 400, code: canonical.CodeInvalidRequest, invalid: true})
		c.do(t, exchange{name: "batch without key", method: "POST", url: batch, hdr: []string{"Content-Type", ndjsonType}, body: body, status: 401, code: canonical.CodeUnauthorized})
	})

	t.Run("scim", func(t *testing.T) {
		scim := base + "/scim/v2"
		sj := with("Content-Type", "application/scim+json")
		for _, ex := range []exchange{
			{name: "scim service provider config", method: "GET", url: scim + "/ServiceProviderConfig", hdr: auth, status: 200},
			{name: "scim service provider config head", method: "HEAD", url: scim + "/ServiceProviderConfig", hdr: auth, status: 200},
			{name: "scim resource types", method: "GET", url: scim + "/ResourceTypes", hdr: auth, status: 200},
			{name: "scim resource types head", method: "HEAD", url: scim + "/ResourceTypes", hdr: auth, status: 200},
			{name: "scim resource type", method: "GET", url: scim + "/ResourceTypes/User", hdr: auth, status: 200},
			{name: "scim resource type head", method: "HEAD", url: scim + "/ResourceTypes/User", hdr: auth, status: 200},
			{name: "scim schemas", method: "GET", url: scim + "/Schemas", hdr: auth, status: 200},
			{name: "scim schemas head", method: "HEAD", url: scim + "/Schemas", hdr: auth, status: 200},
			{name: "scim schema", method: "GET", url: scim + "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", hdr: auth, status: 200},
			{name: "scim schema head", method: "HEAD", url: scim + "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", hdr: auth, status: 200},
			{name: "scim unknown resource type", method: "GET", url: scim + "/ResourceTypes/Group", hdr: auth, status: 404},
		} {
			h, _ := c.do(t, ex)
			if ex.method == "GET" && !strings.HasPrefix(h.Get("Content-Type"), "application/scim+json") {
				t.Errorf("%s: Content-Type %q", ex.name, h.Get("Content-Type"))
			}
		}

		// Nobody at Frontier or Commvault has this e-mail: POST creates both accounts.
		const email = "contract.scim@example.com"
		create := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + email + `","name":{"givenName":"Contract","familyName":"Scim"},"emails":[{"primary":true,"value":"` + email + `","type":"work"}],"displayName":"Contract Scim","active":true}`
		_, b := c.do(t, exchange{name: "scim create", method: "POST", url: scim + "/Users", hdr: sj, body: create, status: 201})
		var u struct{ ID string }
		if err := json.Unmarshal(b, &u); err != nil || u.ID == "" {
			t.Fatalf("scim create: no id in %s (%v)", b, err)
		}
		user := scim + "/Users/" + url.PathEscape(u.ID)
		filter := scim + "/Users?filter=" + url.QueryEscape(`userName eq "`+email+`"`) + "&startIndex=1&count=10"
		_, b = c.do(t, exchange{name: "scim list by userName", method: "GET", url: filter, hdr: auth, status: 200})
		if !bytes.Contains(b, []byte(`"totalResults":1`)) {
			t.Errorf("scim list by userName: %s", b)
		}
		for _, ex := range []exchange{
			{name: "scim list head", method: "HEAD", url: filter, hdr: auth, status: 200},
			{name: "scim get", method: "GET", url: user, hdr: auth, status: 200},
			{name: "scim get head", method: "HEAD", url: user, hdr: auth, status: 200},
			{name: "scim create again", method: "POST", url: scim + "/Users", hdr: sj, body: create, status: 409},
			{name: "scim replace", method: "PUT", url: user, hdr: sj, body: strings.Replace(create, `"givenName":"Contract"`, `"givenName":"Replaced"`, 1), status: 200},
			{name: "scim patch", method: "PATCH", url: user, hdr: sj,
				body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Patched Scim"}]}`, status: 200},
			{name: "scim bulk", method: "POST", url: scim + "/Bulk", hdr: sj, status: 200,
				body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[` +
					`{"method":"POST","path":"/Users","bulkId":"u1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"contract.bulk","emails":[{"value":"contract.bulk@example.com","primary":true}],"displayName":"Contract Bulk"}},` +
					`{"method":"DELETE","path":"/Users/bulkId:u1"}]}`},
			{name: "scim unknown user", method: "GET", url: scim + "/Users/no-such-user", hdr: auth, status: 404},
			{name: "scim bulk over maxOperations", method: "POST", url: scim + "/Bulk", hdr: sj, status: 413,
				body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[` +
					strings.TrimSuffix(strings.Repeat(`{"method":"DELETE","path":"/Users/nobody"},`, 101), ",") + `]}`},
			{name: "scim bad filter", method: "GET", url: scim + "/Users?filter=" + url.QueryEscape(`userName eq`), hdr: auth, status: 400},
			{name: "scim list all", method: "GET", url: scim + "/Users?startIndex=1&count=100", hdr: auth, status: 200},
			{name: "scim list by a non-indexed filter", method: "GET", url: scim + "/Users?filter=" + url.QueryEscape(`userName sw "contract"`), hdr: auth, status: 200},
			{name: "scim list by Entra's e-mail filter", method: "GET", url: scim + "/Users?filter=" + url.QueryEscape(`emails[type eq "work"].value eq "`+email+`"`), hdr: auth, status: 200},
			{name: "scim without permission", method: "GET", url: scim + "/ServiceProviderConfig", hdr: []string{"Authorization", "Bearer narrow-key"}, status: 403},
			{name: "scim without key", method: "GET", url: scim + "/ServiceProviderConfig", status: 401},
			{name: "scim delete", method: "DELETE", url: user, hdr: auth, status: 204},
			{name: "scim deleted", method: "GET", url: user, hdr: auth, status: 404},
		} {
			h, b := c.do(t, ex)
			if ex.status >= 400 && (!strings.HasPrefix(h.Get("Content-Type"), "application/scim+json") ||
				!bytes.Contains(b, []byte(`"status":"`+strconv.Itoa(ex.status)+`"`))) {
				t.Errorf("%s: not a SCIM error: %s %s", ex.name, h.Get("Content-Type"), b)
			}
			if ex.name == "scim bad filter" && !bytes.Contains(b, []byte(`"scimType":"invalidFilter"`)) {
				t.Errorf("scim bad filter: %s, want scimType invalidFilter", b)
			}
		}
	})

	t.Run("protocol", func(t *testing.T) {
		c.raw(t, "HTTP/9.9", "HTTPVersionNotSupported", base, "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 505, canonical.CodeHTTPVersionNotSupported)
		c.raw(t, "ambiguous framing", "InvalidRequest", base,
			"PATCH /v1/users/demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, canonical.CodeInvalidRequest)
		c.raw(t, "header name not a token", "InvalidRequest", base,
			"PATCH /v1/users/demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nBad Name: y\r\nContent-Length: 2\r\n\r\n{}", 400, canonical.CodeInvalidRequest)
		c.raw(t, "HTTP/1.1 without Host", "InvalidRequest", base,
			"PATCH /v1/users/demo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 400, canonical.CodeInvalidRequest)
		// Every route answers a method it does not take with 405 and Allow.
		methods := map[string][]string{}
		for _, r := range app.Routes() {
			methods[r.Path] = append(methods[r.Path], r.Method)
		}
		for _, r := range app.Routes() {
			if r.Method == "HEAD" {
				continue
			}
			path := strings.ReplaceAll(routeParam.ReplaceAllString(r.Path, "${1}x"), `\:`, ":")
			other := ""
			for _, m := range []string{"POST", "PATCH", "PUT", "DELETE"} {
				if !slices.Contains(methods[r.Path], m) {
					other = m
					break
				}
			}
			if other == "" {
				continue // the route takes every method we would try
			}
			// Under /scim/v2 every error is a SCIM error, 405 included.
			response, code := "MethodNotAllowed", canonical.CodeMethodNotAllowed
			if strings.HasPrefix(r.Path, "/scim/v2/") {
				response, code = "ScimMethodNotAllowed", ""
			}
			c.checkSchema(t, "405 "+other+" "+r.Path, response, base+path, other, 405, code, auth...)
		}
	})

	// Every operation of the description was exercised, and every code.
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !c.ops[method+" "+path] {
				t.Errorf("no case exercises %s %s", method, path)
			}
		}
	}
	covered := 0
	for _, code := range canonicalCodes(t) {
		if len(c.codes[code]) > 0 {
			covered++
			continue
		}
		if why, ok := uncoverable[code]; ok {
			t.Logf("code %s: no live case (%s)", code, why)
			continue
		}
		t.Errorf("no case produces code %s", code)
	}
	t.Logf("%d exchanges validated: %d operations on %d paths, %d of %d codes with live answers",
		c.sent, len(c.ops), len(doc.Paths.Map()), covered, len(canonicalCodes(t)))
}
