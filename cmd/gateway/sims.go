package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters/akana/akanasim"
	"github.com/identity-gateway/identity-gateway/adapters/builtin"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/internal/faultinject"
)

// simSet is the running simulators.
type simSet struct {
	servers []*http.Server
	addrs   map[string]string
	env     map[string]string
	// handlers are the simulators themselves (before the fault injector),
	// so tests can read a vendor's stored state directly.
	handlers map[string]http.Handler
}

// startSims starts every simulator on its own loopback listener at addr
// (port 0: any free port).
func startSims(ctx context.Context, addr string) (*simSet, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return startSimsAt(ctx, host, 0, 0)
}

// startSimsAt starts every built-in vendor's simulator (builtin.Vendors),
// each seeded with its demo user and extraUsers numbered users (load tests,
// the multi-replica proof) behind a fault injector, on consecutive ports
// from base in the registry's port order (base 0: any free ports).
func startSimsAt(_ context.Context, host string, base, extraUsers int) (*simSet, error) {
	s := &simSet{addrs: map[string]string{}, env: map[string]string{}, handlers: map[string]http.Handler{}}
	for i, v := range builtin.Vendors() {
		port := 0
		if base != 0 {
			port = base + i
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s simulator: %w", v.Type, err)
		}
		handler, env := v.Sim(extraUsers)
		srv := &http.Server{Handler: faultinject.New(handler), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		s.servers = append(s.servers, srv)
		s.handlers[v.Type] = handler
		url := "http://" + ln.Addr().String()
		s.addrs[v.Type] = url
		s.env[strings.ToUpper(v.Type)+"_URL"] = url
		for k, val := range env {
			s.env[k] = val
		}
	}
	return s, nil
}

// Env is the ${VAR} values gateway.yaml needs for these simulators.
func (s *simSet) Env() map[string]string { return s.env }

// EnvLines are the same, sorted, as KEY=value lines.
func (s *simSet) EnvLines() []string {
	var out []string
	for k, v := range s.env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Describe lists name=url pairs.
func (s *simSet) Describe() string {
	var out []string
	for n, u := range s.addrs {
		out = append(out, n+"="+u)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// Close stops every simulator.
func (s *simSet) Close() error {
	var errs []error
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		errs = append(errs, srv.Shutdown(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// seededUser is the i-th seeded user as a --users line for gateway
// migrate: canonical id "seeded<i>" and its account at each simulator that
// seeds one per user (Volterra's are token owners, not migration targets).
func seededUser(i int) migrateUser {
	return migrateUser{ID: "seeded" + strconv.Itoa(i), VendorIDs: map[string]string{
		"akana":     akanasim.SeededUserID(i, akanasim.DemoTenant),
		"frontier":  frontiersim.SeededUserID(i),
		"commvault": strconv.Itoa(int(commvaultsim.SeededUserID(i))),
	}}
}

// writeSeededUsers writes the n seeded users as gateway migrate's --users
// JSONL, streamed.
func writeSeededUsers(path string, n int) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range n {
		if err := enc.Encode(seededUser(i)); err != nil {
			return err
		}
	}
	return w.Flush()
}
