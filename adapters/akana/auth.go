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

// Cookie and header names carry the tenant (akana.md section 3).
func (a *Adapter) authCookie() string { return "AtmoAuthToken_" + a.cfg.Tenant }
func (a *Adapter) csrfCookie() string { return "Csrf-Token_" + a.cfg.Tenant }
func (a *Adapter) csrfHeader() string { return "X-Csrf-Token_" + a.cfg.Tenant }

// login posts the service account's credentials (JSON email/password; no
// CSRF header, login is exempt) and turns the cookies it sets into the
// headers every later call carries.
func (a *Adapter) login(ctx context.Context, do adapters.Doer) (session.Token, error) {
	body, err := json.Marshal(loginRequest{Email: a.cred.Username, Password: a.cred.Password.Reveal()})
	if err != nil {
		return session.Token{}, fmt.Errorf("akana: login: %w", &canonical.Error{Code: canonical.CodeInternal, Message: "encoding the login body failed"})
	}
	resp, err := do.Do(ctx, &adapters.Call{
		Name: "login", Kind: adapters.Auth, Method: http.MethodPost, Path: "/api/login",
		Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		Body:   body, Secrets: loginSecrets,
	})
	if err != nil {
		return session.Token{}, fmt.Errorf("akana: login: %w", err)
	}
	return a.token(resp, "login")
}

// renew extends the session with POST /api/login/renewToken, which needs
// the still-valid cookie and the CSRF header (akana.md section 2.4). On
// failure the session manager falls back to a fresh login.
func (a *Adapter) renew(ctx context.Context, do adapters.Doer, old session.Token) (session.Token, error) {
	h := old.Header.Clone()
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("Accept", "application/json")
	resp, err := do.Do(ctx, &adapters.Call{Name: "renew token", Kind: adapters.Auth, Method: http.MethodPost, Path: "/api/login/renewToken", Header: h})
	if err != nil {
		return session.Token{}, fmt.Errorf("akana: renew token: %w", err)
	}
	return a.token(resp, "renew token")
}

// token reads the auth and CSRF cookies from a login or renew answer. The
// CSRF cookie is only issued when the tenant has CSRF protection on; its
// value is echoed verbatim (still URL-encoded) in the header.
func (a *Adapter) token(resp *adapters.Response, step string) (session.Token, error) {
	if !resp.OK() {
		e := adapters.StatusError(resp, adapters.ServiceCredential, "")
		if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden {
			// Never echo the body: a login answer might quote the e-mail.
			e.Message = "Akana refused the gateway's service account at " + step
		}
		return session.Token{}, fmt.Errorf("akana: %s: %w", step, e)
	}
	var auth, csrf string
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		switch c.Name {
		case a.authCookie():
			auth = c.Value
		case a.csrfCookie():
			csrf = c.Value
		}
	}
	if auth == "" {
		return session.Token{}, fmt.Errorf("akana: %s: %w", step, &canonical.Error{Code: canonical.CodeUpstreamAuthFailed, VendorStatus: resp.Status,
			Message: "Akana answered without an " + a.authCookie() + " cookie (another tenant, or a pending login task such as a password change)"})
	}
	h := http.Header{}
	cookie := a.authCookie() + "=" + auth
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

// expiration reads expirationTime (Unix ms) from an AtmoAuthToken value,
// a URL-encoded comma list (akana.md section 3, step 2); zero when absent.
func expiration(cookie string) time.Time {
	v, err := url.QueryUnescape(cookie)
	if err != nil {
		return time.Time{}
	}
	for _, part := range strings.Split(v, ",") {
		if ms, ok := strings.CutPrefix(strings.TrimSpace(part), "expirationTime="); ok {
			n, err := strconv.ParseInt(ms, 10, 64)
			// Bounds keep time.UnixMilli in range for any input.
			if err == nil && n > 0 && n < 1<<53 {
				return time.UnixMilli(n)
			}
		}
	}
	return time.Time{}
}
