package volterra

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/volterra/volterrasim"
	"github.com/identity-gateway/identity-gateway/canonical"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The simulator's seeded world: jane (a caller with her own token), ops (the
// user whose "My Credentials" token the gateway holds as its service
// token), robot (a SERVICE user).
const (
	svcToken      = "svc-token-abcdef0123"
	callerToken   = "caller-token-123456789"
	readOnlyToken = "readonly-token-555555"
	robotToken    = "robot-token-777777777"
	janeUUID      = "11111111-2222-4333-8444-555555555555"
	opsUUID       = "99999999-8888-4777-8666-555555555555"
	janeImage     = "AAAA"
)

var png = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 40)...)

func open(t testing.TB, tok canonical.Secret) *Adapter {
	t.Helper()
	return openWith(t, Config{}, adapters.Deps{Credential: adapters.Credential{Token: tok}})
}

func openWith(t testing.TB, c Config, deps adapters.Deps) *Adapter {
	t.Helper()
	a, err := c.Open("volterra", deps)
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Adapter)
}

func seeded() *volterrasim.Sim {
	s := volterrasim.New()
	s.AddUser(volterrasim.User{Name: "ops", Email: "ops@example.com", FirstName: "Ops", LastName: "Team", UUID: opsUUID, OTP: true})
	s.AddUser(volterrasim.User{Name: "jane", Email: "jane@example.com", FirstName: "Jane", LastName: "Doe", UUID: janeUUID,
		OTP: true, Image: janeImage, ImageType: "image/png",
		Notifications: map[string]bool{"notif-1": true, "notif-2": false, "notif-3": true}})
	s.AddUser(volterrasim.User{Name: "robot", Type: "SERVICE", UUID: "robot-uuid"})
	s.AddToken(svcToken, "ops", false)
	s.AddToken(callerToken, "jane", false)
	s.AddToken(readOnlyToken, "jane", true)
	s.AddToken(robotToken, "robot", false)
	return s
}

// testDoer is the conformance suite's HTTP doer (one attempt per call; in a
// dry run it answers writes itself), plus a compact view of the calls.
type testDoer struct{ adaptertest.HTTPDoer }

func (d *testDoer) lines() []string {
	var out []string
	for _, c := range d.Calls() {
		out = append(out, c.Method+" "+c.Path)
	}
	return out
}

// run applies op with a against a fresh server for s.
func run(t *testing.T, a *Adapter, s *volterrasim.Sim, op adapters.Op) (*testDoer, adapters.Outcome, error) {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	d := &testDoer{adaptertest.HTTPDoer{Base: srv.URL}}
	out, err := a.Apply(context.Background(), d, op)
	return d, out, err
}

// credModes are the two ways the adapter authenticates.
var credModes = []struct {
	name string
	tok  canonical.Secret
	pass canonical.Secret
}{{"service token", svcToken, ""}, {"pass-through", "", callerToken}}

func TestConformance(t *testing.T) {
	for _, mode := range credModes {
		t.Run(mode.name, func(t *testing.T) {
			adaptertest.Run(t, harness(mode.tok, mode.pass))
		})
	}
}

// BenchmarkApply is the adapter's own work per update (plan, bodies,
// parsing), with the vendor's answers replayed from memory.
func BenchmarkApply(b *testing.B) {
	adaptertest.Bench(b, harness(svcToken, ""))
}

func harness(tok, pass canonical.Secret) adaptertest.Harness {
	// The addressed user is the token's owner: jane for her pass-through
	// token, ops for the service token.
	id := opsUUID
	if pass != "" {
		id = janeUUID
	}
	op := func(u canonical.Update) adapters.Op {
		return adapters.Op{UserID: id, Update: u, PassThrough: pass}
	}
	return adaptertest.Harness{
		New: func(t testing.TB) (adapters.Adapter, http.Handler, []string) {
			return open(t, tok), seeded(), []string{svcToken}
		},
		Cases: []adaptertest.Case{
			{Name: "given name", Op: op(canonical.Update{GivenName: canonical.Some("S")})},
			{Name: "avatar only", Op: op(canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})})},
			{Name: "everything", Op: op(canonical.Update{GivenName: canonical.Some("A"), FamilyName: canonical.Some("B"),
				OTPEnabled: canonical.Some(false), Notifications: canonical.Some([]string{"app.alert"}),
				Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})})},
		},
		// Volterra reads only the credential owner: another user's id is
		// not_found rather than the owner's settings.
		Missing: adapters.Op{UserID: "someone-else", PassThrough: pass},
	}
}

func TestEveryFieldHasACapabilityRow(t *testing.T) {
	caps := open(t, svcToken).Capabilities()
	want := map[canonical.Field]bool{canonical.FieldGivenName: true, canonical.FieldFamilyName: true,
		canonical.FieldOTPEnabled: true, canonical.FieldNotifications: true, canonical.FieldAvatar: true}
	for _, f := range canonical.AllFields() {
		s, ok := caps.Fields[f]
		switch {
		case !ok:
			t.Errorf("%s: no row", f)
		case s.Supported != want[f]:
			t.Errorf("%s: supported=%v, docs/vendors/volterra.md says %v", f, s.Supported, want[f])
		case s.Supported && s.As == "":
			t.Errorf("%s: supported without As", f)
		case !s.Supported && s.Reason == "":
			t.Errorf("%s: unsupported without Reason", f)
		}
	}
	if len(caps.Fields) != len(canonical.AllFields()) {
		t.Errorf("%d rows for %d fields", len(caps.Fields), len(canonical.AllFields()))
	}
}

// TestPartialUpdatesKeepTheRest is the core promise: under replace (and
// merge) semantics a partial update changes exactly what it names.
func TestPartialUpdatesKeepTheRest(t *testing.T) {
	jane := volterrasim.User{Name: "jane", Email: "jane@example.com", FirstName: "Jane", LastName: "Doe", UUID: janeUUID, Type: "USER",
		OTP: true, Image: janeImage, ImageType: "image/png", Notifications: map[string]bool{"notif-1": true, "notif-2": false, "notif-3": true, "notif-4": false, "notif-5": false}}
	pngB64 := base64.StdEncoding.EncodeToString(png)
	cases := []struct {
		name   string
		update canonical.Update
		want   func(*volterrasim.User)
		calls  []string
	}{
		{"given name", canonical.Update{GivenName: canonical.Some("Janet")},
			func(u *volterrasim.User) { u.FirstName = "Janet" },
			[]string{"GET " + whoamiPath, "GET " + settingsPath, "PUT " + settingsPath}},
		{"family name", canonical.Update{FamilyName: canonical.Some("Roe")},
			func(u *volterrasim.User) { u.LastName = "Roe" },
			[]string{"GET " + whoamiPath, "GET " + settingsPath, "PUT " + settingsPath}},
		{"otp off", canonical.Update{OTPEnabled: canonical.Some(false)},
			func(u *volterrasim.User) { u.OTP = false },
			[]string{"GET " + whoamiPath, "GET " + settingsPath, "PUT " + settingsPath}},
		{"notifications", canonical.Update{Notifications: canonical.Some([]string{"app.alert"})},
			func(u *volterrasim.User) {
				u.Notifications["notif-1"], u.Notifications["notif-2"], u.Notifications["notif-3"] = false, true, false
			},
			[]string{"GET " + whoamiPath, "GET " + settingsPath, "PUT " + settingsPath}},
		{"avatar", canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})},
			func(u *volterrasim.User) { u.Image = pngB64 },
			[]string{"GET " + whoamiPath, "PUT " + imagePath}},
		{"names and avatar", canonical.Update{GivenName: canonical.Some("J"), FamilyName: canonical.Some("D"), Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})},
			func(u *volterrasim.User) { u.FirstName, u.LastName, u.Image = "J", "D", pngB64 },
			[]string{"GET " + whoamiPath, "GET " + settingsPath, "PUT " + settingsPath, "PUT " + imagePath}},
	}
	for _, sem := range []struct {
		name string
		p    volterrasim.PutSemantics
	}{{"replace", volterrasim.Replace}, {"merge", volterrasim.Merge}} {
		for _, tc := range cases {
			t.Run(sem.name+"/"+tc.name, func(t *testing.T) {
				s := seeded()
				s.SetPutSemantics(sem.p)
				d, out, err := run(t, open(t, ""), s, adapters.Op{UserID: janeUUID, PassThrough: callerToken, Update: tc.update})
				if err != nil {
					t.Fatal(err)
				}
				want := jane
				want.Notifications = map[string]bool{}
				for k, v := range jane.Notifications {
					want.Notifications[k] = v
				}
				tc.want(&want)
				got, _ := s.User("jane")
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("jane at the vendor (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.calls, d.lines()); diff != "" {
					t.Errorf("calls (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.update.Fields(), out.Applied); diff != "" {
					t.Errorf("applied (-want +got):\n%s", diff)
				}
				if out.VendorID != janeUUID {
					t.Errorf("vendor id %q, want whoami's user_uuid", out.VendorID)
				}
				if ops, _ := s.User("ops"); ops.FirstName != "Ops" || !ops.OTP {
					t.Errorf("the service token's owner changed: %+v", ops)
				}
			})
		}
	}
}

func TestAvatarLandsAsTheSameBytes(t *testing.T) {
	for _, ct := range []string{"image/png", "image/jpeg", "image/gif", "image/webp"} {
		t.Run(ct, func(t *testing.T) {
			data := map[string][]byte{
				"image/png":  png,
				"image/jpeg": append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{1}, 30)...),
				"image/gif":  append([]byte("GIF89a"), bytes.Repeat([]byte{2}, 30)...),
				"image/webp": append([]byte("RIFF\x10\x00\x00\x00WEBPVP8 "), bytes.Repeat([]byte{3}, 30)...),
			}[ct]
			s := seeded()
			if _, _, err := run(t, open(t, svcToken), s, adapters.Op{UserID: opsUUID, Update: canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: ct, Data: data})}}); err != nil {
				t.Fatal(err)
			}
			u, _ := s.User("ops")
			got, err := base64.StdEncoding.DecodeString(u.Image)
			if err != nil || !bytes.Equal(got, data) || u.ImageType != ct {
				t.Errorf("stored %q (%s), want the input bytes as %s", u.Image, u.ImageType, ct)
			}
		})
	}
}

func TestNotificationMapping(t *testing.T) {
	cases := []struct {
		name  string
		notes map[string]string
		set   []string
		want  []string
	}{
		{"default map", nil, []string{"ticket.change"}, []string{"notif-1"}},
		{"empty set opts out of all", nil, []string{}, nil},
		{"configured map", map[string]string{"security": "notif-3", "billing": "notif-4"}, []string{"billing", "security"}, []string{"notif-3", "notif-4"}},
		{"two names on one code", map[string]string{"a": "notif-5", "b": "notif-5"}, []string{"a", "b"}, []string{"notif-5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded()
			a := openWith(t, Config{}, adapters.Deps{Notifications: tc.notes, Credential: adapters.Credential{Token: svcToken}})
			d, _, err := run(t, a, s, adapters.Op{UserID: opsUUID, Update: canonical.Update{Notifications: canonical.Some(tc.set)}})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := s.User("ops")
			if diff := cmp.Diff(tc.want, u.EnabledCodes()); diff != "" {
				t.Errorf("enabled codes (-want +got):\n%s", diff)
			}
			put := d.Calls()[2]
			var body map[string]any
			if err := json.Unmarshal(put.Body, &body); err != nil || body["enabled_notifications"] == nil {
				t.Errorf("enabled_notifications must be sent, as [] when empty: %s", put.Body)
			}
		})
	}
	if d1, d2 := DefaultNotifications(), DefaultNotifications(); &d1 == &d2 || len(d1) != 2 {
		t.Error("DefaultNotifications must return a fresh map")
	} else {
		d1["x"] = "y"
		if _, ok := DefaultNotifications()["x"]; ok {
			t.Error("DefaultNotifications shares its map")
		}
	}
}

func TestCredentials(t *testing.T) {
	cases := []struct {
		name     string
		svc      canonical.Secret
		pass     canonical.Secret
		header   string
		changed  string
		untouchd string
	}{
		{"service token", svcToken, "", "APIToken " + svcToken, "ops", "jane"},
		{"pass-through wins over the service token", svcToken, callerToken, "APIToken " + callerToken, "jane", "ops"},
		{"pass-through only", "", callerToken, "APIToken " + callerToken, "jane", "ops"},
		{"pass-through already prefixed", svcToken, "APIToken " + callerToken, "APIToken " + callerToken, "jane", "ops"},
		{"pass-through prefixed in another case, with blanks", "", "  apitoken  " + callerToken + " ", "APIToken " + callerToken, "jane", "ops"},
		{"service token prefixed in config", "APIToken " + svcToken, "", "APIToken " + svcToken, "ops", "jane"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded()
			a := open(t, tc.svc)
			// Addressed by e-mail (ops) or user_uuid (jane): either names the owner.
			id := map[string]string{"ops": "ops@example.com", "jane": janeUUID}[tc.changed]
			op := adapters.Op{UserID: id, PassThrough: tc.pass, Update: canonical.Update{FamilyName: canonical.Some("Changed")}}
			if uns, err := a.Preflight(op); err != nil || uns != nil {
				t.Fatalf("preflight: %v %v", uns, err)
			}
			d, _, err := run(t, a, s, op)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range d.Calls() {
				if got := c.Header.Values("Authorization"); len(got) != 1 || got[0] != tc.header {
					t.Errorf("%s: Authorization %q, want %q", c.Name, got, tc.header)
				}
			}
			if u, _ := s.User(tc.changed); u.LastName != "Changed" {
				t.Errorf("%s was not changed: %+v", tc.changed, u)
			}
			if u, _ := s.User(tc.untouchd); u.LastName == "Changed" {
				t.Errorf("%s was changed", tc.untouchd)
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	narrow := openWith(t, Config{ImageContentTypes: []string{"image/png", "image/jpeg"}, MaxImageBytes: 32}, adapters.Deps{Credential: adapters.Credential{Token: svcToken}})
	cases := []struct {
		name   string
		a      *Adapter
		op     adapters.Op
		field  string
		unsupp canonical.Field
	}{
		{"no credential at all", open(t, ""), adapters.Op{Update: canonical.Update{GivenName: canonical.Some("x")}}, "credential", ""},
		{"pass-through with a blank inside", open(t, svcToken), adapters.Op{PassThrough: "two words", Update: canonical.Update{GivenName: canonical.Some("x")}}, "credential", ""},
		{"pass-through with CRLF", open(t, ""), adapters.Op{PassThrough: "tok\r\nX-Evil: 1", Update: canonical.Update{GivenName: canonical.Some("x")}}, "credential", ""},
		{"pass-through of the scheme alone", open(t, ""), adapters.Op{PassThrough: "APIToken ", Update: canonical.Update{GivenName: canonical.Some("x")}}, "credential", ""},
		{"unmapped notification", open(t, svcToken), adapters.Op{Update: canonical.Update{Notifications: canonical.Some([]string{"ticket.change", "news.update"})}}, "", canonical.FieldNotifications},
		{"avatar type the tenant refuses", narrow, adapters.Op{Update: canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/gif", Data: []byte("GIF89a")})}}, "", canonical.FieldAvatar},
		{"avatar over the configured size", narrow, adapters.Op{Update: canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}}, "user.avatar.data", ""},
		{"fine", open(t, svcToken), adapters.Op{Update: canonical.Update{GivenName: canonical.Some("x"), Notifications: canonical.Some([]string{"app.alert"})}}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uns, err := tc.a.Preflight(tc.op)
			if tc.field == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.field != "" {
				var e *canonical.Error
				if !errors.As(err, &e) || e.Code != canonical.CodeInvalidRequest || len(e.Fields) != 1 || e.Fields[0].Field != tc.field || e.Fields[0].Target != "volterra" {
					t.Fatalf("err %#v, want invalid_request on %s", err, tc.field)
				}
				if p := tc.op.PassThrough.Reveal(); p != "" && p != "APIToken " && strings.Contains(e.Fields[0].Message+err.Error(), strings.TrimSpace(p)) {
					t.Error("the credential is in the message")
				}
			}
			if tc.unsupp != "" && (len(uns) != 1 || uns[0].Field != tc.unsupp || uns[0].Reason == "") {
				t.Errorf("unsupported %v, want %s", uns, tc.unsupp)
			}
			if tc.unsupp == "" && len(uns) != 0 {
				t.Errorf("unexpected unsupported %v", uns)
			}
		})
	}
	// Apply refuses the same ops without any call, whoever calls it.
	d := &testDoer{adaptertest.HTTPDoer{Base: "http://127.0.0.1:0"}}
	_, err := open(t, "").Apply(context.Background(), d, adapters.Op{PassThrough: "a b", Update: canonical.Update{GivenName: canonical.Some("x")}})
	if e := canonical.AsError(err); e.Code != canonical.CodeInvalidRequest || len(d.Calls()) != 0 {
		t.Errorf("Apply with a malformed credential: %v, %d calls", err, len(d.Calls()))
	}
}

func TestErrorMapping(t *testing.T) {
	full := canonical.Update{GivenName: canonical.Some("x"), Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}
	type step struct{ method, path string }
	steps := []step{{"GET", whoamiPath}, {"GET", settingsPath}, {"PUT", settingsPath}, {"PUT", imagePath}}
	statuses := []struct {
		status  int
		svc     canonical.Code
		caller  canonical.Code
		retryIn time.Duration
	}{
		{401, canonical.CodeUpstreamAuthFailed, canonical.CodeUnauthorized, 0},
		{403, canonical.CodeUpstreamAuthFailed, canonical.CodeForbidden, 0},
		{404, canonical.CodeNotFound, canonical.CodeNotFound, 0},
		{409, canonical.CodeConflict, canonical.CodeConflict, 0},
		// The simulator's Retry-After 7 is capped at the default max_retry_after (5s).
		{429, canonical.CodeRateLimited, canonical.CodeRateLimited, adapters.DefaultMaxRetryAfter},
		{500, canonical.CodeUpstreamUnavailable, canonical.CodeUpstreamUnavailable, 0},
		{503, canonical.CodeUpstreamUnavailable, canonical.CodeUpstreamUnavailable, adapters.DefaultMaxRetryAfter},
		{504, canonical.CodeUpstreamTimeout, canonical.CodeUpstreamTimeout, 0},
	}
	for i, st := range steps {
		for _, sc := range statuses {
			for _, caller := range []bool{false, true} {
				who := "service"
				if caller {
					who = "caller"
				}
				t.Run(fmt.Sprintf("%d at %s %s/%s", sc.status, st.method, st.path, who), func(t *testing.T) {
					s := seeded()
					retry := ""
					if sc.retryIn > 0 {
						retry = "7"
					}
					s.FailNext(st.method, st.path, sc.status, retry)
					s.SetStringErrors(sc.status == 409) // the spec's bare-string body too
					op := adapters.Op{UserID: opsUUID, Update: full}
					a := open(t, svcToken)
					if caller {
						op.UserID, op.PassThrough = janeUUID, callerToken
					}
					d, _, err := run(t, a, s, op)
					want := sc.svc
					if caller {
						want = sc.caller
					}
					var e *canonical.Error
					if !errors.As(err, &e) || e.Code != want || e.VendorStatus != sc.status || e.RetryAfter != sc.retryIn {
						t.Fatalf("err %v (%+v), want %s", err, e, want)
					}
					if strings.HasPrefix(e.Message, "vendor answered") {
						// every simulated error body carries a message
						t.Errorf("message %q not taken from the body", e.Message)
					}
					if got := len(d.Calls()); got != i+1 {
						t.Errorf("%d calls after a failure at call %d", got, i+1)
					}
					if strings.Contains(err.Error(), svcToken) || strings.Contains(err.Error(), callerToken) {
						t.Error("a token is in the error")
					}
				})
			}
		}
	}
}

func TestRefusedCredentials(t *testing.T) {
	cases := []struct {
		name   string
		svc    canonical.Secret
		pass   canonical.Secret
		code   canonical.Code
		status int
	}{
		{"caller token unknown", "", "not-a-token", canonical.CodeUnauthorized, 401},
		{"caller token read-only", svcToken, readOnlyToken, canonical.CodeForbidden, 403},
		{"service token unknown", "revoked-token", "", canonical.CodeUpstreamAuthFailed, 401},
		{"caller token of a service user", "", robotToken, canonical.CodeForbidden, 200},
		{"service token of a service user", robotToken, "", canonical.CodeUpstreamAuthFailed, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded()
			d, out, err := run(t, open(t, tc.svc), s, adapters.Op{UserID: janeUUID, PassThrough: tc.pass,
				Update: canonical.Update{OTPEnabled: canonical.Some(false), GivenName: canonical.Some("x")}})
			var e *canonical.Error
			if !errors.As(err, &e) || e.Code != tc.code || e.VendorStatus != tc.status {
				t.Fatalf("err %v, want %s", err, tc.code)
			}
			if tc.status == 200 && slices.ContainsFunc(d.Calls(), func(c adapters.Call) bool { return c.Kind == adapters.Write }) {
				t.Error("a write was sent for a service user")
			}
			for _, sec := range []string{svcToken, callerToken, readOnlyToken, robotToken, "not-a-token", "revoked-token"} {
				if strings.Contains(err.Error(), sec) || strings.Contains(fmt.Sprintf("%+v %v", out, e), sec) {
					t.Errorf("a token is in the error or outcome")
				}
			}
			if u, _ := s.User("jane"); !u.OTP || u.FirstName != "Jane" {
				t.Errorf("jane changed: %+v", u)
			}
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	s := seeded()
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := &testDoer{adaptertest.HTTPDoer{Base: srv.URL, DryRun: true}}
	u := canonical.Update{GivenName: canonical.Some("Dry"), OTPEnabled: canonical.Some(false), Notifications: canonical.Some([]string{"app.alert"}),
		Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}
	out, err := open(t, svcToken).Apply(context.Background(), d, adapters.Op{UserID: janeUUID, PassThrough: callerToken, Update: u})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u.Fields(), out.Applied); diff != "" {
		t.Errorf("a dry run reports what it would write (-want +got):\n%s", diff)
	}
	for _, r := range s.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("a write reached the vendor in a dry run: %s %s", r.Method, r.Path)
		}
	}
	if jane, _ := s.User("jane"); jane.FirstName != "Jane" || !jane.OTP || jane.Image != janeImage {
		t.Errorf("jane changed in a dry run: %+v", jane)
	}
	if diff := cmp.Diff([]string{"GET " + whoamiPath, "GET " + settingsPath, "PUT " + settingsPath, "PUT " + imagePath}, d.lines()); diff != "" {
		t.Errorf("planned calls (-want +got):\n%s", diff)
	}
	// What a dry run shows: path and body with Call.Secrets removed. No
	// credential may be there; the avatar and the stored image are redacted.
	for _, c := range d.Calls() {
		shown := redact(t, c)
		for _, sec := range []string{svcToken, callerToken, base64.StdEncoding.EncodeToString(png), janeImage} {
			if strings.Contains(c.Path, sec) || strings.Contains(shown, sec) {
				t.Errorf("%s shows a secret or image bytes: %s", c.Name, shown)
			}
		}
	}
}

// redact renders a call's body with its Call.Secrets members replaced, as
// the gateway shows it in a dry run.
func redact(t *testing.T, c adapters.Call) string {
	t.Helper()
	if len(c.Body) == 0 {
		return ""
	}
	var m map[string]any
	if err := json.Unmarshal(c.Body, &m); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v", c.Name, err)
	}
	for _, p := range c.Secrets {
		if _, ok := m[strings.TrimPrefix(p, "/")]; ok {
			m[strings.TrimPrefix(p, "/")] = canonical.Redacted
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestUnreadableAnswers(t *testing.T) {
	cases := []struct {
		name string
		path string
		body string
	}{
		{"whoami not JSON", whoamiPath, "<html>"},
		{"settings not an object", settingsPath, `[1,2]`},
		{"notifications of the wrong type", settingsPath, `{"notifications":"all"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim := seeded()
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == tc.path && r.Method == http.MethodGet {
					_, _ = io.WriteString(w, tc.body)
					return
				}
				sim.ServeHTTP(w, r)
			})
			srv := httptest.NewServer(h)
			defer srv.Close()
			d := &testDoer{adaptertest.HTTPDoer{Base: srv.URL}}
			_, err := open(t, svcToken).Apply(context.Background(), d, adapters.Op{UserID: opsUUID, Update: canonical.Update{GivenName: canonical.Some("x")}})
			if e := canonical.AsError(err); e.Code != canonical.CodeUpstreamError || e.VendorStatus != 200 {
				t.Errorf("err %v", err)
			}
			for _, c := range d.Calls() {
				if c.Kind == adapters.Write {
					t.Error("wrote after an unreadable read")
				}
			}
		})
	}
}

func TestOpen(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		deps adapters.Deps
		err  string
	}{
		{"defaults, pass-through only", Config{}, adapters.Deps{}, ""},
		{"negative image size", Config{MaxImageBytes: -1}, adapters.Deps{}, "settings.max_image_bytes"},
		{"unknown image type", Config{ImageContentTypes: []string{"image/bmp"}}, adapters.Deps{}, "settings.image_content_types[0]"},
		{"empty notification code", Config{}, adapters.Deps{Notifications: map[string]string{"a": ""}}, "notifications.a.volterra"},
		{"malformed service token", Config{}, adapters.Deps{Credential: adapters.Credential{Token: "has space"}}, "credential.token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			a, err := c.Open("volterra", tc.deps)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				got := a.(*Adapter).cfg
				if got.MaxImageBytes != 1<<20 || len(got.ImageContentTypes) != 4 {
					t.Errorf("defaults %+v", got)
				}
				if c.MaxImageBytes != 0 {
					t.Error("Open changed its receiver")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %s", err, tc.err)
			}
			if strings.Contains(err.Error(), "has space") {
				t.Error("the token is in the error")
			}
		})
	}
}

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`"conflict: settings changed"`, "conflict: settings changed"},
		{`{"code":5,"message":"user not found","details":[]}`, "user not found"},
		{`{}`, ""},
		{`garbage`, ""},
		{``, ""},
		{`"line\nbreak"`, "linebreak"},
		{`"` + strings.Repeat("é", 400) + `"`, strings.Repeat("é", 150) + "..."},
	} {
		if got := parseMessage([]byte(tc.body)); got != tc.want {
			t.Errorf("parseMessage(%.20q) = %.40q, want %.40q", tc.body, got, tc.want)
		}
	}
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		svc  canonical.Secret
		op   adapters.Op
	}{
		{"given_name_only", svcToken, adapters.Op{UserID: opsUUID, Update: canonical.Update{GivenName: canonical.Some("Opsy")}}},
		{"full_update_pass_through", svcToken, adapters.Op{UserID: janeUUID, PassThrough: "APIToken " + callerToken, Update: canonical.Update{
			GivenName: canonical.Some("Janet"), FamilyName: canonical.Some("Roe"), OTPEnabled: canonical.Some(true),
			Notifications: canonical.Some([]string{"app.alert", "ticket.change"}),
			Avatar:        canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}}},
		{"avatar_only", svcToken, adapters.Op{UserID: opsUUID, Update: canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}}},
		{"notifications_opt_out_all", svcToken, adapters.Op{UserID: opsUUID, Update: canonical.Update{Notifications: canonical.Some([]string{})}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _, err := run(t, open(t, tc.svc), seeded(), tc.op)
			if err != nil {
				t.Fatal(err)
			}
			adaptertest.Golden(t, tc.name, adaptertest.GoldenCalls(d.Calls()), *update)
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{`"x"`, `{"code":5,"message":"m","details":[]}`, `[`, `null`, `"\u0000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := parseMessage(b)
		if len(m) > maxMessage+3 {
			t.Errorf("message of %d bytes", len(m))
		}
		for _, r := range m {
			if r < ' ' {
				t.Errorf("control character in %q", m)
			}
		}
	})
}

func FuzzParseSettings(f *testing.F) {
	for _, s := range []string{
		`{"image":"AAAA","notifications":[{"code":"notif-1","label":"l","description":"d","enabled":true}],"otp_enabled":true,"otp_status":"OTP_ENABLED"}`,
		`{}`, `{"notifications":null}`, `[]`, `{"notifications":[{"enabled":true}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := parseSettings(b)
		if err != nil {
			return
		}
		if body.EnabledNotifications == nil {
			t.Error("nil codes would be sent as null")
		}
		if !slices.IsSorted(body.EnabledNotifications) || len(slices.Compact(slices.Clone(body.EnabledNotifications))) != len(body.EnabledNotifications) {
			t.Errorf("codes not normalized: %q", body.EnabledNotifications)
		}
		if _, err := json.Marshal(body); err != nil {
			t.Error(err)
		}
	})
}
