package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/auth/authtest"
)

// TestJWTWriteShowsUpInTheAuditTrail is issue 24's done-when: a request
// authenticated by a JWT from the in-process issuer writes to a vendor
// (simulator) and shows up in GET /v1/audit with its client and trace_id.
func TestJWTWriteShowsUpInTheAuditTrail(t *testing.T) {
	t.Run("memory", func(t *testing.T) { jwtWriteAudited(t, func(*config.Config) {}) })
	t.Run("postgres", func(t *testing.T) {
		url := pgSchemaURL(t)
		jwtWriteAudited(t, func(cfg *config.Config) { cfg.Audit.Sinks = []string{"postgres"}; cfg.Audit.DatabaseURL = url })
	})
}

// pgSchemaURL is DATABASE_URL with a search_path of a fresh schema,
// dropped when the test ends; the test is skipped without DATABASE_URL.
func pgSchemaURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		t.Skip("DATABASE_URL is not set")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "audit_e2e_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		if conn, err := pgx.Connect(ctx, url); err == nil {
			conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

func jwtWriteAudited(t *testing.T, mod func(*config.Config)) {
	iss := authtest.NewIssuer(t)
	sims, cfg := devSims(t)
	mod(cfg)
	cfg.Auth = config.Auth{Mode: "api_key", Modes: []string{"api_key", "oidc"}, OIDC: config.OIDC{Issuer: iss.URL, Audience: "identity-gateway",
		Algorithms: []string{"RS256"}, ClockSkew: config.Duration(30 * time.Second), ClientClaim: "client_id", JWKSMinRefresh: config.Duration(time.Minute)}}
	cfg.Clients = []config.Client{
		{Name: "hr-sync", OIDCSubject: "hr-sync-app", Targets: []string{"frontier", "commvault"}},
		{Name: "auditor", OIDCSubject: "auditor-app", Permissions: []string{"audit"}},
	}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: io.Discard})
	token := func(client, scope string) string {
		now := time.Now()
		return iss.Sign(t, authtest.Claims{"iss": iss.URL, "aud": "identity-gateway", "sub": client, "client_id": client,
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scope": scope})
	}

	before := simRequests(t, sims, "frontier")
	status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier"],"user":{"display_name":"Jane Token"}}`,
		"Authorization", "Bearer "+token("hr-sync-app", "idgw:write:frontier"), "Idempotency-Key", "jwt-e2e-1")
	if status != 200 {
		t.Fatalf("PATCH with a JWT: %d %s", status, body)
	}
	var res struct {
		TraceID string `json:"trace_id"`
	}
	json.Unmarshal(body, &res)
	if res.TraceID == "" {
		t.Fatalf("no trace_id in %s", body)
	}
	if simRequests(t, sims, "frontier") == before {
		t.Fatal("the vendor was not written")
	}
	if got := frontierUser(t, sims)["title"]; got != "Jane Token" {
		t.Fatalf("frontier title = %v", got)
	}

	status, _, body = call(t, "GET", base+"/v1/audit?user=demo", "", "Authorization", "Bearer "+token("auditor-app", "idgw:audit"))
	if status != 200 {
		t.Fatalf("GET /v1/audit: %d %s", status, body)
	}
	var page audit.Page
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 {
		t.Fatalf("audit records = %s", body)
	}
	r := page.Records[0]
	if r.Client != "hr-sync" || r.AuthMethod != "oidc" || r.TraceID != res.TraceID || r.IdempotencyKey != "jwt-e2e-1" ||
		r.Targets["frontier"].Status != "applied" || r.Targets["frontier"].VendorID == "" || strings.Join(r.Fields, ",") != "display_name" {
		t.Fatalf("record = %+v (trace_id of the write %s)", r, res.TraceID)
	}
	// The hashed default keeps no name in clear.
	if strings.Contains(string(body), "Jane Token") {
		t.Fatalf("the audit record holds the name in clear: %s", body)
	}

	// The writer's token has no audit scope and its client no permission.
	if status, _, _ := call(t, "GET", base+"/v1/audit?user=demo", "", "Authorization", "Bearer "+token("hr-sync-app", "idgw:write:frontier")); status != 403 {
		t.Fatalf("GET /v1/audit without the permission: %d", status)
	}
}

func TestPrintAudit(t *testing.T) {
	var buf bytes.Buffer
	err := printAudit(&buf, []audit.Record{{Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Action: "user.update", User: "u-1",
		Client: "hr-sync", AuthMethod: "oidc", Status: "partial", Fields: []string{"email", "enabled"}, TraceID: "abc",
		Targets: map[string]audit.TargetOutcome{"frontier": {Status: "failed", Code: "upstream_error"}, "akana": {Status: "applied"}}}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("table:\n%s", buf.String())
	}
	for _, want := range []string{"2026-12-01T10:00:00Z", "hr-sync", "oidc", "akana=applied,frontier=failed(upstream_error)", "email,enabled", "abc"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
}

// TestAuditCommandReadsPostgres runs `gateway audit --user` against a
// trail in PostgreSQL (a schema of its own, named through the URL's
// search_path); skipped only without DATABASE_URL.
func TestAuditCommandReadsPostgres(t *testing.T) {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		t.Skip("DATABASE_URL is not set")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "audit_cmd_" + hex.EncodeToString(b)
	st, err := audit.OpenPostgres(ctx, audit.PostgresOptions{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		if conn, err := pgx.Connect(ctx, url); err == nil {
			conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(ctx)
		}
	})
	for i, user := range []string{"u-1", "u-2", "u-1"} {
		r := audit.Record{Time: time.Date(2026, 12, 1, 10, i, 0, 0, time.UTC), Action: "user.update", User: user, Client: "hr-sync",
			AuthMethod: "api_key", Status: "applied", TraceID: fmt.Sprintf("trace-%d", i)}
		if err := st.Append(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	yaml := "vendors:\n  frontier:\n    base_url: http://127.0.0.1:1\n    insecure: true\n" +
		"audit:\n  sinks: [postgres]\n  database_url: \"" + url + sep + "search_path=" + schema + "\"\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"audit", "--config", path, "--user", "u-1"}, nil, &out, &errOut); err != nil {
		t.Fatalf("gateway audit: %v (%s)", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "trace-2") || !strings.Contains(lines[2], "trace-0") {
		t.Fatalf("table (want two u-1 rows, newest first):\n%s", out.String())
	}
}

// TestServeMTLSRequire runs serve with server.tls.client_ca and
// client_auth: require: a certificate with the configured SPIFFE URI SAN
// writes; no certificate fails the handshake.
func TestServeMTLSRequire(t *testing.T) {
	dir := t.TempDir()
	ca := authtest.NewCA(t, "mesh CA")
	certFile, keyFile := authtest.WritePEM(t, dir, "server", ca.Issue(t, authtest.Leaf{CommonName: "gateway", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true}))
	_, cfg := devSims(t)
	cfg.Server.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile, ClientCA: ca.WriteCAPEM(t, dir), ClientAuth: "require"}
	cfg.Auth = config.Auth{Mode: "api_key", Modes: []string{"mtls"}}
	cfg.Clients = []config.Client{{Name: "hr-mesh", CertSANs: []string{"spiffe://example.org/ns/hr/sa/sync"}, Targets: []string{"frontier"}}}
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: io.Discard})
	base = strings.Replace(base, "http://", "https://", 1)
	send := func(certs ...tls.Certificate) (*http.Response, error) {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: certs}}}
		req, _ := http.NewRequest("PATCH", base+"/v1/users/demo", strings.NewReader(`{"targets":["frontier"],"user":{"display_name":"Mesh"}}`))
		req.Header.Set("Content-Type", "application/json")
		return c.Do(req)
	}
	resp, err := send(ca.Issue(t, authtest.Leaf{CommonName: "sync", URIs: []string{"spiffe://example.org/ns/hr/sa/sync"}}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp, err := send(); err == nil {
		resp.Body.Close()
		t.Fatalf("client_auth require accepted a request without a certificate: %d", resp.StatusCode)
	}
}
