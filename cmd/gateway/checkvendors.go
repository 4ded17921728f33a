package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
	"github.com/identity-gateway/identity-gateway/internal/telemetry"
	"github.com/identity-gateway/identity-gateway/internal/upstream"
)

// vendorCheck is one row of check-vendors' table.
type vendorCheck struct {
	Vendor  string
	Result  string // ok, failed or skipped
	Latency time.Duration
	Message string
}

func cmdCheckVendors(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-vendors", stderr)
	path := fs.String("config", "gateway.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfg, err := config.Load(raw, os.LookupEnv)
	if err != nil {
		return err
	}
	rows, err := checkVendors(ctx, cfg, config.CredentialVars(raw))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VENDOR\tRESULT\tLATENCY\tMESSAGE")
	failed := 0
	for _, r := range rows {
		lat := "-"
		if r.Result != "skipped" {
			lat = r.Latency.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Vendor, r.Result, lat, r.Message)
		if r.Result == "failed" {
			failed++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d vendors failed the check", failed, len(rows))
	}
	return nil
}

// checkVendors runs every adapter's Check at once, each through its own
// upstream client (breaker, retries, attempt timeout) and within the
// vendor's deadline. vars names, per vendor, the environment variables its
// credential comes from, for the messages.
func checkVendors(ctx context.Context, cfg *config.Config, vars map[string][]string) ([]vendorCheck, error) {
	tel, err := telemetry.Setup(ctx, telemetry.Config{Exporter: "none"})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	defer tel.Shutdown(context.Background())
	targets, err := openTargets(cfg, telemetry.NewLogger(io.Discard, 0), tel, nil)
	if err != nil {
		return nil, err
	}
	rows := make([]vendorCheck, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i] = checkOne(ctx, t, vars[t.Name])
		}()
	}
	wg.Wait()
	return rows, nil
}

func checkOne(ctx context.Context, t dispatch.Target, vars []string) vendorCheck {
	row := vendorCheck{Vendor: t.Name}
	c, ok := t.Adapter.(adapters.Checker)
	if !ok {
		row.Result, row.Message = "skipped", "this adapter has no read-only check"
		return row
	}
	var (
		mu    sync.Mutex
		calls []string
	)
	do := adapters.DoerFunc(func(ctx context.Context, call *adapters.Call) (*adapters.Response, error) {
		mu.Lock()
		calls = append(calls, call.Method+" "+strings.SplitN(call.Path, "?", 2)[0])
		mu.Unlock()
		return t.Doer.Do(ctx, call)
	})
	if t.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Deadline)
		defer cancel()
	}
	start := time.Now()
	err := c.Check(ctx, do)
	row.Latency = time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case err == nil:
		row.Result, row.Message = "ok", strings.Join(calls, ", ")
	case errors.Is(err, adapters.ErrNoCredential):
		row.Result, row.Message = "skipped", "no service credential configured (pass-through only)"
	default:
		row.Result, row.Message = "failed", checkMessage(t, err, vars)
	}
	return row
}

// checkMessage turns a failed check into what to do about it.
func checkMessage(t dispatch.Target, err error, vars []string) string {
	var ce *adapters.CheckError
	if errors.As(err, &ce) {
		msg := ce.Message
		if ce.Credential {
			if len(vars) > 0 {
				msg += ": check " + strings.Join(vars, "/")
			} else {
				msg += ": check vendors." + t.Name + ".credential"
			}
		}
		return msg
	}
	e := canonical.AsError(err)
	msg := e.Message
	var cause string
	if c, ok := t.Doer.(*upstream.Client); ok {
		if l := c.Status().LastCall; l != nil {
			cause = l.Cause
		}
	}
	switch e.Code {
	case canonical.CodeUpstreamUnavailable:
		msg += ": check vendors." + t.Name + ".base_url and that this host can reach it"
	case canonical.CodeUpstreamTimeout:
		msg += ": check vendors." + t.Name + ".base_url, or raise attempt_timeout / deadline"
	}
	if strings.Contains(cause, "x509") || strings.Contains(cause, "tls") || strings.Contains(cause, "certificate") {
		msg = t.Name + ": TLS handshake failed: check the vendor's certificate and this host's CA bundle (SSL_CERT_FILE)"
	}
	if strings.Contains(cause, "HTTP response to HTTPS client") {
		msg = t.Name + ": the vendor answers plain http: check the scheme of vendors." + t.Name + ".base_url"
	}
	if cause != "" {
		msg += " (" + cause + ")"
	}
	return msg
}
