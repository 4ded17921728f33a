package frontier

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/canonical"
)

func TestDelete(t *testing.T) {
	s := seeded(true)
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	a := open(t, cred)
	if err := a.Delete(context.Background(), d, userID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.User(userID); ok {
		t.Fatal("the user is still there")
	}
	if calls := d.Calls(); len(calls) != 1 || calls[0].Method != "DELETE" || calls[0].Path != "/v1beta1/users/"+userID {
		t.Fatalf("calls %+v", calls)
	}
	// Frontier answers an unknown UUID with 500 code 13: not found.
	if err := a.Delete(context.Background(), d, userID); canonical.AsError(err).Code != canonical.CodeNotFound {
		t.Fatalf("second delete: %v, want not_found", err)
	}
	if err := a.Delete(context.Background(), d, "not-a-uuid"); canonical.AsError(err).Code != canonical.CodeInvalidRequest {
		t.Fatalf("bad id: %v, want invalid_request before any call", err)
	}
}
