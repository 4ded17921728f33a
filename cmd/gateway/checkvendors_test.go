package main

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	identitygateway "github.com/identity-gateway/identity-gateway"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
)

// checkVendorsRun runs `gateway check-vendors` on the built-in gateway.yaml
// with the simulators' environment, changed by env, and returns the rows by
// vendor.
func checkVendorsRun(t *testing.T, env map[string]string) (rows map[string][]string, out string, err error) {
	t.Helper()
	sims, err := startSims(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sims.Close() })
	for k, v := range sims.Env() {
		t.Setenv(k, v)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, identitygateway.DefaultConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"check-vendors", "--config", path}, strings.NewReader(""), &stdout, &stderr)
	rows = map[string][]string{}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "VENDOR") {
		t.Fatalf("no table header:\n%s\nstderr: %s", stdout.String(), stderr.String())
	}
	for _, l := range lines[1:] {
		f := regexp.MustCompile(`\s{2,}`).Split(l, 4)
		rows[f[0]] = f
	}
	return rows, stdout.String(), err
}

func TestCheckVendorsAllOK(t *testing.T) {
	rows, out, err := checkVendorsRun(t, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]string{
		"volterra":  "GET /api/web/custom/namespaces/system/whoami",
		"akana":     "POST /api/login, GET /api/notifications/types",
		"commvault": "POST /Login, GET /V4/user",
		"frontier":  "GET /v1beta1/users/00000000-0000-0000-0000-000000000000",
	}
	for v, calls := range want {
		r := rows[v]
		if len(r) != 4 || r[1] != "ok" || !strings.HasSuffix(r[2], "s") || r[3] != calls {
			t.Errorf("%s: %q\n%s", v, r, out)
		}
	}
}

// TestCheckVendorsRefusedCredentials: a wrong credential for each vendor
// fails its row with a message naming the variables to check, and the
// command exits non-zero; the other vendors stay ok.
func TestCheckVendorsRefusedCredentials(t *testing.T) {
	for _, tc := range []struct {
		vendor, env, message string
	}{
		{"volterra", "VOLTERRA_TOKEN", "Volterra refused the API token (whoami answered 401): check VOLTERRA_TOKEN"},
		{"akana", "AKANA_PASSWORD", "Akana login refused (401): check AKANA_USERNAME/AKANA_PASSWORD"},
		{"commvault", "COMMVAULT_PASSWORD", "Commvault login refused: Invalid Username or Password: check COMMVAULT_USERNAME/COMMVAULT_PASSWORD"},
		{"frontier", "FRONTIER_PASSWORD", "Frontier refused the credential (401): check FRONTIER_USERNAME/FRONTIER_PASSWORD"},
	} {
		t.Run(tc.vendor, func(t *testing.T) {
			rows, out, err := checkVendorsRun(t, map[string]string{tc.env: "wrong-" + tc.vendor + "-secret"})
			if err == nil || !strings.Contains(err.Error(), "1 of 4 vendors failed") {
				t.Errorf("err %v, want 1 of 4 failed", err)
			}
			if r := rows[tc.vendor]; len(r) != 4 || r[1] != "failed" || r[3] != tc.message {
				t.Errorf("row %q, want message %q\n%s", r, tc.message, out)
			}
			if strings.Contains(out, "wrong-"+tc.vendor+"-secret") {
				t.Errorf("the table shows the secret:\n%s", out)
			}
			for v, r := range rows {
				if v != tc.vendor && r[1] != "ok" {
					t.Errorf("%s: %q", v, r)
				}
			}
		})
	}
}

// TestCheckVendorsPermissionsURLAndTLS: a Frontier credential that is not a
// superuser, a vendor nobody listens for, and a vendor whose certificate
// this host does not trust.
func TestCheckVendorsPermissionsURLAndTLS(t *testing.T) {
	fsim := frontiersim.New()
	fsim.AddClient("11111111-2222-4333-8444-555555555555", "not-a-superuser-secret", false)
	nonSuper := httptest.NewServer(fsim)
	t.Cleanup(nonSuper.Close)
	tlsSrv := httptest.NewTLSServer(fsim)
	t.Cleanup(tlsSrv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name, vendor string
		env          map[string]string
		message      *regexp.Regexp
	}{
		{"not a superuser", "frontier", map[string]string{"FRONTIER_URL": nonSuper.URL,
			"FRONTIER_USERNAME": "11111111-2222-4333-8444-555555555555", "FRONTIER_PASSWORD": "not-a-superuser-secret"},
			regexp.MustCompile(`^Frontier answered 503 function not available: the credential is not a platform superuser$`)},
		{"nobody listening", "akana", map[string]string{"AKANA_URL": closed},
			regexp.MustCompile(`unreachable after \d+ attempts: check vendors\.akana\.base_url and that this host can reach it \(.*connection refused\)$`)},
		{"untrusted certificate", "volterra", map[string]string{"VOLTERRA_URL": tlsSrv.URL},
			regexp.MustCompile(`^volterra: TLS handshake failed: check the vendor's certificate and this host's CA bundle \(SSL_CERT_FILE\) \(.*certificate.*\)$`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, out, err := checkVendorsRun(t, tc.env)
			if err == nil {
				t.Error("exit 0 with a failed vendor")
			}
			if r := rows[tc.vendor]; len(r) != 4 || r[1] != "failed" || !tc.message.MatchString(r[3]) {
				t.Errorf("row %q, want %s\n%s", r, tc.message, out)
			}
		})
	}
}

// A vendor with no service credential (callers' pass-through tokens only)
// is skipped, not failed.
func TestCheckVendorsSkipsPassThroughOnly(t *testing.T) {
	rows, out, err := checkVendorsRun(t, map[string]string{"VOLTERRA_TOKEN": ""})
	if err != nil {
		t.Errorf("exit with an error: %v", err)
	}
	if r := rows["volterra"]; len(r) != 4 || r[1] != "skipped" || r[2] != "-" || r[3] != "no service credential configured (pass-through only)" {
		t.Errorf("volterra %q\n%s", r, out)
	}
}
