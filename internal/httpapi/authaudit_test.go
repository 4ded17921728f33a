package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/auth"
	"github.com/identity-gateway/identity-gateway/internal/auth/authtest"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// oidcFixture is a gateway app accepting API keys and tokens of an
// in-process issuer, with a memory audit trail.
type oidcFixture struct {
	iss   *authtest.Issuer
	store *audit.MemoryStore
	trail *audit.Trail
	calls func() int32
	do    func(*http.Request) *http.Response
}

func newOIDCFixture(t *testing.T) *oidcFixture {
	t.Helper()
	iss := authtest.NewIssuer(t)
	v, err := auth.NewOIDC(auth.OIDCConfig{Issuer: iss.URL, Audience: "identity-gateway"})
	if err != nil {
		t.Fatal(err)
	}
	store := audit.NewMemoryStore()
	trail, err := audit.NewTrail(audit.Options{Sinks: []audit.Sink{store}})
	if err != nil {
		t.Fatal(err)
	}
	a, do := newApp(t, Options{
		AuthModes: []string{MethodAPIKey, MethodOIDC}, OIDC: v, Audit: trail, AuditValues: audit.ValuesHashed,
		Clients: []Client{
			{Name: "hr-sync", KeyHash: sha256.Sum256([]byte("hr-key")), OIDCSubject: "hr-sync-app",
				Targets: []string{"frontier"}, TokenTargets: []string{"frontier"}},
			{Name: "auditor", OIDCSubject: "auditor-app", Targets: []string{}, Permissions: []string{"audit"}, TokenPermissions: []string{"audit"}},
		},
	})
	return &oidcFixture{iss: iss, store: store, trail: trail, calls: a.calls.Load, do: do}
}

func (f *oidcFixture) token(t *testing.T, edit func(authtest.Claims)) string {
	now := time.Now()
	c := authtest.Claims{"iss": f.iss.URL, "aud": "identity-gateway", "sub": "svc", "client_id": "hr-sync-app",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scope": "idgw:write:frontier"}
	if edit != nil {
		edit(c)
	}
	return f.iss.Sign(t, c)
}

// TestBadTokensGetTheirOwnChallenge: each bad token is 401 with
// WWW-Authenticate error="invalid_token" and a description of its own, and
// nothing reaches the vendor.
func TestBadTokensGetTheirOwnChallenge(t *testing.T) {
	f := newOIDCFixture(t)
	now := time.Now()
	stranger, err := rsa.GenerateKey(rand.Reader, 2048) // a key the issuer never published
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, token, want string }{
		{"expired", f.token(t, func(c authtest.Claims) { c["exp"] = now.Add(-time.Hour).Unix() }), "the token expired at"},
		{"not yet valid", f.token(t, func(c authtest.Claims) { c["nbf"] = now.Add(time.Hour).Unix() }), "the token is not valid yet"},
		{"wrong audience", f.token(t, func(c authtest.Claims) { c["aud"] = "other" }), "wrong audience"},
		{"wrong issuer", f.token(t, func(c authtest.Claims) { c["iss"] = "https://evil.example" }), "wrong issuer"},
		{"alg none", authtest.SignNone(t, authtest.Claims{"iss": f.iss.URL, "aud": "identity-gateway", "client_id": "hr-sync-app", "exp": now.Add(time.Hour).Unix()}), "alg none is not accepted"},
		{"HS256 with the public key", f.iss.SignHS256WithPublicKey(t, authtest.Claims{"iss": f.iss.URL, "aud": "identity-gateway", "client_id": "hr-sync-app", "exp": now.Add(time.Hour).Unix()}), "alg HS256 is not accepted"},
		{"unknown kid", authtest.SignRS256(t, stranger, "k-never", authtest.Claims{"iss": f.iss.URL, "aud": "identity-gateway", "client_id": "hr-sync-app", "exp": now.Add(time.Hour).Unix()}), "unknown kid 'k-never'"},
		{"malformed", "a.b.c", "the token is malformed"},
		{"unconfigured client", f.token(t, func(c authtest.Claims) { c["client_id"] = "stranger" }), "no client is configured for this token"},
	}
	seen := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(patch(`{"user":{"display_name":"A"}}`, "Authorization", "Bearer "+tc.token))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d", resp.StatusCode)
			}
			h := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(h, `Bearer realm="identity-gateway", error="invalid_token", error_description="`) || !strings.Contains(h, tc.want) {
				t.Fatalf("WWW-Authenticate = %q, want invalid_token with %q", h, tc.want)
			}
			if other, dup := seen[h]; dup {
				t.Fatalf("same challenge as %s: %q", other, h)
			}
			seen[h] = tc.name
			if p := problem(t, resp); p.Code != canonical.CodeUnauthorized {
				t.Fatalf("code %s", p.Code)
			}
		})
	}
	if n := f.calls(); n != 0 {
		t.Fatalf("the vendor was called %d times", n)
	}
}

func TestTokenWritesWithinItsScopesAndIsAudited(t *testing.T) {
	f := newOIDCFixture(t)
	resp := f.do(patch(`{"user":{"display_name":"Jane","email":"Jane@Example.com"},"on_unsupported":"skip"}`,
		"Authorization", "Bearer "+f.token(t, nil), "Idempotency-Key", "k-1"))
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	p, err := f.store.Query(context.Background(), audit.Query{User: "jdoe"})
	if err != nil || len(p.Records) != 1 {
		t.Fatalf("records %+v, %v", p.Records, err)
	}
	r := p.Records[0]
	if r.Client != "hr-sync" || r.AuthMethod != MethodOIDC || r.Action != audit.ActionUserUpdate || r.IdempotencyKey != "k-1" ||
		r.Targets["frontier"].Status != "applied" || r.Status != "applied" {
		t.Fatalf("record = %+v", r)
	}
	if v := r.Values["email"]; !strings.HasPrefix(v, "sha256:") {
		t.Fatalf("email stored as %q, want hashed", v)
	}
	// A token whose scopes do not name the target may not write it.
	resp = f.do(patch(`{"user":{"display_name":"Jane"}}`, "Authorization", "Bearer "+f.token(t, func(c authtest.Claims) { c["scope"] = "idgw:write:akana" })))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("out-of-scope target: status %d", resp.StatusCode)
	}
}

func TestAuditRoute(t *testing.T) {
	f := newOIDCFixture(t)
	for range 3 {
		if resp := f.do(patch(`{"user":{"display_name":"J"}}`, "Authorization", "Bearer hr-key")); resp.StatusCode != 200 {
			t.Fatalf("write: %d", resp.StatusCode)
		}
	}
	get := func(q, tok string) *http.Response {
		r := httptest.NewRequest(http.MethodGet, "/v1/audit"+q, nil) // with a Host, as HTTP/1.1 requires
		r.Header.Set("Authorization", "Bearer "+tok)
		return f.do(r)
	}
	auditor := f.token(t, func(c authtest.Claims) { c["client_id"] = "auditor-app"; c["scope"] = "idgw:audit" })
	t.Run("pages with a cursor", func(t *testing.T) {
		var all []audit.Record
		q := "?user=jdoe&limit=2"
		for i := 0; i < 3; i++ {
			resp := get(q, auditor)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var p audit.Page
			json.NewDecoder(resp.Body).Decode(&p)
			all = append(all, p.Records...)
			if p.Next == "" {
				break
			}
			q = "?user=jdoe&limit=2&cursor=" + p.Next
		}
		if len(all) != 3 || all[0].Client != "hr-sync" || all[0].AuthMethod != MethodAPIKey {
			t.Fatalf("records = %+v", all)
		}
	})
	t.Run("needs the audit permission", func(t *testing.T) {
		if resp := get("?user=jdoe", "hr-key"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// The auditor's token without the scope is narrowed to nothing.
		tok := f.token(t, func(c authtest.Claims) { c["client_id"] = "auditor-app"; c["scope"] = "idgw:links" })
		if resp := get("?user=jdoe", tok); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	for _, tc := range []struct{ q, field string }{
		{"?limit=0", "limit"}, {"?limit=x", "limit"}, {"?since=yesterday", "since"},
		{"?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "since"}, {"?cursor=zzz", "cursor"}, {"?usr=jdoe", "usr"},
	} {
		t.Run("bad "+tc.q, func(t *testing.T) {
			resp := get(tc.q, auditor)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if p := problem(t, resp); len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
				t.Fatalf("errors = %+v, want field %s", p.Errors, tc.field)
			}
		})
	}
}

// TestAuditSinkDownRefusesWritesBeforeAnyVendorCall: 503
// audit_unavailable, and the vendor never sees the write.
func TestAuditSinkDownRefusesWritesBeforeAnyVendorCall(t *testing.T) {
	f := newOIDCFixture(t)
	f.store.SetFailure(errors.New("connection refused"))
	resp := f.do(patch(`{"user":{"display_name":"J"}}`, "Authorization", "Bearer hr-key"))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if p := problem(t, resp); p.Code != canonical.CodeAuditUnavailable {
		t.Fatalf("code %s", p.Code)
	}
	if n := f.calls(); n != 0 {
		t.Fatalf("vendor called %d times with the audit sink down", n)
	}
	f.store.SetFailure(nil)
	if resp := f.do(patch(`{"user":{"display_name":"J"}}`, "Authorization", "Bearer hr-key")); resp.StatusCode != 200 {
		t.Fatalf("after healing: %d", resp.StatusCode)
	}
}

func TestKeyRotationAndExpiryNotice(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	_, do := newApp(t, Options{
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Now: clock,
		Clients: []Client{{Name: "hr", KeyHash: sha256.Sum256([]byte("old")), NextKeyHash: sha256.Sum256([]byte("new")),
			KeyExpires: now.Add(-time.Hour)}},
	})
	write := func(key string) int {
		return do(patch(`{"user":{"display_name":"J"}}`, "Authorization", "Bearer "+key)).StatusCode
	}
	for _, key := range []string{"old", "new"} {
		if st := write(key); st != 200 {
			t.Fatalf("key %s: status %d", key, st)
		}
	}
	if st := write("other"); st != 401 {
		t.Fatalf("unknown key: %d", st)
	}
	notices := func() int { return strings.Count(logs.String(), "past its key_expires") }
	if n := notices(); n != 1 {
		t.Fatalf("notices after one old-key use = %d, want 1", n)
	}
	write("old")
	write("old")
	if n := notices(); n != 1 {
		t.Fatalf("notices the same day = %d, want 1", n)
	}
	now = now.Add(25 * time.Hour)
	write("old")
	write("new")
	if n := notices(); n != 2 {
		t.Fatalf("notices the next day = %d, want 2", n)
	}
}

// TestMTLSClientRecognisedBySAN serves the app over TLS on loopback with
// client certificates: a certificate whose URI SAN (a SPIFFE id) is
// configured writes as that client; one the CA signed for another name is
// 401; a certificate from another CA fails the handshake.
func TestMTLSClientRecognisedBySAN(t *testing.T) {
	ca := authtest.NewCA(t, "clients CA")
	serverCert := ca.Issue(t, authtest.Leaf{CommonName: "gateway", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	store := audit.NewMemoryStore()
	trail, _ := audit.NewTrail(audit.Options{Sinks: []audit.Sink{store}})
	d, err := dispatch.New([]dispatch.Target{{Name: "frontier", Adapter: &countingAdapter{}, Doer: okDoer}}, dispatch.Options{DefaultTargets: []string{"frontier"}, Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	app := buildApp(Options{Dispatcher: d, AuthModes: []string{MethodAPIKey, MethodMTLS}, Audit: trail,
		Clients: []Client{
			{Name: "hr-mesh", CertSANs: []string{"spiffe://example.org/ns/hr/sa/sync"}, Targets: []string{"frontier"}},
			{Name: "by-subject", CertSubject: "CN=legacy-batch", Targets: []string{"frontier"}},
		}})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.Pool,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12})
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: certs}}}
	}
	send := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPatch, "https://"+ln.Addr().String()+"/v1/users/jdoe", strings.NewReader(`{"user":{"display_name":"J"}}`))
		req.Header.Set("Content-Type", "application/json")
		return c.Do(req)
	}
	for _, tc := range []struct {
		name   string
		leaf   authtest.Leaf
		status int
		client string
	}{
		{"SPIFFE URI SAN", authtest.Leaf{CommonName: "whatever", URIs: []string{"spiffe://example.org/ns/hr/sa/sync"}}, 200, "hr-mesh"},
		{"subject", authtest.Leaf{CommonName: "legacy-batch"}, 200, "by-subject"},
		{"unknown SAN", authtest.Leaf{CommonName: "x", URIs: []string{"spiffe://example.org/ns/hr/sa/other"}}, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := send(client(ca.Issue(t, tc.leaf)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if tc.client == "" {
				return
			}
			p, _ := store.Query(context.Background(), audit.Query{Client: tc.client})
			if len(p.Records) != 1 || p.Records[0].AuthMethod != MethodMTLS {
				t.Fatalf("audit records for %s: %+v", tc.client, p.Records)
			}
		})
	}
	t.Run("no certificate", func(t *testing.T) {
		resp, err := send(client())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		rogue := authtest.NewCA(t, "rogue").Issue(t, authtest.Leaf{CommonName: "x", URIs: []string{"spiffe://example.org/ns/hr/sa/sync"}})
		// Sent even though the server names other CAs (Go's client would
		// otherwise hold it back).
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &rogue, nil }}}}
		if resp, err := send(c); err == nil {
			resp.Body.Close()
			t.Fatalf("handshake accepted a foreign certificate: status %d", resp.StatusCode)
		}
	})
}

// flakySink answers pings but fails appends while broken: the sink dying
// between the readiness check and the outcome record.
type flakySink struct {
	*audit.MemoryStore
	broken bool
}

func (f *flakySink) Append(ctx context.Context, r *audit.Record) error {
	if f.broken {
		return errors.New("connection reset")
	}
	return f.MemoryStore.Append(ctx, r)
}

// TestAuditAppendFailureAfterTheWrite: the response still reports the
// outcome (the vendor was written), and the record is buffered and stored
// once the sink is back.
func TestAuditAppendFailureAfterTheWrite(t *testing.T) {
	sink := &flakySink{MemoryStore: audit.NewMemoryStore(), broken: true}
	trail, err := audit.NewTrail(audit.Options{Sinks: []audit.Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	a, do := newApp(t, Options{Audit: trail, Clients: []Client{{Name: "hr", KeyHash: sha256.Sum256([]byte("k"))}}})
	resp := do(patch(`{"user":{"display_name":"J","password":{"new":"s3cret-Pa55"}},"on_unsupported":"skip"}`, "Authorization", "Bearer k"))
	if resp.StatusCode != http.StatusOK || a.calls.Load() != 1 {
		t.Fatalf("status %d, vendor calls %d", resp.StatusCode, a.calls.Load())
	}
	if trail.Buffered() != 1 {
		t.Fatalf("buffered = %d, want 1", trail.Buffered())
	}
	sink.broken = false
	if err := trail.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, _ := sink.Query(context.Background(), audit.Query{User: "jdoe"})
	if len(p.Records) != 1 {
		t.Fatalf("records = %+v", p.Records)
	}
	b, _ := json.Marshal(p.Records[0])
	if strings.Contains(string(b), "s3cret") || !strings.Contains(string(b), `"password"`) {
		t.Fatalf("record must name the password field and never hold its value: %s", b)
	}
}

func TestAuditOnErrorProceed(t *testing.T) {
	store := audit.NewMemoryStore()
	store.SetFailure(errors.New("down"))
	trail, _ := audit.NewTrail(audit.Options{Sinks: []audit.Sink{store}, Proceed: true})
	a, do := newApp(t, Options{Audit: trail, Clients: []Client{{Name: "hr", KeyHash: sha256.Sum256([]byte("k"))}}})
	if resp := do(patch(`{"user":{"display_name":"J"}}`, "Authorization", "Bearer k")); resp.StatusCode != 200 || a.calls.Load() != 1 {
		t.Fatalf("proceed: status %d, calls %d", resp.StatusCode, a.calls.Load())
	}
}

func TestDryRunIsAudited(t *testing.T) {
	store := audit.NewMemoryStore()
	trail, _ := audit.NewTrail(audit.Options{Sinks: []audit.Sink{store}})
	_, do := newApp(t, Options{Audit: trail, AuditValues: audit.ValuesPlain, Clients: []Client{{Name: "hr", KeyHash: sha256.Sum256([]byte("k"))}}})
	if resp := do(patchAt("/v1/users/jdoe?dry_run=true", `{"user":{"display_name":"Jane D"}}`, "Authorization", "Bearer k")); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p, _ := store.Query(context.Background(), audit.Query{})
	if len(p.Records) != 1 || p.Records[0].Action != audit.ActionUserDryRun || !p.Records[0].DryRun ||
		p.Records[0].Status != "planned" || p.Records[0].Values["display_name"] != "Jane D" {
		t.Fatalf("records = %+v", p.Records)
	}
}

func TestAPIKeysOffWhenNotAMode(t *testing.T) {
	iss := authtest.NewIssuer(t)
	v, _ := auth.NewOIDC(auth.OIDCConfig{Issuer: iss.URL, Audience: "identity-gateway"})
	_, do := newApp(t, Options{AuthModes: []string{MethodOIDC}, OIDC: v, Clients: []Client{{Name: "hr", KeyHash: sha256.Sum256([]byte("k"))}}})
	resp := do(patch(`{"user":{"display_name":"J"}}`, "Authorization", "Bearer k"))
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "API keys are not accepted here") {
		t.Fatalf("status %d, challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
