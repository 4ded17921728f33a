package httpapi

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// serveReal runs the app on a loopback listener: the limits under test
// (body size, header size, read timeout) live in the server, not the router.
func serveReal(t *testing.T, o Options) (addr string, applied func() int32) {
	t.Helper()
	a := &countingAdapter{}
	d, err := dispatch.New([]dispatch.Target{{Name: "frontier", Adapter: a, Doer: okDoer}}, dispatch.Options{DefaultTargets: []string{"frontier"}, Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	o.Dispatcher = d
	app := buildApp(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return ln.Addr().String(), a.calls.Load
}

// TestHostileInputs: every row is refused with a 4xx and nothing reaches
// the adapter.
func TestHostileInputs(t *testing.T) {
	addr, applied := serveReal(t, Options{AuthNone: true, BodyLimit: 64 << 10, MaxHeaderBytes: 8 << 10, ReadTimeout: 2 * time.Second})
	deep := strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)
	cases := []struct {
		name   string
		path   string
		body   string
		header map[string]string
		want   int
	}{
		{"huge body", "/v1/users/jdoe", `{"user":{"display_name":"` + strings.Repeat("a", 70<<10) + `"}}`, nil, 413},
		{"deep nesting in metadata", "/v1/users/jdoe", `{"targets":["frontier"],"user":{"metadata":` + deep + `}}`, nil, 400},
		{"invalid utf-8", "/v1/users/jdoe", "{\"user\":{\"display_name\":\"\xff\xfe\"}}", nil, 400},
		{"nul byte in a name", "/v1/users/jdoe", `{"user":{"display_name":"a\u0000b"}}`, nil, 400},
		{"crlf in a name", "/v1/users/jdoe", `{"user":{"given_name":"a\r\nX-Injected: 1"}}`, nil, 400},
		{"path traversal id", "/v1/users/..%2F..%2Fadmin", `{"user":{"display_name":"x"}}`, nil, 400},
		{"encoded slash id", "/v1/users/a%2Fb", `{"user":{"display_name":"x"}}`, nil, 400},
		{"traversal in vendor id", "/v1/users/jdoe", `{"vendor_ids":{"frontier":"../../v1beta1/admin"},"user":{"display_name":"x"}}`, nil, 400},
		{"url-encoded vendor id", "/v1/users/jdoe", `{"vendor_ids":{"frontier":"a%2Fb"},"user":{"display_name":"x"}}`, nil, 400},
		{"duplicate keys", "/v1/users/jdoe", `{"user":{"display_name":"x","display_name":"y"}}`, nil, 400},
		{"null", "/v1/users/jdoe", `{"user":{"display_name":null}}`, nil, 400},
		{"huge number", "/v1/users/jdoe", `{"user":{"plan":{"id":1e400}}}`, nil, 400},
		{"not json", "/v1/users/jdoe", `<xml/>`, nil, 400},
		{"wrong content type", "/v1/users/jdoe", `{"user":{"display_name":"x"}}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"json in another charset", "/v1/users/jdoe", `{"user":{"display_name":"x"}}`, map[string]string{"Content-Type": "application/json; charset=utf-16"}, 415},
		{"json in utf-8, said so", "/v1/users/jdoe", `{"user":{"display_name":"x"}}`, map[string]string{"Content-Type": "application/json; charset=UTF-8"}, 200},
		{"huge header", "/v1/users/jdoe", `{"user":{"display_name":"x"}}`, map[string]string{"X-Big": strings.Repeat("a", 16<<10)}, 400},
		{"bad idempotency key", "/v1/users/jdoe", `{"user":{"display_name":"x"}}`, map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := applied()
			req, _ := http.NewRequest("PATCH", "http://"+addr+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil && tc.want == 413 && applied() == before {
				// The server may answer 413 and close while the client is
				// still sending the oversized body (broken pipe): refused all
				// the same, and nothing reached the adapter.
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := tc.want
			if tc.name == "bad idempotency key" {
				want = 200 // no guard configured here: the key is ignored; the dispatcher tests cover validation
			}
			if resp.StatusCode != want {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, want, b)
			}
			if want >= 400 && applied() != before {
				t.Error("a hostile request reached the adapter")
			}
		})
	}
}

// TestSlowlorisIsCut: a client that sends headers a byte at a time cannot
// hold a connection past the read timeout.
func TestSlowlorisIsCut(t *testing.T) {
	addr, _ := serveReal(t, Options{AuthNone: true, ReadTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, _ = fmt.Fprint(conn, "PATCH /v1/users/jdoe HTTP/1.1\r\nHost: x\r\n")
	// Trickle a header line slower than the timeout allows, then see the
	// server hang up.
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	for i := 0; i < 50; i++ {
		if _, err := conn.Write([]byte("X")); err != nil {
			break
		}
		if _, err := r.Peek(1); err == nil {
			break // the server answered (408) or closed
		}
	}
	if time.Since(start) > 4*time.Second {
		t.Fatalf("the connection was held for %s", time.Since(start))
	}
}

func TestRateLimitPerClient(t *testing.T) {
	key := "rl-key"
	sum := sha256.Sum256([]byte(key))
	addr, _ := serveReal(t, Options{Clients: []Client{{Name: "c", KeyHash: sum, RateLimit: 2, RateWindow: time.Minute}}})
	var last *http.Response
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("PATCH", "http://"+addr+"/v1/users/jdoe", strings.NewReader(`{"user":{"display_name":"x"}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = resp
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Errorf("third request: %d Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
	}
}
