package upstream

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/internal/faultinject"
)

// attemptsOf returns the attempts a call reports, answered or not.
func attemptsOf(t *testing.T, resp *adapters.Response, err error) (int, []int, []string) {
	t.Helper()
	if resp != nil {
		return resp.Attempts, resp.AttemptStatuses, resp.AttemptOutcomes
	}
	var ce *adapters.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("no attempts reported with %v", err)
	}
	return ce.Attempts, ce.AttemptStatuses, ce.AttemptOutcomes
}

// TestAttemptsWithoutAnAnswer: every request sent is counted and listed,
// with the transport outcome when no answer came. A hanging vendor hit 3
// times used to come back as 1 attempt with no statuses.
func TestAttemptsWithoutAnAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule faultinject.Rule
		max  int
		want string
	}{
		{"hang", faultinject.Rule{Hang: true}, 2, OutcomeTimeout},
		{"dropped connection", faultinject.Rule{Reset: true}, 3, OutcomeReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(o *Options) { o.AttemptTimeout = 50 * time.Millisecond; o.Retry.Max = tc.max })
			r.inj.Set(tc.rule)
			resp, err := r.client.Do(context.Background(), put(`{}`))
			if err == nil {
				t.Fatalf("no error: %+v", resp)
			}
			n, statuses, outcomes := attemptsOf(t, resp, err)
			sent := int(r.inj.Faulted() + r.inj.Reached())
			if n != tc.max+1 || n != sent || len(statuses) != n || len(outcomes) != n {
				t.Fatalf("attempts %d statuses %v outcomes %v; the vendor saw %d requests", n, statuses, outcomes, sent)
			}
			for i := range n {
				if statuses[i] != 0 || outcomes[i] != tc.want {
					t.Errorf("attempt %d: %d %q, want %q", i, statuses[i], outcomes[i], tc.want)
				}
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse("http://" + ln.Addr().String())
		ln.Close()
		c, err := New(Options{Vendor: "acme", BaseURL: u, Retry: RetryPolicy{Max: 1, MinWait: time.Millisecond, MaxWait: time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(context.Background(), put(`{}`))
		n, statuses, outcomes := attemptsOf(t, resp, err)
		if n != 2 || !slices.Equal(statuses, []int{0, 0}) || !slices.Equal(outcomes, []string{OutcomeRefused, OutcomeRefused}) {
			t.Errorf("attempts %d %v %v", n, statuses, outcomes)
		}
	})
}

// TestAttemptsCountNetHTTPReplays: a vendor that drops a kept-alive
// connection after reading a GET makes net/http send the GET again on a
// new connection inside one round trip. Both requests reached the vendor,
// so both are attempts.
func TestAttemptsCountNetHTTPReplays(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		seen  int
		conns []net.Conn
		wg    sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close() // ends the reads of kept-alive connections
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				br := bufio.NewReader(conn)
				for served := 0; ; served++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					mu.Lock()
					seen++
					mu.Unlock()
					if served == 1 {
						return // the second request on a connection: dropped unanswered
					}
					_ = req.Body.Close()
					_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"))
				}
			}()
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String())
	c, err := New(Options{Vendor: "acme", BaseURL: u, Retry: RetryPolicy{Max: 0}})
	if err != nil {
		t.Fatal(err)
	}
	get := &adapters.Call{Name: "get user", Kind: adapters.Read, Method: "GET", Path: "/v1/users/1"}
	if resp, err := c.Do(context.Background(), get); err != nil || resp.Attempts != 1 {
		t.Fatalf("first GET: %+v %v", resp, err)
	}
	resp, err := c.Do(context.Background(), get)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if resp.Attempts != 2 || seen != 3 || !slices.Equal(resp.AttemptStatuses, []int{0, 200}) || !slices.Equal(resp.AttemptOutcomes, []string{OutcomeReset, ""}) {
		t.Errorf("second GET: attempts %d %v %v; the vendor saw %d requests in all", resp.Attempts, resp.AttemptStatuses, resp.AttemptOutcomes, seen)
	}
}
