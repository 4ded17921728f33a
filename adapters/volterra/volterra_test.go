package volterra

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/volterra/volterrasim"
	"github.com/identity-gateway/identity-gateway/canonical"
)

const (
	svcToken    = "svc-token-abcdef"
	callerToken = "caller-token-123456"
)

var png = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 16)...)

func open(t *testing.T, tok canonical.Secret) *Adapter {
	t.Helper()
	a, err := (&Config{}).Open("volterra", adapters.Deps{Credential: adapters.Credential{Token: tok}})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Adapter)
}

func sim() *volterrasim.Sim {
	s := volterrasim.New()
	s.AddUser(volterrasim.User{Name: "svc", FirstName: "Service", LastName: "Account", OTP: true})
	s.AddUser(volterrasim.User{Name: "jane", FirstName: "Jane", LastName: "Doe", OTP: true, Image: "AAAA", ImageType: "image/png"})
	s.AddToken(svcToken, "svc", false)
	s.AddToken(callerToken, "jane", false)
	s.AddToken("readonly", "jane", true)
	return s
}

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T) (adapters.Adapter, http.Handler, []string) {
			return open(t, svcToken), sim(), []string{svcToken}
		},
		Cases: []adaptertest.Case{
			{Name: "given name", Op: adapters.Op{UserID: "svc", Update: canonical.Update{GivenName: canonical.Some("S")}}},
			{Name: "everything", Op: adapters.Op{UserID: "svc", Update: canonical.Update{GivenName: canonical.Some("A"), FamilyName: canonical.Some("B"),
				OTPEnabled: canonical.Some(false), Notifications: canonical.Some([]string{"app.alert"}),
				Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}}},
			{Name: "pass-through", Op: adapters.Op{UserID: "jane", PassThrough: callerToken, Update: canonical.Update{FamilyName: canonical.Some("Roe")}}},
		},
	})
}

func TestPartialUpdateKeepsOTPNamesAndImage(t *testing.T) {
	s := sim()
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	out, err := open(t, "").Apply(context.Background(), d, adapters.Op{UserID: "jane", PassThrough: "APIToken " + callerToken,
		Update: canonical.Update{GivenName: canonical.Some("Janet")}})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := s.User("jane")
	if u.FirstName != "Janet" || u.LastName != "Doe" || !u.OTP || u.Image != "AAAA" {
		t.Errorf("user %+v", u)
	}
	if diff := cmp.Diff([]string{"notif-1", "notif-2"}, u.EnabledCodes()); diff != "" {
		t.Errorf("notifications changed: %s", diff)
	}
	if diff := cmp.Diff([]canonical.Field{canonical.FieldGivenName}, out.Applied); diff != "" {
		t.Error(diff)
	}
	var names []string
	for _, c := range d.Calls() {
		names = append(names, c.Method+" "+c.Path)
	}
	want := []string{"GET " + settingsPath, "GET " + whoamiPath, "PUT " + settingsPath}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("calls: %s", diff)
	}
	if svc, _ := s.User("svc"); svc.FirstName != "Service" {
		t.Error("the service account was changed instead of the caller")
	}
}

func TestNotificationsAreTheFullSet(t *testing.T) {
	s := sim()
	srv := httptest.NewServer(s)
	defer srv.Close()
	a := open(t, svcToken)
	if _, err := a.Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, adapters.Op{Update: canonical.Update{Notifications: canonical.Some([]string{"ticket.change"})}}); err != nil {
		t.Fatal(err)
	}
	u, _ := s.User("svc")
	if diff := cmp.Diff([]string{"notif-1"}, u.EnabledCodes()); diff != "" {
		t.Error(diff)
	}
	uns, err := a.Preflight(adapters.Op{Update: canonical.Update{Notifications: canonical.Some([]string{"news.update"})}})
	if err != nil || len(uns) != 1 || uns[0].Field != canonical.FieldNotifications {
		t.Errorf("unmapped name: %v %v", uns, err)
	}
}

func TestCredentialRules(t *testing.T) {
	_, err := open(t, "").Preflight(adapters.Op{Update: canonical.Update{GivenName: canonical.Some("x")}})
	if e := canonical.AsError(err); e.Code != canonical.CodeInvalidRequest || e.Fields[0].Field != "credential" {
		t.Fatalf("no credential: %v", err)
	}
	cases := []struct {
		name string
		svc  canonical.Secret
		pass canonical.Secret
		code canonical.Code
	}{
		{"caller token refused", "", "wrong", canonical.CodeUnauthorized},
		{"caller token read-only", "", "readonly", canonical.CodeForbidden},
		{"service token refused", "wrong", "", canonical.CodeUpstreamAuthFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(sim())
			defer srv.Close()
			_, err := open(t, tc.svc).Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL},
				adapters.Op{PassThrough: tc.pass, Update: canonical.Update{OTPEnabled: canonical.Some(true), GivenName: canonical.Some("x"), FamilyName: canonical.Some("y")}})
			var e *canonical.Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("err %v want %s", err, tc.code)
			}
		})
	}
}

func TestErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		code   canonical.Code
		msg    string
	}{
		{409, `"conflict: settings changed"`, canonical.CodeConflict, "conflict: settings changed"},
		{404, `{"code":5,"message":"user not found","details":[]}`, canonical.CodeNotFound, "user not found"},
		{429, `{}`, canonical.CodeRateLimited, ""},
		{503, `garbage`, canonical.CodeUpstreamUnavailable, ""},
		{504, `""`, canonical.CodeUpstreamTimeout, ""},
		{500, `{"message":"boom"}`, canonical.CodeUpstreamUnavailable, "boom"},
	} {
		e := mapError(&adapters.Response{Status: tc.status, Body: []byte(tc.body), Header: http.Header{}}, adapters.ServiceCredential)
		if e.Code != tc.code || (tc.msg != "" && e.Message != tc.msg) {
			t.Errorf("%d %s: %+v", tc.status, tc.body, e)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{`"x"`, `{"code":5,"message":"m"}`, `[`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { _ = parseMessage(b) })
}
