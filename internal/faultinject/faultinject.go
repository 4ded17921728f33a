// Package faultinject is an http.Handler middleware that a vendor simulator
// can be switched into, for tests, `gateway sim` and the multi-replica proof:
// fail the next N requests, fail a fraction, answer 429 with Retry-After,
// delay, hang until the client gives up, or reset the connection. It uses the
// standard library only, like the simulators it wraps.
//
// Control it in process with Set/Clear, or over HTTP on the same handler:
// POST /_fault with a JSON Rule, DELETE /_fault. Requests under /_sim/ and
// /_fault are never faulted.
package faultinject

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Rule describes the faults to inject. The zero Rule injects nothing.
type Rule struct {
	// FailTimes fails the next N matching requests.
	FailTimes int `json:"fail_times,omitempty"`
	// Fraction fails this share (0..1) of matching requests, from a seeded
	// generator so runs repeat.
	Fraction float64 `json:"fraction,omitempty"`
	// Status of an injected failure (default 503).
	Status int `json:"status,omitempty"`
	// RetryAfter is sent with injected failures when set.
	RetryAfter string `json:"retry_after,omitempty"`
	// Delay every matching request by this much ("200ms").
	Delay Duration `json:"delay,omitempty"`
	// Hang holds matching failures until the client goes away.
	Hang bool `json:"hang,omitempty"`
	// Reset closes the connection without an answer instead of a status.
	Reset bool `json:"reset,omitempty"`
	// PathPrefix and Methods restrict which requests match.
	PathPrefix string   `json:"path_prefix,omitempty"`
	Methods    []string `json:"methods,omitempty"`
	// Seed for Fraction (default 1).
	Seed uint64 `json:"seed,omitempty"`
}

// Duration reads "200ms" in JSON.
type Duration time.Duration

// UnmarshalJSON reads a Go duration string or nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*d = Duration(n)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Injector wraps a handler.
type Injector struct {
	next     http.Handler
	reached  atomic.Int64
	inflight atomic.Int64
	faulted  atomic.Int64

	mu     sync.Mutex
	rule   Rule
	left   int
	rng    *rand.Rand
	freeCh chan struct{} // closed by Set/Clear to free hanging requests
}

func (i *Injector) release() <-chan struct{} {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.freeCh == nil {
		i.freeCh = make(chan struct{})
	}
	return i.freeCh
}

// New wraps next.
func New(next http.Handler) *Injector { return &Injector{next: next} }

// Set replaces the rule.
func (i *Injector) Set(r Rule) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if r.Status == 0 {
		r.Status = http.StatusServiceUnavailable
	}
	if r.Seed == 0 {
		r.Seed = 1
	}
	i.rule, i.left = r, r.FailTimes
	if i.freeCh != nil {
		close(i.freeCh)
		i.freeCh = nil
	}
	i.rng = rand.New(rand.NewPCG(r.Seed, r.Seed^0x9e3779b97f4a7c15))
}

// Clear removes every fault.
func (i *Injector) Clear() { i.Set(Rule{}) }

// Reached counts requests that got through to the wrapped handler.
func (i *Injector) Reached() int64 { return i.reached.Load() }

// Faulted counts requests answered with an injected fault.
func (i *Injector) Faulted() int64 { return i.faulted.Load() }

// decide says whether this request fails, and how long to delay it.
func (i *Injector) decide(r *http.Request) (fail bool, rule Rule) {
	i.mu.Lock()
	defer i.mu.Unlock()
	rule = i.rule
	if rule.PathPrefix != "" && !strings.HasPrefix(r.URL.Path, rule.PathPrefix) {
		return false, Rule{}
	}
	if len(rule.Methods) > 0 {
		ok := false
		for _, m := range rule.Methods {
			ok = ok || strings.EqualFold(m, r.Method)
		}
		if !ok {
			return false, Rule{}
		}
	}
	switch {
	case i.left > 0:
		i.left--
		return true, rule
	case rule.Fraction > 0 && i.rng != nil && i.rng.Float64() < rule.Fraction:
		return true, rule
	case rule.Hang && rule.FailTimes == 0 && rule.Fraction == 0:
		return true, rule
	case rule.Reset && rule.FailTimes == 0 && rule.Fraction == 0:
		return true, rule
	}
	return false, rule
}

func (i *Injector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_fault" {
		i.control(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		i.next.ServeHTTP(w, r)
		return
	}
	i.inflight.Add(1)
	defer i.inflight.Add(-1)
	fail, rule := i.decide(r)
	if d := time.Duration(rule.Delay); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if !fail {
		i.reached.Add(1)
		i.next.ServeHTTP(w, r)
		return
	}
	i.faulted.Add(1)
	switch {
	case rule.Hang:
		// net/http notices a client going away only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-i.release():
		}
	case rule.Reset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // net/http's documented way to abort a response
	default:
		if rule.RetryAfter != "" {
			w.Header().Set("Retry-After", rule.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rule.Status)
		_, _ = w.Write([]byte(`{"error":"injected fault"}`))
	}
}

func (i *Injector) control(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost, http.MethodPut:
		var rule Rule
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rule); err != nil {
			http.Error(w, "bad rule: "+err.Error(), http.StatusBadRequest)
			return
		}
		i.Set(rule)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		i.Clear()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		i.mu.Lock()
		rule := i.rule
		i.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"rule": rule, "reached": i.Reached(), "faulted": i.Faulted(), "inflight": i.inflight.Load()})
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}
