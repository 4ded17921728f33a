package httpapi

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	canonicalproblem "github.com/identity-gateway/identity-gateway/canonical/problem"
)

// TestMethodNotAllowed (issue 17, item 10): a known route with the wrong
// method is 405 with Allow, as problem+json; an unknown route stays 404.
func TestMethodNotAllowed(t *testing.T) {
	cases := []struct {
		method, target string
		status         int
		allow          string
	}{
		{"DELETE", "/v1/users/jdoe", 405, "GET, HEAD, PATCH"},
		{"PUT", "/v1/users/jdoe", 405, "GET, HEAD, PATCH"},
		{"DELETE", "/v1/capabilities", 405, "GET, HEAD"},
		{"POST", "/healthz", 405, "GET, HEAD"},
		{"FOO", "/v1/users/jdoe", 405, "GET, HEAD, PATCH"},
		{"FOO", "/nope", 404, ""},
		{"GET", "/nope", 404, ""},
		{"PATCH", "/v1/users", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			_, do := newApp(t, Options{AuthNone: true})
			resp := do(httptest.NewRequest(tc.method, tc.target, nil))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d", resp.StatusCode, tc.status)
			}
			p := problem(t, resp)
			if p.Status != tc.status {
				t.Errorf("problem status %d", p.Status)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q want %q", got, tc.allow)
			}
		})
	}
}

// rawExchange writes raw bytes on a fresh connection and returns every
// response the server sends back before it closes the connection.
func rawExchange(t *testing.T, addr, raw string) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A deadline, not a sleep: a server that keeps the connection open
	// fails the read instead of hanging the test.
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			if len(out) > 0 && (err == io.EOF || err == io.ErrUnexpectedEOF || strings.Contains(err.Error(), "reset")) {
				return out
			}
			if asNetErr(err, &ne) && ne.Timeout() {
				t.Fatalf("the server kept the connection open after %d responses", len(out))
			}
			if len(out) > 0 {
				return out
			}
			t.Fatalf("reading the first response: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		out = append(out, resp)
		if len(out) > 4 {
			return out
		}
	}
}

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

// TestProtocolErrorsAreProblems (issue 17, item 10): errors raised before
// routing (malformed request line, bad header, bad HTTP version, unknown
// method) are problem+json too; HTTP/9.9 is refused.
func TestProtocolErrorsAreProblems(t *testing.T) {
	addr, _ := serveReal(t, Options{AuthNone: true, ReadTimeout: 2 * time.Second})
	cases := []struct {
		name   string
		raw    string
		status int
	}{
		{"HTTP/1.1 control", "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200},
		{"HTTP/1.0 control", "GET /healthz HTTP/1.0\r\n\r\n", 200},
		{"HTTP/9.9", "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 505},
		{"HTTP/2.0 in text", "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"garbage protocol", "GET /healthz FOO/1.1\r\nHost: x\r\n\r\n", 400},
		{"no method", "/healthz\r\nHost: x\r\n\r\n", 400},
		{"space in target", "GET /healthz x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"space in header name", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", 400},
		{"space before the colon", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad-Name : y\r\n\r\n", 400},
		{"separator in header name", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad(Name): y\r\n\r\n", 400},
		{"absolute-form target", "GET http://x/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200},
		{"HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 400},
		{"unknown method", "FOO /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resps := rawExchange(t, addr, tc.raw)
			resp := resps[0]
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.status >= 400 {
				if ct := resp.Header.Get("Content-Type"); ct != canonicalproblem.ContentType {
					b, _ := io.ReadAll(resp.Body)
					t.Fatalf("content type %q: %s", ct, b)
				}
			}
		})
	}
}

// TestFramingErrorsCloseTheConnection (issue 17, item 11): after a framing
// error the connection is closed, so bytes after the body are never served
// as a second request (request smuggling).
func TestFramingErrorsCloseTheConnection(t *testing.T) {
	addr, applied := serveReal(t, Options{AuthNone: true, ReadTimeout: 2 * time.Second})
	const head = "PATCH /v1/users/jdoe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	const body = `{"user":{"display_name":"x"}}`
	// Connection: close ends the control case's connection at once.
	const smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	chunked := "1d\r\n" + body + "\r\n0\r\n\r\n"
	cases := []struct {
		name      string
		raw       string
		status    int
		responses int
		writes    int32
	}{
		{"pipelined control", head + "Transfer-Encoding: chunked\r\n\r\n" + chunked + smuggled, 200, 2, 1},
		{"CL then TE", head + "Content-Length: 64\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + smuggled, 400, 1, 0},
		{"TE then CL", head + "Transfer-Encoding: chunked\r\nContent-Length: 64\r\n\r\n" + chunked + smuggled, 400, 1, 0},
		{"TE not chunked", head + "Transfer-Encoding: xchunked\r\n\r\n" + chunked + smuggled, 400, 1, 0},
		{"TE chunked twice", head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + smuggled, 400, 1, 0},
		{"two Content-Lengths", head + "Content-Length: 29\r\nContent-Length: 0\r\n\r\n" + body + smuggled, 400, 1, 0},
		{"bad chunk size", head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + body + "\r\n0\r\n\r\n" + smuggled, 400, 1, 0},
		{"control byte in a header value", head + "X-Note: a\x01b\r\nContent-Length: 29\r\n\r\n" + body + smuggled, 400, 1, 0},
		{"DEL in a header value", head + "X-Note: a\x7fb\r\nContent-Length: 29\r\n\r\n" + body + smuggled, 400, 1, 0},
		{"tab in a header value is fine", head + "X-Note: a\tb\r\nContent-Length: 29\r\n\r\n" + body + smuggled, 200, 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := applied()
			resps := rawExchange(t, addr, tc.raw)
			if resps[0].StatusCode != tc.status {
				b, _ := io.ReadAll(resps[0].Body)
				t.Fatalf("status %d want %d: %s", resps[0].StatusCode, tc.status, b)
			}
			if len(resps) != tc.responses {
				t.Fatalf("%d responses on the connection, want %d (smuggled request served?)", len(resps), tc.responses)
			}
			if tc.status >= 400 {
				if !resps[0].Close {
					t.Error("no Connection: close on a framing error")
				}
				if ct := resps[0].Header.Get("Content-Type"); ct != canonicalproblem.ContentType {
					t.Errorf("content type %q", ct)
				}
			}
			if got := applied() - before; got != tc.writes {
				t.Errorf("adapter applied %d times, want %d", got, tc.writes)
			}
		})
	}
}

type requestCounter struct {
	mu   sync.Mutex
	seen []string
}

func (r *requestCounter) Request(_ context.Context, route, outcome string, status int, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, fmt.Sprintf("%s %s %d", route, outcome, status))
}

// TestRefusalsBeforeRoutingAreCounted: a framing refusal shows in the
// request metric like any other answer.
func TestRefusalsBeforeRoutingAreCounted(t *testing.T) {
	obs := &requestCounter{}
	addr, _ := serveReal(t, Options{AuthNone: true, Observer: obs})
	rawExchange(t, addr, "PATCH /v1/users/jdoe HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Contains(obs.seen, "unmatched invalid_request 400") {
		t.Errorf("observed %v", obs.seen)
	}
}

// TestMethodNotAllowedAfterAuth: with client keys, authentication comes
// first (a caller without a key learns nothing about routes), then 405.
func TestMethodNotAllowedAfterAuth(t *testing.T) {
	key := "k3y"
	_, do := newApp(t, Options{Clients: []Client{{Name: "ops", KeyHash: sha256.Sum256([]byte(key))}}})
	for hdr, want := range map[string]int{"": 401, "Bearer " + key: 405} {
		req := httptest.NewRequest("DELETE", "/v1/users/jdoe", nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		if got := do(req).StatusCode; got != want {
			t.Errorf("Authorization %q: %d want %d", hdr, got, want)
		}
	}
}
