package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/auth"
	"github.com/identity-gateway/identity-gateway/internal/httpapi"
	"github.com/identity-gateway/identity-gateway/internal/telemetry"
)

// openOIDC builds the token verifier when auth.modes includes oidc.
func openOIDC(cfg *config.Config) (*auth.OIDC, error) {
	if !cfg.Auth.HasMode("oidc") {
		return nil, nil
	}
	o := cfg.Auth.OIDC
	v, err := auth.NewOIDC(auth.OIDCConfig{Issuer: o.Issuer, Audience: o.Audience, Algorithms: o.Algorithms,
		ClockSkew: o.ClockSkew.D(), ClientClaim: o.ClientClaim, MinRefresh: o.JWKSMinRefresh.D()})
	if err != nil {
		return nil, fmt.Errorf("auth.oidc: %w", err)
	}
	return v, nil
}

// openAudit builds the trail from audit.sinks and starts its retry flusher
// and (PostgreSQL) retention job; the returned close stops them and makes a
// last attempt to store buffered records.
func openAudit(ctx context.Context, cfg *config.Config, logger *slog.Logger, tel *telemetry.Telemetry, stdout io.Writer) (*audit.Trail, func(context.Context) error, error) {
	a := cfg.Audit
	var (
		sinks  []audit.Sink
		closes []func()
	)
	closeAll := func() {
		for _, c := range slices.Backward(closes) {
			c()
		}
	}
	for _, name := range a.Sinks {
		switch name {
		case "memory":
			logger.Warn("audit trail kept in memory only (audit.sinks: memory): the newest 100000 records, lost on restart; use postgres in production")
			sinks = append(sinks, audit.NewBoundedMemoryStore(100_000))
		case "postgres":
			st, err := audit.OpenPostgres(ctx, audit.PostgresOptions{URL: a.DatabaseURL})
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("audit.database_url: %w", err)
			}
			closes = append(closes, st.Close)
			sinks = append(sinks, st)
		case "jsonl":
			var w io.Writer = stdout
			if a.File != "" && a.File != "-" {
				f, err := os.OpenFile(a.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
				if err != nil {
					closeAll()
					return nil, nil, fmt.Errorf("audit.file: %w", err)
				}
				closes = append(closes, func() { f.Close() })
				w = f
			}
			sinks = append(sinks, audit.NewJSONLSink(w))
		}
	}
	trail, err := audit.NewTrail(audit.Options{Sinks: sinks, Proceed: a.OnError == "proceed", BufferSize: a.BufferSize,
		Logger: logger.With("component", "audit"), MeterProvider: tel.MeterProvider})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { trail.Run(bg, 5*time.Second); done <- struct{}{} }()
	jobs := 1
	for _, s := range sinks {
		if p, ok := s.(*audit.PostgresStore); ok {
			jobs++
			go func() {
				audit.RunRetention(bg, p, a.Retention.D(), time.Hour, time.Now, func(n int64, err error) {
					if err != nil {
						logger.Error("audit retention failed", "err", err)
					} else {
						logger.Info("audit retention", "deleted", n)
					}
				})
				done <- struct{}{}
			}()
		}
	}
	return trail, func(ctx context.Context) error {
		cancel()
		for range jobs {
			<-done
		}
		err := trail.Close(ctx)
		closeAll()
		return err
	}, nil
}

// extendClient adds the key-rotation, token, certificate and permission
// settings of a configured client.
func extendClient(hc *httpapi.Client, c config.Client, i int) error {
	if c.NextKeySHA256 != "" {
		raw, err := hex.DecodeString(c.NextKeySHA256)
		if err != nil || len(raw) != len(hc.NextKeyHash) {
			return fmt.Errorf("clients[%d].next_key_sha256: must be a hex SHA-256", i)
		}
		copy(hc.NextKeyHash[:], raw)
	}
	if c.KeyExpires != "" {
		t, err := time.Parse(time.RFC3339, c.KeyExpires)
		if err != nil {
			return fmt.Errorf("clients[%d].key_expires: %w", i, err)
		}
		hc.KeyExpires = t
	}
	hc.OIDCSubject = c.OIDCSubject
	if len(c.Targets) > 0 {
		hc.TokenTargets = slices.Clone(c.Targets)
	}
	if len(c.Permissions) > 0 {
		hc.Permissions = slices.Clone(c.Permissions)
		hc.TokenPermissions = slices.Clone(c.Permissions)
	}
	hc.CertSubject = c.CertSubject
	hc.CertSANs = slices.Clone(c.CertSANs)
	return nil
}

// serverTLS is the listener's TLS configuration, with client certificates
// (mTLS) when server.tls.client_ca is set.
func serverTLS(t config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCA != "" {
		pem, err := os.ReadFile(t.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("client_ca: no PEM certificate in the file")
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if t.ClientAuth == "require" {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, nil
}

// cmdAudit prints a user's audit trail as a table. It reads the PostgreSQL
// trail directly (audit.database_url), so it works while the gateway is
// down and needs no API client with the audit permission; database access
// is the control.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit", stderr)
	path := fs.String("config", "gateway.yaml", "config file (audit.database_url)")
	user := fs.String("user", "", "canonical user id (required unless --client)")
	client := fs.String("client", "", "only this client's changes")
	since := fs.String("since", "", "from this RFC 3339 time")
	until := fs.String("until", "", "before this RFC 3339 time")
	limit := fs.Int("limit", 50, "records to print (newest first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" && *client == "" {
		return errors.New("--user (or --client) is required")
	}
	q := audit.Query{User: *user, Client: *client, Limit: *limit}
	for name, p := range map[string]struct {
		s   string
		dst *time.Time
	}{"--since": {*since, &q.Since}, "--until": {*until, &q.Until}} {
		if p.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, p.s)
		if err != nil {
			return fmt.Errorf("%s: must be an RFC 3339 time", name)
		}
		*p.dst = t
	}
	cfg, err := config.LoadFile(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	if cfg.Audit.DatabaseURL == "" {
		return errors.New("audit.database_url: not set; the audit command reads the PostgreSQL trail")
	}
	st, err := audit.OpenPostgres(ctx, audit.PostgresOptions{URL: cfg.Audit.DatabaseURL, MaxConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := st.Query(ctx, q)
	if err != nil {
		return err
	}
	return printAudit(stdout, p.Records)
}

// printAudit writes records as an aligned table.
func printAudit(w io.Writer, rs []audit.Record) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tUSER\tCLIENT\tAUTH\tSTATUS\tTARGETS\tFIELDS\tIDEMPOTENCY KEY\tTRACE ID")
	for _, r := range rs {
		var targets []string
		for name, o := range r.Targets {
			t := name + "=" + o.Status
			if o.Code != "" {
				t += "(" + o.Code + ")"
			}
			targets = append(targets, t)
		}
		sort.Strings(targets)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Action, r.User, r.Client,
			r.AuthMethod, r.Status, dash(strings.Join(targets, ",")), dash(strings.Join(r.Fields, ",")), dash(r.IdempotencyKey), dash(r.TraceID))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
