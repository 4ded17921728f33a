package frontier

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/frontier/frontiersim"
	"github.com/identity-gateway/identity-gateway/canonical"
)

// stub answers GET with the seeded user and everything else with the given
// status and body, for vendor answers the simulator cannot be driven into
// (409 is only reachable on Frontier's e-mail create path).
func stub(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(`{"user":{"id":"` + userID + `","name":"janedoe","title":"Jane","email":"jane@example.com","metadata":{},"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z","state":"enabled","avatar":""}}`))
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

func TestVendorAnswersMapped(t *testing.T) {
	title := op(canonical.Update{DisplayName: canonical.Some("New")})
	cases := []struct {
		name   string
		h      http.Handler
		op     adapters.Op
		code   canonical.Code
		status int
		msg    string // part of the canonical message
		field  string // the canonical field named, if any
	}{
		{name: "409 conflict", h: stub(409, `{"code":6,"message":"already exist","details":[]}`), op: title,
			code: canonical.CodeConflict, status: 409, msg: "already exist"},
		{name: "400 with Frontier's message", h: stub(400, `{"code":3,"message":"invalid syntax in body","details":[]}`), op: title,
			code: canonical.CodeInvalidRequest, status: 400, msg: "invalid syntax in body"},
		{name: "400 naming the avatar", h: stub(400, `{"code":3,"message":"invalid UpdateUserRequest.Body: embedded message failed validation | caused by: invalid UserRequestBody.Avatar: value length must be at most 250000 runes","details":[]}`),
			op: op(canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}), code: canonical.CodeInvalidRequest, status: 400, msg: "at most 250000 runes", field: "user.avatar"},
		{name: "404", h: stub(404, `{"code":5,"message":"user doesn't exist","details":[]}`), op: title,
			code: canonical.CodeNotFound, status: 404, msg: "user doesn't exist"},
		{name: "401", h: stub(401, `{"code":16,"message":"not authenticated","details":[]}`), op: title,
			code: canonical.CodeUpstreamAuthFailed, status: 401, msg: "not authenticated"},
		{name: "plain 503 is an outage", h: stub(503, `{"code":14,"message":"connection refused","details":[]}`), op: title,
			code: canonical.CodeUpstreamUnavailable, status: 503},
		{name: "500 internal", h: stub(500, `{"code":13,"message":"internal server error","details":[]}`), op: title,
			code: canonical.CodeUpstreamUnavailable, status: 500},
		{name: "non-JSON error body", h: stub(502, `<html>bad gateway</html>`), op: title,
			code: canonical.CodeUpstreamUnavailable, status: 502},
		{name: "echo ignores the title", h: stub(200, `{"user":{"id":"`+userID+`","title":"Jane","email":"jane@example.com","metadata":{},"avatar":""}}`), op: title,
			code: canonical.CodeUpstreamError, status: 200, msg: "did not apply: title"},
		{name: "echo drops metadata", h: stub(200, `{"user":{"id":"`+userID+`","title":"Jane","email":"jane@example.com","metadata":{},"avatar":""}}`),
			op: op(canonical.Update{Metadata: canonical.Some(canonical.Metadata{"description": "x"})}), code: canonical.CodeUpstreamError, status: 200, msg: "metadata"},
		{name: "unreadable 200", h: stub(200, `{"usr":{}}`), op: title,
			code: canonical.CodeUpstreamError, msg: "unreadable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			out, err := open(t, cred).Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, tc.op)
			var e *canonical.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %v carries no *canonical.Error", err)
			}
			if e.Code != tc.code || e.VendorStatus != tc.status || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("got %s %d %q, want %s %d containing %q", e.Code, e.VendorStatus, e.Message, tc.code, tc.status, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "frontier: ") {
				t.Errorf("error %q lacks the vendor prefix", err)
			}
			if tc.field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != tc.field || e.Fields[0].Target != "frontier") {
				t.Errorf("fields %+v, want %s", e.Fields, tc.field)
			}
			if len(out.Applied) != 0 {
				t.Errorf("failed update reports applied %v", out.Applied)
			}
		})
	}
}

// TestSimulatorRefusals drives the simulator into its documented refusals.
func TestSimulatorRefusals(t *testing.T) {
	t.Run("stored e-mail fails Frontier's validation: 400 with its message", func(t *testing.T) {
		sim := seeded(true)
		sim.AddUser(frontiersim.User{ID: userID, Name: "janedoe", Email: "jane@bad_host.example"})
		srv := httptest.NewServer(sim)
		defer srv.Close()
		_, err := open(t, cred).Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, op(canonical.Update{DisplayName: canonical.Some("x")}))
		e := canonical.AsError(err)
		if e.Code != canonical.CodeInvalidRequest || !strings.Contains(e.Message, "invalid UserRequestBody.Email") || len(e.Fields) != 0 {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("metaschema refusal names user.metadata when the preflight check is off", func(t *testing.T) {
		srv := httptest.NewServer(seeded(true))
		defer srv.Close()
		a, err := (&Config{SkipMetaschemaCheck: true}).Open("frontier", adapters.Deps{Credential: cred})
		if err != nil {
			t.Fatal(err)
		}
		o := op(canonical.Update{Metadata: canonical.Some(canonical.Metadata{"label": "flat"})})
		if uns, err := a.(*Adapter).Preflight(o); err != nil || len(uns) != 0 {
			t.Fatalf("preflight %v %v", uns, err)
		}
		_, err = a.Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, o)
		e := canonical.AsError(err)
		if e.Code != canonical.CodeInvalidRequest || len(e.Fields) != 1 || e.Fields[0].Field != "user.metadata" {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("disabled user without enable: not_found that says why", func(t *testing.T) {
		sim := seeded(true)
		sim.AddUser(frontiersim.User{ID: userID, Name: "janedoe", Email: "jane@example.com", State: "disabled", Title: "Kept"})
		srv := httptest.NewServer(sim)
		defer srv.Close()
		d := &adaptertest.HTTPDoer{Base: srv.URL}
		_, err := open(t, cred).Apply(context.Background(), d, op(canonical.Update{DisplayName: canonical.Some("x")}))
		e := canonical.AsError(err)
		if e.Code != canonical.CodeNotFound || !strings.Contains(e.Message, "enabled: true") {
			t.Errorf("got %+v", e)
		}
		if u, _ := sim.User(userID); u.Title != "Kept" || len(d.Writes()) != 0 {
			t.Errorf("a write happened: %+v", u)
		}
	})
}

func TestDryRunSendsNoWrite(t *testing.T) {
	sim := seeded(true)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	before, _ := sim.User(userID)
	d := &adaptertest.HTTPDoer{Base: srv.URL, DryRun: true}
	u := canonical.Update{DisplayName: canonical.Some("Dry"), Enabled: canonical.Some(false),
		Metadata: canonical.Some(canonical.Metadata{"description": "dry"})}
	out, err := open(t, cred).Apply(context.Background(), d, op(u))
	if err != nil {
		t.Fatal(err)
	}
	want := []canonical.Field{canonical.FieldDisplayName, canonical.FieldMetadata, canonical.FieldEnabled}
	if diff := cmp.Diff(want, out.Applied); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	for _, r := range sim.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("dry run sent %s %s", r.Method, r.Path)
		}
	}
	if len(d.Writes()) != 2 {
		t.Errorf("planned writes %d, want PUT and disable", len(d.Writes()))
	}
	after, _ := sim.User(userID)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("dry run changed the user:\n%s", diff)
	}
}

func TestPartialUpdatesKeepOtherFields(t *testing.T) {
	sim := seeded(true)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	a := open(t, cred)
	steps := []canonical.Update{
		{Metadata: canonical.Some(canonical.Metadata{"description": "new"})},
		{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/jpeg", Data: []byte("\xff\xd8\xff\xe0")})},
		{DisplayName: canonical.Some("Last")},
	}
	for _, u := range steps {
		if _, err := a.Apply(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, op(u)); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := sim.User(userID)
	want := frontiersim.User{ID: userID, Name: "janedoe", Email: "jane@example.com", Title: "Last", State: "enabled",
		Avatar: "data:image/jpeg;base64,/9j/4A==", Metadata: map[string]any{"description": "new"}}
	if diff := cmp.Diff(want, got, ignoreStamps); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
}

var ignoreStamps = cmp.Transformer("stamps", func(u frontiersim.User) frontiersim.User {
	u.CreatedAt, u.UpdatedAt = "", ""
	return u
})

func TestNoSecretInErrorsOrPaths(t *testing.T) {
	for _, h := range []http.Handler{seeded(false), stub(401, `{"code":16,"message":"not authenticated"}`), stub(400, `{"code":3,"message":"bad"}`)} {
		srv := httptest.NewServer(h)
		d := &adaptertest.HTTPDoer{Base: srv.URL}
		_, err := open(t, cred).Apply(context.Background(), d, op(canonical.Update{DisplayName: canonical.Some("x"), Enabled: canonical.Some(false)}))
		srv.Close()
		if err == nil {
			t.Fatal("expected an error")
		}
		auth := d.Calls()[0].Header.Get("Authorization")
		for _, s := range []string{secret, strings.TrimPrefix(auth, "Basic ")} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q carries a credential", err)
			}
			for _, c := range d.Calls() {
				if strings.Contains(c.Path, s) || strings.Contains(string(c.Body), s) {
					t.Errorf("%s %s carries a credential", c.Method, c.Path)
				}
			}
		}
	}
}

func TestClassify(t *testing.T) {
	a := open(t, cred)
	cases := []struct {
		status int
		body   string
		want   adapters.Class
	}{
		{503, `{"code":14,"message":"function not available at the moment","details":[]}`, adapters.Healthy},
		{500, `{"code":13,"message":"user doesn't exist","details":[]}`, adapters.Healthy},
		{500, `{"code":13,"message":"internal server error","details":[]}`, adapters.Default},
		{503, `upstream connect error`, adapters.Default},
		{503, ``, adapters.Default},
		{404, `{"code":5,"message":"user doesn't exist"}`, adapters.Default},
		{200, `{"user":{}}`, adapters.Default},
	}
	for _, tc := range cases {
		if got := a.Classify(&adapters.Response{Status: tc.status, Body: []byte(tc.body)}); got != tc.want {
			t.Errorf("%d %s: got %v want %v", tc.status, tc.body, got, tc.want)
		}
	}
}

func TestOpen(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		cred adapters.Credential
		err  string
	}{
		{"defaults", Config{}, cred, ""},
		{"no credential", Config{}, adapters.Credential{}, "credential: username (client id) and password"},
		{"token only", Config{}, adapters.Credential{Token: "t"}, "credential: username"},
		{"colon in secret", Config{}, adapters.Credential{Username: "id", Password: "a:b"}, "cannot contain ':'"},
		{"avatar limit too high", Config{MaxAvatarChars: 250001}, cred, "settings.max_avatar_chars"},
		{"avatar limit negative", Config{MaxAvatarChars: -1}, cred, "settings.max_avatar_chars"},
		{"lower avatar limit", Config{MaxAvatarChars: 1000}, cred, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			_, err := c.Open("frontier", adapters.Deps{Credential: tc.cred})
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "a:b") {
				t.Error("secret in the Open error")
			}
			if c != tc.cfg {
				t.Errorf("Open changed its config: %+v", c)
			}
		})
	}
	a, _ := (&Config{MaxAvatarChars: 40}).Open("f", adapters.Deps{Credential: cred})
	_, err := a.(*Adapter).Preflight(op(canonical.Update{Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}))
	if e := canonical.AsError(err); e == nil || len(e.Fields) != 1 || e.Fields[0].Field != "user.avatar" || e.Fields[0].Target != "f" {
		t.Errorf("configured avatar limit not applied: %v", err)
	}
}
