package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// The vendor calls go through fasthttp unless a proxy is configured for
// the vendor, which only net/http's transport can use.
func TestTransportFollowsProxyVariables(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		env        map[string]string
		wantNet    bool
	}{
		{"no proxy", "http://vendor.example", nil, false},
		{"HTTP_PROXY", "http://vendor.example", map[string]string{"HTTP_PROXY": "http://proxy.example:3128"}, true},
		{"HTTPS_PROXY, https vendor", "https://vendor.example", map[string]string{"HTTPS_PROXY": "http://proxy.example:3128"}, true},
		{"HTTPS_PROXY, http vendor", "http://vendor.example", map[string]string{"HTTPS_PROXY": "http://proxy.example:3128"}, false},
		{"NO_PROXY names the vendor", "http://vendor.example", map[string]string{"HTTP_PROXY": "http://proxy.example:3128", "NO_PROXY": "vendor.example"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "REQUEST_METHOD"} {
				t.Setenv(k, tc.env[k])
			}
			u, _ := url.Parse(tc.base)
			c, err := New(Options{Vendor: "acme", BaseURL: u})
			if err != nil {
				t.Fatal(err)
			}
			_, isNet := c.o.Transport.(*http.Transport)
			_, isFast := c.o.Transport.(*fastTransport)
			if isNet != tc.wantNet || isFast == tc.wantNet {
				t.Fatalf("transport %T, want net/http: %v", c.o.Transport, tc.wantNet)
			}
		})
	}
}

// A request the vendor drops unanswered is sent once more at once when
// net/http would have (a GET), without the retry policy (Max 0 here); a
// PUT is left to the policy. Either way every send is an attempt.
func TestTransportResendsLikeNetHTTP(t *testing.T) {
	for _, tc := range []struct {
		method       string
		wantAttempts int
		wantOK       bool
	}{
		{http.MethodGet, 2, true},
		{http.MethodPut, 1, false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			var seen atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if seen.Add(1) == 1 {
					conn, _, err := w.(http.Hijacker).Hijack()
					if err == nil {
						_ = conn.Close() // no answer at all
					}
					return
				}
				_, _ = w.Write([]byte(`{}`))
			}))
			t.Cleanup(srv.Close)
			u, _ := url.Parse(srv.URL)
			c, err := New(Options{Vendor: "acme", BaseURL: u, Retry: RetryPolicy{Max: 0}})
			if err != nil {
				t.Fatal(err)
			}
			call := &adapters.Call{Name: "user", Kind: adapters.Read, Method: tc.method, Path: "/v1/users/1"}
			if tc.method == http.MethodPut {
				call.Kind, call.Body = adapters.Write, []byte(`{}`)
			}
			resp, err := c.Do(context.Background(), call)
			n, statuses, outcomes := attemptsOf(t, resp, err)
			if (err == nil) != tc.wantOK || n != tc.wantAttempts || int(seen.Load()) != n {
				t.Fatalf("err %v, attempts %d (%v %v), the vendor saw %d", err, n, statuses, outcomes, seen.Load())
			}
			if outcomes[0] != OutcomeReset {
				t.Fatalf("first attempt %q, want %q", outcomes[0], OutcomeReset)
			}
		})
	}
}

// An answer over the body cap is refused as before, with its status, and
// not retried: it was an answer.
func TestTransportBodyOverCap(t *testing.T) {
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		_, _ = w.Write([]byte(strings.Repeat("x", 2048)))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	c, err := New(Options{Vendor: "acme", BaseURL: u, MaxBody: 1024, Retry: RetryPolicy{Max: 2, MinWait: time.Millisecond, MaxWait: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(context.Background(), put(`{}`))
	ce := canonical.AsError(err)
	if ce.Code != canonical.CodeUpstreamError || ce.VendorStatus != 200 || !strings.Contains(ce.Message, "too large") || seen.Load() != 1 {
		t.Fatalf("err %v (vendor status %d), the vendor saw %d", err, ce.VendorStatus, seen.Load())
	}
}

// The answer's status, headers and body reach the caller as net/http's
// did, and the request's headers, path and body reach the vendor as sent.
func TestTransportCarriesRequestAndAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPut || r.URL.EscapedPath() != "/v1/users/a%2Fb" || r.URL.RawQuery != "x=1&y=%20" ||
			r.Header.Get("Authtoken") != "QSDK t" || string(b) != `{"a":1}` ||
			r.Header.Get("User-Agent") != "Go-http-client/1.1" {
			t.Errorf("vendor got %s %s?%s %v %q", r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header, b)
		}
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("X-Vendor-Id", "42")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	c, err := New(Options{Vendor: "acme", BaseURL: u})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(context.Background(), &adapters.Call{Name: "put user", Kind: adapters.Write, Method: "PUT", Path: "/v1/users/a%2Fb?x=1&y=%20",
		Body: []byte(`{"a":1}`), Header: http.Header{"Authtoken": {"QSDK t"}, "Content-Type": {"application/json"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 201 || string(resp.Body) != `{"ok":true}` || resp.Header.Get("X-Vendor-Id") != "42" ||
		!slices.Equal(resp.Header.Values("Set-Cookie"), []string{"a=1", "b=2"}) {
		t.Fatalf("answer %d %v %q", resp.Status, resp.Header, resp.Body)
	}
}

// A cancelled request sends nothing.
func TestTransportSendsNothingOnceCancelled(t *testing.T) {
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen.Add(1) }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	c, err := New(Options{Vendor: "acme", BaseURL: u})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Do(ctx, put(`{}`)); err == nil || seen.Load() != 0 {
		t.Fatalf("err %v, the vendor saw %d requests", err, seen.Load())
	}
}

// A vendor on IPv6 is reached, as it was through net/http.
func TestTransportDialsIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{}`)) }))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	c, err := New(Options{Vendor: "acme", BaseURL: u})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Do(context.Background(), put(`{}`)); err != nil || resp.Status != 200 {
		t.Fatalf("%s: %+v %v", srv.URL, resp, err)
	}
}

// BenchmarkTransport sends one PUT and reads its answer through net/http's
// Transport and through fastTransport, from one goroutine and from many, to
// a fasthttp server on loopback in the same process (the cheapest server at
// hand, so the clients' difference is most of what is left).
func BenchmarkTransport(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	fs := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.SetBodyString(`{"errorMessage":"","errorCode":0}`) }}
	go func() { _ = fs.Serve(ln) }()
	b.Cleanup(func() { _ = fs.Shutdown() })
	srv := struct{ URL string }{"http://" + ln.Addr().String()}
	nt := http.DefaultTransport.(*http.Transport).Clone()
	nt.MaxIdleConns, nt.MaxIdleConnsPerHost = 256, 256
	for _, tr := range []struct {
		name string
		rt   http.RoundTripper
	}{{"net-http", nt}, {"fasthttp", newFastTransport(Pool{MaxIdle: 256, IdleTimeout: time.Minute}, 4<<20)}} {
		send := func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/V4/user/42", strings.NewReader(`{"users":[{"email":"a@b"}]}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := tr.rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.Run(tr.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				send(b)
			}
		})
		b.Run(tr.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					send(b)
				}
			})
		})
	}
}

// copyHeader shares one string and one slice among the answer's values; a
// repeated name, an empty value or a later append must not see another
// header's values.
func TestCopyHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string // the answer's header lines
		want http.Header
	}{
		{"none", "", http.Header{}},
		{"common and custom", "Content-Type: application/json\r\nX-Vendor-Id: 42\r\n",
			http.Header{"Content-Type": {"application/json"}, "X-Vendor-Id": {"42"}}},
		{"repeated, interleaved", "Warning: 1\r\nX-A: a\r\nWarning: 2\r\nX-B: \r\nWarning: 3\r\n",
			http.Header{"Warning": {"1", "2", "3"}, "X-A": {"a"}, "X-B": {""}}},
		{"cookies", "Set-Cookie: a=1\r\nX-A: a\r\nSet-Cookie: b=2\r\n",
			http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-A": {"a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp fasthttp.Response
			resp.Header.DisableNormalizing()
			if err := resp.Header.Read(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + tc.raw + "\r\n"))); err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			copyHeader(h, &resp.Header)
			h.Del("Content-Length")
			if diff := cmp.Diff(tc.want, h); diff != "" {
				t.Fatalf("header (-want +got):\n%s", diff)
			}
			// Appending to one name's values leaves every other's alone.
			for k := range h {
				h[k] = append(h[k], "appended")
			}
			for k, vs := range h {
				if want := append(slices.Clone(tc.want[k]), "appended"); !slices.Equal(vs, want) {
					t.Errorf("after appends, %s = %q, want %q", k, vs, want)
				}
			}
		})
	}
}

// An answer without a Content-Type reaches the adapter without one, as
// through net/http, not with fasthttp's default.
func TestTransportAddsNoContentType(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	for name, tr := range map[string]http.RoundTripper{"net/http": http.DefaultTransport, "fasthttp": newFastTransport(Pool{IdleTimeout: time.Minute}, 1<<20)} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, u.String()+"/v1/users/1", strings.NewReader(`{}`))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent || resp.Header.Values("Content-Type") != nil {
				t.Fatalf("answer %d %v, want 204 without Content-Type", resp.StatusCode, resp.Header)
			}
		})
	}
}

// A vendor's answer headers may be large (a session cookie carrying a JWT,
// a long Content-Security-Policy): net/http read up to 10 MB of them, and
// fasthttp's default buffer stopped at 4 KB.
func TestTransportReadsLargeAnswerHeaders(t *testing.T) {
	for _, size := range []int{3 << 10, 8 << 10, 48 << 10} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			big := strings.Repeat("a", size)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Add("Set-Cookie", "AtmoAuthToken="+big+"; Path=/")
				w.Header().Set("Content-Security-Policy", "default-src 'self'")
				_, _ = w.Write([]byte(`{}`))
			}))
			t.Cleanup(srv.Close)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(`{}`))
			resp, err := newFastTransport(Pool{IdleTimeout: time.Minute}, 1<<20).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if got := resp.Header.Get("Set-Cookie"); got != "AtmoAuthToken="+big+"; Path=/" {
				t.Fatalf("Set-Cookie has %d bytes, want %d", len(got), len("AtmoAuthToken="+big+"; Path=/"))
			}
		})
	}
}

// An answer whose headers are over the limit fails the call once, named as
// such and not retried, on either transport; a malformed answer's error
// does not quote its bytes (a cookie in it is a secret).
func TestTransportAnswerHeaderLimits(t *testing.T) {
	const secret = "s3cr3t-session-token"
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Set-Cookie", "AtmoAuthToken="+secret+strings.Repeat("a", maxAnswerHeader)+"; Path=/")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(big.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nSet-Cookie: AtmoAuthToken=" + secret + "\r\nno colon in this line\r\n\r\n"))
			}()
		}
	}()
	proxy := &http.Transport{MaxResponseHeaderBytes: maxAnswerHeader} // what New builds behind a proxy
	for _, tc := range []struct {
		name, base string
		transport  http.RoundTripper
		attempts   int
		want       string
	}{
		{"over the limit, fasthttp", big.URL, nil, 1, "over 64 KiB"},
		{"over the limit, net/http", big.URL, proxy, 1, "over 64 KiB"},
		{"malformed, fasthttp", "http://" + ln.Addr().String(), nil, 3, "vendor unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := url.Parse(tc.base)
			c, err := New(Options{Vendor: "acme", BaseURL: u, Transport: tc.transport,
				Retry: RetryPolicy{Max: 2, MinWait: time.Millisecond, MaxWait: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Do(context.Background(), &adapters.Call{Name: "login", Kind: adapters.Auth, Method: "POST", Path: "/login", Body: []byte(`{}`)})
			var ce *adapters.CallError
			if !errors.As(err, &ce) || ce.Attempts != tc.attempts || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (%+v), want %q after %d attempts", err, ce, tc.want, tc.attempts)
			}
			st := c.Status()
			if st.LastCall == nil || strings.Contains(st.LastCall.Cause, secret) || strings.Contains(err.Error(), secret) {
				t.Fatalf("the answer's bytes leaked: err %q, last call %+v", err, st.LastCall)
			}
		})
	}
}

// Interim 1xx answers (103 Early Hints before the real one) are skipped, as
// net/http does, and the connection stays in step: each call gets its own
// final answer.
func TestTransportSkipsInterimAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept() // one connection for every call
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for n := 1; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			body := `{"n":` + strconv.Itoa(n) + `}`
			_, _ = c.Write([]byte("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"))
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body))
		}
	}()
	tr := newFastTransport(Pool{MaxPerHost: 1, IdleTimeout: time.Minute}, 1<<20)
	for n := 1; n <= 3; n++ {
		req, _ := http.NewRequest(http.MethodPut, "http://"+ln.Addr().String()+"/v1/users/1", strings.NewReader(`{}`))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if want := `{"n":` + strconv.Itoa(n) + `}`; resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("call %d: %d %s, want 200 %s", n, resp.StatusCode, b, want)
		}
	}
}

// The attempt writes its trace headers straight into fasthttp's request:
// what the propagator injects there is what it extracts, under the names
// http.Header would have used, replacing a header of the same name.
func TestFastHeaderCarrier(t *testing.T) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled})
	m, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(m)
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), sc), bag)

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.Set("Traceparent", "00-stale")
	prop.Inject(ctx, fastHeaderCarrier{&req.Header})
	want := http.Header{}
	prop.Inject(ctx, propagation.HeaderCarrier(want))

	got := http.Header{}
	for k, v := range req.Header.All() {
		got.Add(string(k), string(v))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-http.Header +fasthttp):\n%s", diff)
	}
	keys := fastHeaderCarrier{&req.Header}.Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"Baggage", "Traceparent"}) {
		t.Errorf("keys %v", keys)
	}
	back := prop.Extract(context.Background(), fastHeaderCarrier{&req.Header})
	if trace.SpanContextFromContext(back).SpanID() != sc.SpanID() || baggage.FromContext(back).Member("tenant").Value() != "acme" {
		t.Errorf("extracted %v %v", trace.SpanContextFromContext(back), baggage.FromContext(back))
	}
}
