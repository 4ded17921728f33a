package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// devSimsWith is devSims with extra seeded users at every simulator.
func devSimsWith(t testing.TB, extra int) (*simSet, *config.Config) {
	t.Helper()
	sims, err := startSimsAt(context.Background(), "127.0.0.1", 0, extra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sims.Close() })
	cfg, err := devConfig("", sims)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Listen = "127.0.0.1:0"
	return sims, cfg
}

func decodeResult(t *testing.T, b []byte) result.Result {
	t.Helper()
	var r result.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return r
}

func callNames(tr result.Target) []string {
	var out []string
	for _, c := range tr.Calls {
		out = append(out, c.Name)
	}
	return out
}

// An unlinked id is refused per target, before any vendor hears of it; the
// demo user (seeded links) still works.
func TestUnlinkedUserIsRefusedBeforeAnyCall(t *testing.T) {
	base, sims := devGateway(t)
	before := map[string]int{}
	for _, v := range []string{"volterra", "akana", "commvault", "frontier"} {
		before[v] = simRequests(t, sims, v)
	}
	status, _, body := call(t, "PATCH", base+"/v1/users/bob", `{"targets":["frontier","volterra","akana","commvault"],"on_unsupported":"skip","user":{"display_name":"Bob"}}`)
	if status != 404 {
		t.Fatalf("status %d %s", status, body)
	}
	var p problem.Problem
	_ = json.Unmarshal(body, &p)
	if p.Code != canonical.CodeNotLinked || len(p.Errors) != 4 {
		t.Fatalf("problem %+v", p)
	}
	for _, e := range p.Errors {
		want := "no email to resolve by"
		if e.Target == "akana" {
			want = "resolution is off"
		}
		if !strings.Contains(e.Message, `"bob" is not linked to any `+e.Target+" account") || !strings.Contains(e.Message, want) {
			t.Errorf("%s: %s", e.Target, e.Message)
		}
	}
	for v, n := range before {
		if got := simRequests(t, sims, v); got != n {
			t.Errorf("%s received %d requests", v, got-n)
		}
	}
	if status, _, body := call(t, "PATCH", base+"/v1/users/demo", `{"targets":["frontier","commvault"],"user":{"display_name":"Jane"}}`); status != 200 {
		t.Fatalf("demo: %d %s", status, body)
	}
}

// Frontier and Commvault find an unlinked user by e-mail; the links are
// stored (source resolved) and the next update uses them without a lookup.
func TestResolutionThroughTheSimulators(t *testing.T) {
	_, cfg := devSimsWith(t, 3)
	base, _ := startGateway(t, cfg, buildOptions{LogOutput: io.Discard, AuthNone: true})
	status, _, body := call(t, "PATCH", base+"/v1/users/u1",
		`{"targets":["frontier","commvault"],"on_unsupported":"skip","user":{"display_name":"S One","email":"Seeded1@Example.com"}}`)
	if status != 200 {
		t.Fatalf("status %d %s", status, body)
	}
	r := decodeResult(t, body)
	fr, cv := r.Results["frontier"], r.Results["commvault"]
	if fr.VendorID != frontiersim.SeededUserID(1) || cv.VendorID != "100001" {
		t.Fatalf("vendor ids %q %q", fr.VendorID, cv.VendorID)
	}
	if n := callNames(fr); n[0] != "list users" || n[len(n)-1] != "put user" {
		t.Errorf("frontier calls %v", n)
	}
	if n := strings.Join(callNames(cv), ","); n != "login,list users,put user" {
		t.Errorf("commvault calls %v", n)
	}
	status, _, body = call(t, "GET", base+"/v1/users/u1/links", "")
	var rec links.Record
	if err := json.Unmarshal(body, &rec); err != nil || status != 200 {
		t.Fatalf("links %d %s", status, body)
	}
	if rec.Links["commvault"].Source != links.SourceResolved || rec.Links["frontier"].Source != links.SourceResolved || rec.Attributes.Email != "Seeded1@Example.com" {
		t.Fatalf("stored %+v", rec)
	}
	status, _, body = call(t, "PATCH", base+"/v1/users/u1", `{"targets":["frontier","commvault"],"user":{"display_name":"S Uno"}}`)
	if status != 200 {
		t.Fatalf("second: %d %s", status, body)
	}
	for n, tr := range decodeResult(t, body).Results {
		if strings.Contains(strings.Join(callNames(tr), ","), "list users") {
			t.Errorf("%s looked the user up again: %v", n, callNames(tr))
		}
	}
	// The demo's Commvault account is linked to "demo": resolving another
	// id to it is a conflict naming demo, and nothing is written.
	status, _, body = call(t, "PATCH", base+"/v1/users/impostor", `{"targets":["commvault"],"user":{"display_name":"X","email":"jane.doe@example.com"}}`)
	if status != 409 || !strings.Contains(string(body), `already linked to \"demo\"`) {
		t.Fatalf("conflict: %d %s", status, body)
	}
}

func pgURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		t.Skip("DATABASE_URL is not set")
	}
	return u
}

// pgConfig points cfg's link store at PostgreSQL, in a schema of its own
// that is dropped when the test ends.
func pgConfig(t testing.TB, cfg *config.Config, schema string) {
	t.Helper()
	cfg.Links = config.Links{Store: "postgres", DatabaseURL: pgURL(t), Schema: schema, CacheSize: 100_000}
}

func uniqueSchema(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "gw_links_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		s, err := links.OpenPG(context.Background(), links.PGOptions{URL: os.Getenv("DATABASE_URL"), Schema: schema})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer s.Close()
		if err := s.DropSchema(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return schema
}

// Two gateway replicas on one PostgreSQL: a link changed through A's API is
// used by B within a second, although B had the old one cached.
func TestLinkChangeReachesTheOtherReplicaWithinASecond(t *testing.T) {
	_, cfg := devSimsWith(t, 3)
	pgConfig(t, cfg, uniqueSchema(t))
	a, _ := startGateway(t, cfg, buildOptions{LogOutput: io.Discard, AuthNone: true})
	b, _ := startGateway(t, cfg, buildOptions{LogOutput: io.Discard, AuthNone: true})

	patchB := func() (int, string) {
		status, _, body := call(t, "PATCH", b+"/v1/users/pat?dry_run=true", `{"targets":["commvault"],"user":{"display_name":"P"}}`)
		if status != 200 {
			return status, ""
		}
		return status, decodeResult(t, body).Results["commvault"].VendorID
	}
	if status, _ := patchB(); status != 404 {
		t.Fatalf("before any link: %d", status)
	}
	for i, vid := range []string{"100001", "100002"} {
		if status, _, body := call(t, "PUT", a+"/v1/users/pat/links", `{"links":{"commvault":"`+vid+`"}}`); status != 200 {
			t.Fatalf("put %s: %d %s", vid, status, body)
		}
		changed := time.Now()
		var got string
		for time.Since(changed) < time.Second {
			if _, got = patchB(); got == vid {
				break
			}
		}
		if got != vid {
			t.Fatalf("step %d: replica B still used %q a second after the change to %s", i, got, vid)
		}
		t.Logf("replica B used the new link %s after %v", vid, time.Since(changed))
	}
	// A deleted link is gone on B as fast.
	if status, _, body := call(t, "DELETE", a+"/v1/users/pat/links/commvault", ""); status != 204 {
		t.Fatalf("delete: %d %s", status, body)
	}
	changed := time.Now()
	status := 200
	for time.Since(changed) < time.Second && status == 200 {
		status, _ = patchB()
	}
	if status != 404 {
		t.Fatalf("replica B still used the deleted link: %d", status)
	}
	// The links gateway.yaml seeds are in PostgreSQL too (source config).
	st, _, body := call(t, "GET", b+"/v1/links?target=commvault&vendor_id=42", "")
	if st != 200 || !strings.Contains(string(body), `"id":"demo"`) || !strings.Contains(string(body), `"source":"config"`) {
		t.Fatalf("reverse demo: %d %s", st, body)
	}
}
