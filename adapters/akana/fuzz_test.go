package akana

import (
	"net/http"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/adapters"
)

// FuzzParseSettings feeds arbitrary vendor answers to every parser the
// adapter runs on Akana's bytes: none may panic, and what they accept must
// be usable (a non-nil opted-in set, a message of bounded length).
func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(`{"UserID":"45742f96-aad2-45d8-b507-420cf07c87ff.acmepaymentscorp","Email":"jane@acmepaymentscorp.com","OptedNotification":["com.soa.notification.type.ticket.change"]}`))
	f.Add([]byte(`{"UserID":"x","Email":"y","OptedNotification":null}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`"522320b9-cb6b-495d-ae07-e4b3bfdb3f6a.acmepaymentscorp"`))
	f.Add([]byte("TokenID%3Dx%2CexpirationTime%3D1700000000000"))
	a := &Adapter{cfg: Config{Tenant: tenant, SessionLifetime: DefaultSessionLifetime}, now: time.Now}
	f.Fuzz(func(t *testing.T, body []byte) {
		if s, err := parseSettings(body); err == nil && s.OptedNotification == nil {
			t.Error("accepted settings with a nil opted-in set")
		}
		_, _ = parseUser(body)
		_ = parseConfirmation(body)
		_ = expiration(string(body))
		e := mapError(&adapters.Response{Status: 500, Body: body})
		if len(e.Message) > maxMessage+3 {
			t.Errorf("message of %d bytes", len(e.Message))
		}
		h := http.Header{"Set-Cookie": {"AtmoAuthToken_" + tenant + "=" + string(body)}}
		_, _ = a.token(&adapters.Response{Status: 200, Header: h}, "login")
	})
}
