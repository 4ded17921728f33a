package commvault

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
	a := open(t, svcPW)
	u := full()
	u.Password = canonical.Opt[canonical.Password]{}
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	if ok, err := a.Verify(context.Background(), d, op(u)); ok || err != nil {
		t.Fatalf("before the write: %v %v", ok, err)
	}
	if _, err := a.Apply(context.Background(), d, op(u)); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Verify(context.Background(), d, op(u)); !ok || err != nil {
		t.Fatalf("after the write: %v %v", ok, err)
	}
	if ok, _ := a.Verify(context.Background(), d, op(full())); ok {
		t.Error("a password can never be verified")
	}
}
