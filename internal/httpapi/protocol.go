package httpapi

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"

	"github.com/identity-gateway/identity-gateway/canonical"
)

// guardServer puts checks in front of Fiber's router that it does not make
// itself, and renders the errors fasthttp raises before routing as
// problem+json (Fiber's own answers there are plain text):
//
//   - the request line: HTTP/1.0 or HTTP/1.1 only (505 otherwise), a target
//     without spaces or control bytes, a method Fiber knows (else 405 with
//     Allow, or 404);
//   - framing (request smuggling): Content-Length together with
//     Transfer-Encoding, Transfer-Encoding other than one "chunked", or two
//     Content-Lengths is 400 and the connection is closed, so bytes a
//     front proxy would count differently are never served as a second
//     request. fasthttp reads the body first (it takes chunked over
//     Content-Length), so the check works on the raw headers.
func (s *server) guardServer(app *fiber.App) {
	srv := app.Server()
	next := srv.Handler
	srv.Handler = func(fctx *fasthttp.RequestCtx) {
		if err := checkRequest(app, fctx); err != nil {
			s.reject(app, fctx, err)
			return
		}
		next(fctx)
	}
	srv.ErrorHandler = func(fctx *fasthttp.RequestCtx, err error) {
		// fasthttp closes the connection after this answer.
		s.reject(app, fctx, fromFasthttp(err))
	}
}

// reject answers with err as problem+json, outside Fiber's router.
func (s *server) reject(app *fiber.App, fctx *fasthttp.RequestCtx, err error) {
	var re *requestError
	if errors.As(err, &re) && re.close {
		fctx.SetConnectionClose()
	}
	c := app.AcquireCtx(fctx)
	defer app.ReleaseCtx(c)
	if re != nil && re.allow != "" {
		c.Set(fiber.HeaderAllow, re.allow)
	}
	_ = s.errorHandler(c, err)
	// Counted like any request, so refused smuggling attempts show on
	// gateway_requests_total.
	if s.o.Observer != nil {
		s.o.Observer.Request(context.Background(), "unmatched", string(canonical.AsError(err).Code), fctx.Response.StatusCode(), 0)
	}
}

// requestError is a refusal before routing: the problem, plus the Allow
// header of a 405 and whether the connection must close.
type requestError struct {
	err   *canonical.Error
	allow string
	close bool
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

func checkRequest(app *fiber.App, fctx *fasthttp.RequestCtx) error {
	h := &fctx.Request.Header
	switch proto := h.Protocol(); {
	case bytes.Equal(proto, []byte("HTTP/1.1")), bytes.Equal(proto, []byte("HTTP/1.0")):
	case len(proto) == 8 && bytes.HasPrefix(proto, []byte("HTTP/")) && isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]):
		return &requestError{close: true, err: &canonical.Error{Code: canonical.CodeHTTPVersionNotSupported,
			Message: "only HTTP/1.1 and HTTP/1.0 are supported"}}
	default:
		return malformed("the request line's protocol is not HTTP/1.x")
	}
	for _, b := range h.RequestURI() {
		if b <= ' ' || b == 0x7f {
			return malformed("the request target contains a space or a control byte")
		}
	}
	if !slices.Contains(fiber.DefaultMethods, string(h.Method())) {
		return unknownMethod(app, string(fctx.URI().Path()))
	}
	return checkFraming(h.RawHeaders())
}

// hasControl reports a control byte in a header value: below a space but
// a tab, or DEL. A byte loop, not bytes.IndexFunc, which decodes UTF-8 for
// each byte and was most of the check's cost on every request
// (BenchmarkHeaderControl); UTF-8 never encodes other characters with
// bytes below 0x80, so both find the same (TestHasControl).
func hasControl(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func malformed(msg string) error {
	return &requestError{close: true, err: &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "malformed request: " + msg}}
}

// checkFraming refuses ambiguous body framing (RFC 9112 section 6.3) and
// header values with control characters.
func checkFraming(raw []byte) error {
	var cl, te int
	var teValue []byte
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		k, v, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\r")), []byte(":"))
		if !ok {
			continue
		}
		// A field name is a token (RFC 9110 section 5.1): fasthttp reads
		// "Bad Name: y" as a header named "Bad Name", which another hop
		// might read otherwise.
		if !httpguts.ValidHeaderFieldName(string(k)) {
			return malformed("a header name is not a token (a space, a control byte or a separator in it)")
		}
		// A field value holds visible characters, spaces and tabs only
		// (RFC 9110 section 5.5); a control byte is a malformed header,
		// however the next hop would read it.
		if hasControl(v) {
			return &requestError{close: true, err: &canonical.Error{Code: canonical.CodeInvalidRequest,
				Message: "malformed request: a header value contains a control character",
				Fields:  []canonical.FieldError{{Field: string(bytes.TrimSpace(k)), Message: "must not contain control characters"}}}}
		}
		switch {
		case bytes.EqualFold(bytes.TrimSpace(k), []byte("Content-Length")):
			cl++
		case bytes.EqualFold(bytes.TrimSpace(k), []byte("Transfer-Encoding")):
			te++
			teValue = bytes.TrimSpace(v)
		}
	}
	field := func(name, msg string) error {
		return &requestError{close: true, err: &canonical.Error{Code: canonical.CodeInvalidRequest,
			Message: "ambiguous request framing; the connection is closed",
			Fields:  []canonical.FieldError{{Field: name, Message: msg}}}}
	}
	switch {
	case te > 0 && cl > 0:
		return field("Transfer-Encoding", "must not be sent together with Content-Length")
	case te > 1:
		return field("Transfer-Encoding", "must be sent once")
	case te == 1 && !bytes.EqualFold(teValue, []byte("chunked")):
		return field("Transfer-Encoding", "only chunked is supported")
	case cl > 1:
		return field("Content-Length", "must be sent once")
	}
	return nil
}

// unknownMethod answers a method Fiber does not know: 405 with Allow when a
// route has the path, else 404.
func unknownMethod(app *fiber.App, path string) error {
	var allow []string
	for _, r := range app.GetRoutes(true) {
		if routeMatches(r.Path, path) && !slices.Contains(allow, r.Method) {
			allow = append(allow, r.Method)
		}
	}
	if len(allow) == 0 {
		return &canonical.Error{Code: canonical.CodeNotFound, Message: "no such route: " + path}
	}
	return &requestError{allow: strings.Join(allow, ", "), err: &canonical.Error{Code: canonical.CodeMethodNotAllowed,
		Message: "unknown method (Allow: " + strings.Join(allow, ", ") + ")"}}
}

// routeMatches reports whether path fits pattern, whose ":name" segments
// take any one non-empty segment (the only wildcard the gateway's routes
// use). Case-insensitive, as Fiber's default routing is.
func routeMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i, p := range ps {
		if strings.HasPrefix(p, ":") {
			if xs[i] == "" {
				return false
			}
			continue
		}
		if !strings.EqualFold(p, xs[i]) {
			return false
		}
	}
	return true
}

// fromFasthttp maps an error fasthttp raised while reading a request (before
// any handler) to a canonical one. The messages are fixed: fasthttp's own
// quote the raw request, which may hold credentials.
func fromFasthttp(err error) error {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "the request headers are larger than the limit"}
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return &canonical.Error{Code: canonical.CodePayloadTooLarge, Message: "the request body is larger than the limit"}
	case errors.As(err, &ne) && ne.Timeout(), strings.Contains(err.Error(), "timeout"):
		return &canonical.Error{Code: canonical.CodeInvalidRequest, Message: "request timed out"}
	}
	return &canonical.Error{Code: canonical.CodeInvalidRequest,
		Message: "malformed request: not valid HTTP/1.1 (" + http.StatusText(http.StatusBadRequest) + "); the connection is closed"}
}
