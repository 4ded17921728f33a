package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	identitygateway "github.com/identity-gateway/identity-gateway"
)

// TestHelpForEveryCommand: `gateway help CMD`, `CMD --help` and `CMD -h`
// print that command's usage on stdout and succeed, without running it.
func TestHelpForEveryCommand(t *testing.T) {
	for _, d := range commandDocs {
		for _, args := range [][]string{{"help", d.name}, {d.name, "--help"}, {d.name, "-h"}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
				if err != nil {
					t.Fatalf("err %v; stderr %s", err, stderr.String())
				}
				out := stdout.String()
				want := "usage: gateway " + d.name
				if d.name == "help" {
					want = "usage: gateway <command>"
				}
				if !strings.HasPrefix(out, want) || stderr.Len() != 0 {
					t.Errorf("stdout %q\nstderr %q", out, stderr.String())
				}
			})
		}
	}
	// Every command listed runs through run's switch; an unknown one fails.
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"help", "nope"}, nil, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), `unknown command "nope"`) {
		t.Errorf("help nope: %v", err)
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"help"}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, d := range commandDocs {
		if !strings.Contains(stdout.String(), "\n  "+d.name+" ") {
			t.Errorf("gateway help does not list %s:\n%s", d.name, stdout.String())
		}
	}
}

// A bad flag is still an error, with the usage on stderr.
func TestBadFlagIsAnError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--bogus"}, nil, &stdout, &stderr)
	if err == nil || stdout.Len() != 0 || !strings.Contains(stderr.String(), "usage: gateway serve") {
		t.Errorf("err %v stdout %q stderr %q", err, stdout.String(), stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"version"}, nil, &stdout, &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "identity-gateway ") || !strings.Contains(stdout.String(), "go:       "+runtime.Version()) {
		t.Errorf("%s", stdout.String())
	}
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/identity-gateway/identity-gateway", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := versionText(info)
	for _, want := range []string{"identity-gateway v1.2.3\n", "module:   github.com/identity-gateway/identity-gateway\n",
		"revision: 0123456789abcdef (modified)\n", "time:     2026-12-01T10:00:00Z\n", "go:       go1.26.0 "} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if got := versionText(&debug.BuildInfo{}); !strings.Contains(got, "revision: unknown") {
		t.Errorf("no VCS info: %s", got)
	}
}

// writeDefaultConfig writes the built-in gateway.yaml and sets the
// simulators' environment, for commands that take --config.
func writeDefaultConfig(t *testing.T) string {
	t.Helper()
	sims, err := startSims(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sims.Close() })
	for k, v := range sims.Env() {
		t.Setenv(k, v)
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, identitygateway.DefaultConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeRefusesThePlaceholderKey: gateway.yaml's fallback key_sha256 (all
// zeros, when GATEWAY_OPS_KEY_SHA256 is unset) stops serve and
// check-config --serve with a message saying what to do; a real hash
// passes, and dev (auth off) still runs on the same config.
func TestServeRefusesThePlaceholderKey(t *testing.T) {
	path := writeDefaultConfig(t)
	t.Setenv("GATEWAY_OPS_KEY_SHA256", "")
	os.Unsetenv("GATEWAY_OPS_KEY_SHA256")
	for _, args := range [][]string{{"serve", "--config", path, "--listen", "127.0.0.1:0"}, {"check-config", "--serve", "--config", path}} {
		var out bytes.Buffer
		err := run(context.Background(), args, nil, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "clients[0].key_sha256 (ops): the all-zero placeholder is not a key") ||
			!strings.Contains(err.Error(), "gateway hash-key --generate") {
			t.Errorf("%v: %v", args, err)
		}
	}
	t.Setenv("GATEWAY_OPS_KEY_SHA256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check-config", "--serve", "--config", path}, nil, &out, &out); err != nil {
		t.Errorf("a real hash: %v", err)
	}
	os.Unsetenv("GATEWAY_OPS_KEY_SHA256")
	sims, err := startSims(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sims.Close()
	cfg, err := devConfig("", sims)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Clients[0].KeySHA256 != placeholderKey {
		t.Fatalf("the built-in config's fallback key is %q", cfg.Clients[0].KeySHA256)
	}
	if err := refusePlaceholderKeys(cfg); err != nil {
		t.Errorf("dev (auth off) refused: %v", err)
	}
}

// TestTranslateEmptyStdin: no update on stdin is a clear error naming what
// to pipe, not a decoder message.
func TestTranslateEmptyStdin(t *testing.T) {
	for _, in := range []string{"", "  \n\t\n"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"translate", "--target", "akana"}, strings.NewReader(in), &out, &out)
		if err == nil || !strings.HasPrefix(err.Error(), "stdin is empty: pipe a canonical update into translate") ||
			strings.Contains(err.Error(), "JSON") || out.Len() != 0 {
			t.Errorf("stdin %q: %v (output %q)", in, err, out.String())
		}
	}
}

// TestCheckConfigDidYouMean: a typo in a vendor key or in an adapter's own
// settings block gets the closest key, and no Go type name.
func TestCheckConfigDidYouMean(t *testing.T) {
	path := writeDefaultConfig(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to, want string }{
		{"      tenant: ${AKANA_TENANT", "      tenat: ${AKANA_TENANT", "vendors.akana.settings.tenat: unknown key; did you mean tenant?"},
		{"    attempt_timeout: 5s\n    deadline: 15s\n    resolve: email             # unlinked users: GET /V4/user", "    atempt_timeout: 5s\n    deadline: 15s\n    resolve: email             # unlinked users: GET /V4/user", "vendors.commvault.atempt_timeout: unknown key; did you mean attempt_timeout?"},
	} {
		bad := strings.Replace(string(orig), tc.from, tc.to, 1)
		if bad == string(orig) {
			t.Fatalf("gateway.yaml no longer has %q", tc.from)
		}
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := run(context.Background(), []string{"check-config", "--config", path}, nil, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "type ") {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}
