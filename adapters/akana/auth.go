package akana

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/session"
	"github.com/identity-gateway/identity-gateway/canonical"
)

func (a *Adapter) cookieName() string { return "AtmoAuthToken_" + a.cfg.Tenant }
func (a *Adapter) csrfCookie() string { return "Csrf-Token_" + a.cfg.Tenant }
func (a *Adapter) csrfHeader() string { return "X-Csrf-Token_" + a.cfg.Tenant }

// login posts the service account's credentials and turns the cookies into
// the headers every later call carries.
func (a *Adapter) login(ctx context.Context, do adapters.Doer) (session.Token, error) {
	body, _ := json.Marshal(map[string]string{"email": a.cred.Username, "password": a.cred.Password.Reveal()})
	resp, err := do.Do(ctx, &adapters.Call{Name: "login", Kind: adapters.Auth, Method: http.MethodPost, Path: "/api/login",
		Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}, Body: body, Secrets: []string{"/password"}})
	if err != nil {
		return session.Token{}, fmt.Errorf("akana: login: %w", err)
	}
	return a.token(resp, "login")
}

// renew extends the session with POST /api/login/renewToken.
func (a *Adapter) renew(ctx context.Context, do adapters.Doer, old session.Token) (session.Token, error) {
	h := old.Header.Clone()
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := do.Do(ctx, &adapters.Call{Name: "renew token", Kind: adapters.Auth, Method: http.MethodPost, Path: "/api/login/renewToken", Header: h})
	if err != nil {
		return session.Token{}, fmt.Errorf("akana: renew: %w", err)
	}
	return a.token(resp, "renew")
}

func (a *Adapter) token(resp *adapters.Response, step string) (session.Token, error) {
	if !resp.OK() {
		e := adapters.StatusError(resp, adapters.ServiceCredential, truncate(string(resp.Body)))
		if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden {
			e.Message = "Akana refused the gateway's service account at " + step
		}
		return session.Token{}, fmt.Errorf("akana: %s: %w", step, e)
	}
	var auth, csrf string
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		switch c.Name {
		case a.cookieName():
			auth = c.Value
		case a.csrfCookie():
			csrf = c.Value
		}
	}
	if auth == "" {
		return session.Token{}, fmt.Errorf("akana: %s: %w", step, &canonical.Error{Code: canonical.CodeUpstreamAuthFailed, VendorStatus: resp.Status,
			Message: "Akana answered the login without an " + a.cookieName() + " cookie (wrong tenant, or a pending login task)"})
	}
	h := http.Header{}
	cookie := a.cookieName() + "=" + auth
	if csrf != "" {
		cookie += "; " + a.csrfCookie() + "=" + csrf
		h.Set(a.csrfHeader(), csrf)
	}
	h.Set("Cookie", cookie)
	exp := expiration(auth)
	if exp.IsZero() {
		exp = a.now().Add(a.cfg.SessionLifetime)
	}
	return session.Token{Header: h, Expires: exp}, nil
}

// expiration reads expirationTime (ms) from the AtmoAuthToken value.
func expiration(cookie string) time.Time {
	v, err := url.QueryUnescape(cookie)
	if err != nil {
		return time.Time{}
	}
	for _, part := range strings.Split(v, ",") {
		if ms, ok := strings.CutPrefix(part, "expirationTime="); ok {
			if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
				return time.UnixMilli(n)
			}
		}
	}
	return time.Time{}
}
