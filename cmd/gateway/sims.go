package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters/akana/akanasim"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/adapters/volterra/volterrasim"
	"github.com/identity-gateway/identity-gateway/internal/faultinject"
)

// simulator is one vendor simulator seeded with its demo user, behind a
// fault injector, and the ${VAR}s gateway.yaml needs to reach it.
type simulator struct {
	name    string
	handler http.Handler
	env     map[string]string // without the URL
}

// simulators lists every vendor simulator; each is seeded with a demo user
// and, for load tests and the multi-replica proof, extra numbered users.
func simulators(extra int) []simulator {
	f := frontiersim.New()
	fd := f.SeedDemo()
	f.SeedUsers(extra)
	v := volterrasim.New()
	vd := v.SeedDemo()
	v.SeedUsers(extra)
	ak := akanasim.New(akanasim.DemoTenant)
	akd := ak.SeedDemo()
	ak.SeedUsers(extra)
	cv := commvaultsim.New()
	cvd := cv.SeedDemo()
	cv.SeedUsers(extra)
	return []simulator{
		{name: "commvault", handler: cv, env: map[string]string{"COMMVAULT_USERNAME": cvd.Username, "COMMVAULT_PASSWORD": cvd.Password, "COMMVAULT_DEMO_ID": fmt.Sprint(cvd.UserID)}},
		{name: "akana", handler: ak, env: map[string]string{"AKANA_USERNAME": akd.AdminEmail, "AKANA_PASSWORD": akd.AdminPassword, "AKANA_DEMO_ID": akd.UserID, "AKANA_TENANT": akd.Tenant}},
		{name: "volterra", handler: v, env: map[string]string{"VOLTERRA_TOKEN": vd.Token, "VOLTERRA_DEMO_ID": vd.UserUUID}},
		{name: "frontier", handler: f, env: map[string]string{"FRONTIER_USERNAME": fd.ClientID, "FRONTIER_PASSWORD": fd.ClientSecret, "FRONTIER_DEMO_ID": fd.UserID}},
	}
}

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

// startSimsAt starts the simulators on consecutive ports from base (0: any
// free ports), in the order volterra, akana, commvault, frontier.
func startSimsAt(_ context.Context, host string, base, extraUsers int) (*simSet, error) {
	order := map[string]int{"volterra": 0, "akana": 1, "commvault": 2, "frontier": 3}
	s := &simSet{addrs: map[string]string{}, env: map[string]string{}, handlers: map[string]http.Handler{}}
	for _, sim := range simulators(extraUsers) {
		port := 0
		if base != 0 {
			port = base + order[sim.name]
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s simulator: %w", sim.name, err)
		}
		srv := &http.Server{Handler: faultinject.New(sim.handler), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		s.servers = append(s.servers, srv)
		s.handlers[sim.name] = sim.handler
		url := "http://" + ln.Addr().String()
		s.addrs[sim.name] = url
		s.env[strings.ToUpper(sim.name)+"_URL"] = url
		for k, v := range sim.env {
			s.env[k] = v
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
