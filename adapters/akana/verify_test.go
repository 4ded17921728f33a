package akana

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

func TestVerify(t *testing.T) {
	srv := httptest.NewServer(sim())
	defer srv.Close()
	a := open(t, "admin@acme.example", adminPW)
	o := op(canonical.Update{Email: canonical.Some("v@acme.example"), Notifications: canonical.Some([]string{"news.update"}), GivenName: canonical.Some("V")})
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	if ok, err := a.Verify(context.Background(), d, o); ok || err != nil {
		t.Fatalf("before the write: %v %v", ok, err)
	}
	if _, err := a.Apply(context.Background(), d, o); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Verify(context.Background(), d, o); !ok || err != nil {
		t.Fatalf("after the write: %v %v", ok, err)
	}
}
