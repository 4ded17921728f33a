package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	identitygateway "github.com/identity-gateway/identity-gateway"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/decode"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// newFlags is a command's flag set; its usage starts with the command's
// synopsis and description from commandDocs.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		d, _ := docOf(name)
		fmt.Fprintf(w, "usage: gateway %s %s\n\n%s\n", name, d.args, d.about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "gateway.yaml", "config file")
	listen := fs.String("listen", "", "listen address (overrides server.listen)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (profiling)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := startPprof(*pprofAddr); err != nil {
		return err
	}
	cfg, err := config.LoadFile(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	if err := cfg.RequireHTTPS(); err != nil {
		return err
	}
	if cfg.Auth.Mode == "api_key" && len(cfg.Clients) == 0 {
		return errors.New("clients: serve refuses to start with no clients; add clients (gateway hash-key) or set auth.mode: none explicitly")
	}
	if err := refusePlaceholderKeys(cfg); err != nil {
		return err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	return serve(ctx, cfg, buildOptions{LogOutput: stdout}, stdout, nil)
}

// serve builds the gateway, listens, and shuts down gracefully when ctx ends:
// stop accepting, let in-flight requests finish within the grace period,
// then close stores and flush telemetry. ready, when set, receives the
// bound address.
func serve(ctx context.Context, cfg *config.Config, o buildOptions, stdout io.Writer, ready func(addr string)) error {
	g, err := build(ctx, cfg, o)
	if err != nil {
		return err
	}
	if cfg.Auth.Mode == "none" || o.AuthNone {
		g.logger.Warn("CLIENT AUTHENTICATION IS OFF (auth.mode none): every caller may write every target; never expose this listener")
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("server.listen: %w", err), g.Shutdown(context.Background()))
	}
	if t := cfg.Server.TLS; t.CertFile != "" {
		tc, err := serverTLS(t)
		if err != nil {
			ln.Close()
			return errors.Join(fmt.Errorf("server.tls: %w", err), g.Shutdown(context.Background()))
		}
		ln = tls.NewListener(ln, tc)
	}
	addr := ln.Addr().String()
	g.logger.Info("listening", "addr", addr, "targets", g.dispatcher.Targets(), "tls", cfg.Server.TLS.CertFile != "")
	if ready != nil {
		ready(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- g.api.Serve(ln) }()
	select {
	case err := <-errc:
		return errors.Join(err, g.Shutdown(context.Background()))
	case <-ctx.Done():
	}
	grace := cfg.Server.ShutdownGrace.D()
	g.logger.Info("shutting down", "grace", grace.String())
	err = g.api.Shutdown(grace)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, g.Shutdown(sctx))
}

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "listen address")
	path := fs.String("config", "", "config file (default: the built-in gateway.yaml)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (profiling)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := startPprof(*pprofAddr); err != nil {
		return err
	}
	sims, err := startSims(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sims.Close()
	cfg, err := devConfig(*path, sims)
	if err != nil {
		return err
	}
	cfg.Server.Listen = *listen
	return serve(ctx, cfg, buildOptions{LogOutput: stdout, AuthNone: true}, stdout, func(addr string) {
		fmt.Fprintf(stdout, "identity-gateway dev: listening on http://%s (simulators: %s)\n", addr, sims.Describe())
		fmt.Fprintf(stdout, "try:\n  curl -s -X PATCH http://%s/v1/users/demo -H 'Content-Type: application/json' \\\n    -d '{\"targets\":[\"frontier\",\"volterra\",\"akana\",\"commvault\"],\"on_unsupported\":\"skip\",\"user\":{\"display_name\":\"Jane Doe\",\"given_name\":\"Jane\",\"enabled\":true}}'\n", addr)
		fmt.Fprintf(stdout, "then read it back at every target, with the drift between them:\n  curl -s http://%s/v1/users/demo   (or: gateway get demo)\n", addr)
	})
}

// devConfig loads the chosen (or built-in) config with the simulators'
// addresses and demo credentials supplied as its ${VAR}s, the memory store
// and auth off.
func devConfig(path string, sims *simSet) (*config.Config, error) {
	data := identitygateway.DefaultConfig
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		data = b
	}
	env := sims.Env()
	cfg, err := config.Load(data, func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		return nil, err
	}
	cfg.Idempotency.Store = "memory"
	cfg.Links.Store = "memory"
	cfg.Auth.Mode = "none"
	return cfg, nil
}

func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim", stderr)
	host := fs.String("host", "127.0.0.1", "listen host")
	base := fs.Int("base-port", 9101, "first port; the simulators take one port each, in the vendor registry's order (adapters/builtin; volterra first)")
	seed := fs.Int("seed-users", 0, "also seed this many numbered users per simulator (migrations, load tests, the multi-replica proof)")
	usersFile := fs.String("users-file", "", "write the seeded users as gateway migrate --users JSONL to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seed < 0 || *seed > 1_000_000 {
		return errors.New("--seed-users: must be between 0 and 1000000")
	}
	if *usersFile != "" {
		if err := writeSeededUsers(*usersFile, *seed); err != nil {
			return fmt.Errorf("--users-file: %w", err)
		}
	}
	sims, err := startSimsAt(ctx, *host, *base, *seed)
	if err != nil {
		return err
	}
	defer sims.Close()
	// One write: a script waiting for any of these lines in a file finds
	// them all there.
	var b strings.Builder
	fmt.Fprintf(&b, "simulators: %s\n# environment for gateway.yaml:\n", sims.Describe())
	for _, kv := range sims.EnvLines() {
		fmt.Fprintf(&b, "export %s\n", kv)
	}
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func cmdTranslate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("translate", stderr)
	target := fs.String("target", "", "target name (required)")
	id := fs.String("id", "demo", "the canonical user id ({id} in the path)")
	path := fs.String("config", "", "config file; default: the built-in config against in-process simulators")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return errors.New("--target is required")
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	body, err := io.ReadAll(io.LimitReader(stdin, 4<<20))
	if err != nil {
		return fmt.Errorf("reading the update from stdin: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("stdin is empty: pipe a canonical update into translate, for example\n  gateway translate --target akana < examples/names.json")
	}
	var cfg *config.Config
	if *path == "" {
		sims, err := startSims(ctx, "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer sims.Close()
		if cfg, err = devConfig("", sims); err != nil {
			return err
		}
	} else if cfg, err = config.LoadFile(*path, os.LookupEnv); err != nil {
		return err
	}
	req, err := decode.Request(body, *id)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		return problemErr(err)
	}
	req.Targets = []string{*target}
	g, err := build(ctx, cfg, buildOptions{LogOutput: io.Discard, NoStore: true})
	if err != nil {
		return err
	}
	defer g.Shutdown(context.Background())
	out, err := g.dispatcher.Apply(ctx, dispatch.Input{Client: "translate", Request: req, DryRun: true,
		Method: "PATCH", Path: "/v1/users/" + *id})
	if err != nil {
		return problemErr(err)
	}
	var pretty any
	if err := json.Unmarshal(out.Body, &pretty); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(pretty)
}

// placeholderKey is the key_sha256 gateway.yaml falls back to when
// GATEWAY_OPS_KEY_SHA256 is unset: no key hashes to it, but a gateway
// started with it has a client nobody can be, which hides a missing secret.
var placeholderKey = strings.Repeat("0", 64)

// refusePlaceholderKeys stops serve when a client's key_sha256 is the
// all-zero placeholder (auth.mode none ignores clients; dev never checks).
func refusePlaceholderKeys(cfg *config.Config) error {
	if cfg.Auth.Mode != "api_key" {
		return nil
	}
	var errs []error
	for i, c := range cfg.Clients {
		if strings.TrimSpace(c.KeySHA256) == placeholderKey {
			errs = append(errs, fmt.Errorf("clients[%d].key_sha256 (%s): the all-zero placeholder is not a key; "+
				"generate one with `gateway hash-key --generate` and set its hash (in gateway.yaml: GATEWAY_OPS_KEY_SHA256)", i, c.Name))
		}
	}
	return errors.Join(errs...)
}

// problemErr prints a canonical error the way an operator reads it: the
// status and message, then one line per field.
func problemErr(err error) error {
	e := canonical.AsError(err)
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Code.HTTPStatus(), e.Code)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, f := range e.Fields {
		b.WriteString("\n  ")
		if f.Target != "" {
			b.WriteString(f.Target + " ")
		}
		if f.Field != "" {
			b.WriteString(f.Field + ": ")
		}
		b.WriteString(f.Message)
	}
	return errors.New(b.String())
}

func cmdCheckConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-config", stderr)
	path := fs.String("config", "gateway.yaml", "config file")
	serveRules := fs.Bool("serve", false, "also apply serve's rules (https vendors, clients present)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.LoadFile(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	if *serveRules {
		if err := cfg.RequireHTTPS(); err != nil {
			return err
		}
		if err := refusePlaceholderKeys(cfg); err != nil {
			return err
		}
	}
	g, err := build(ctx, cfg, buildOptions{LogOutput: io.Discard, NoStore: true})
	if err != nil {
		return err
	}
	defer g.Shutdown(context.Background())
	fmt.Fprintf(stdout, "%s: ok (targets: %s)\n", *path, strings.Join(g.dispatcher.Targets(), ", "))
	return nil
}

func cmdHashKey(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("hash-key", stderr)
	generate := fs.Bool("generate", false, "generate a new random key, print it once and its hash")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var key string
	if *generate {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		key = "igw_" + hex.EncodeToString(b)
		fmt.Fprintf(stdout, "api key (shown once, give it to the client): %s\n", key)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		key = strings.TrimRight(line, "\r\n")
		if key == "" {
			return errors.New("read the API key from stdin (or use --generate)")
		}
	}
	sum := sha256.Sum256([]byte(key))
	fmt.Fprintf(stdout, "key_sha256: %s\n", hex.EncodeToString(sum[:]))
	return nil
}
