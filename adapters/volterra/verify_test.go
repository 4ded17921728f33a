package volterra

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

func TestVerify(t *testing.T) {
	srv := httptest.NewServer(seeded())
	defer srv.Close()
	a := open(t, svcToken)
	o := adapters.Op{UserID: opsUUID, Update: canonical.Update{GivenName: canonical.Some("Veri"), OTPEnabled: canonical.Some(false),
		Notifications: canonical.Some([]string{"app.alert"}), Avatar: canonical.Some(canonical.Avatar{ContentType: "image/png", Data: png})}}
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
