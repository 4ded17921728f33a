//go:build multireplica

// The identity-link proof (issue 20), run with the multi-replica proof:
//
//	go test -tags multireplica -run TestMultiReplica -v ./cmd/gateway
//
// Two gateway processes share the PostgreSQL link store at DATABASE_URL (a
// schema of the run's own, dropped afterwards). A link changed through one
// replica's API is used by the other within a second, although the other
// had the old link cached; a deleted link likewise.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/internal/links"
)

func TestMultiReplicaLinks(t *testing.T) {
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		t.Skip("DATABASE_URL is not set")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	base := freeBase(t, 4)
	sim := exec.Command(bin, "sim", "--base-port", fmt.Sprint(base), "--seed-users", "3")
	var simOut bytes.Buffer
	sim.Stdout, sim.Stderr = &simOut, &simOut
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sim.Process.Kill(); _ = sim.Wait() }()
	if !up(fmt.Sprintf("http://127.0.0.1:%d/_sim/requests", base+2)) {
		t.Fatalf("simulators never came up:\n%s", simOut.String())
	}
	schema := fmt.Sprintf("mr_links_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		s, err := links.OpenPG(context.Background(), links.PGOptions{URL: dbURL, Schema: schema})
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer s.Close()
		if err := s.DropSchema(context.Background()); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	env := append(os.Environ(), "LINKS_STORE=postgres", "LINKS_DATABASE_URL="+dbURL, "LINKS_SCHEMA="+schema)
	for _, line := range strings.Split(simOut.String(), "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			env = append(env, kv)
		}
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	conf, _ := os.ReadFile("../../gateway.yaml")
	conf = bytes.Replace(conf, []byte("mode: api_key"), []byte("mode: none"), 1)
	if err := os.WriteFile(cfg, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	urls := make([]string, 2)
	for i := range urls {
		port := freePort(t)
		cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		urls[i] = fmt.Sprintf("http://127.0.0.1:%d", port)
		waitHTTP(t, urls[i]+"/readyz")
	}
	a, b := urls[0], urls[1]
	do := func(method, url, body string) (int, []byte) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	// usedByB is the Commvault id replica B addresses "pat" with (dry run),
	// "" when B answers not_linked.
	usedByB := func() string {
		status, body := do("PATCH", b+"/v1/users/pat?dry_run=true", `{"targets":["commvault"],"user":{"display_name":"P"}}`)
		if status != 200 {
			return ""
		}
		var r struct {
			Results map[string]struct {
				VendorID string `json:"vendor_id"`
			} `json:"results"`
		}
		_ = json.Unmarshal(body, &r)
		return r.Results["commvault"].VendorID
	}
	if got := usedByB(); got != "" {
		t.Fatalf("B addressed an unlinked user as %q", got)
	}
	for _, step := range []struct{ method, body, want string }{
		{"PUT", `{"links":{"commvault":"100001"}}`, "100001"},
		{"PUT", `{"links":{"commvault":"100002"}}`, "100002"},
		{"DELETE", "", ""},
	} {
		path := a + "/v1/users/pat/links"
		if step.method == "DELETE" {
			path += "/commvault"
		}
		if status, body := do(step.method, path, step.body); status >= 300 {
			t.Fatalf("%s on A: %d %s", step.method, status, body)
		}
		changed := time.Now()
		got := usedByB()
		for got != step.want && time.Since(changed) < time.Second {
			got = usedByB()
		}
		if got != step.want {
			t.Fatalf("B still used %q a second after A's %s (want %q)", got, step.method, step.want)
		}
		t.Logf("B used %q %v after A's %s", step.want, time.Since(changed).Round(time.Millisecond), step.method)
	}
}
