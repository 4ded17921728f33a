package commvault

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/adaptertest"
	"github.com/identity-gateway/identity-gateway/adapters/commvault/commvaultsim"
)

// List logs in and sends one GET /V4/user (the V4 list has no paging) and
// shows every user, each readable back by the id it lists.
func TestListShowsEveryUserInOneCall(t *testing.T) {
	s := sim()
	s.SeedUsers(25)
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := &adaptertest.HTTPDoer{Base: srv.URL}
	a := open(t, svcPW)
	seen := map[string]adapters.Listed{}
	err := a.List(context.Background(), d, func(u adapters.Listed) error {
		if _, dup := seen[u.VendorID]; dup {
			t.Errorf("%s listed twice", u.VendorID)
		}
		seen[u.VendorID] = u
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The service account, jdoe (42), taken (43) and the seeded users.
	if len(seen) != 3+25 {
		t.Fatalf("%d users listed: %v", len(seen), seen)
	}
	if got := seen["42"]; got.Username != "jdoe" || got.Email != "jane@example.com" {
		t.Errorf("42 listed as %+v", got)
	}
	if got := seen[strconv.Itoa(int(commvaultsim.SeededUserID(24)))]; got.Username != "seeded24" {
		t.Errorf("the last seeded user listed as %+v", got)
	}
	calls := d.Calls()
	if len(calls) != 2 || calls[0].Name != "login" || calls[1].Method != "GET" || calls[1].Path != "/V4/user" || calls[1].Kind != adapters.Read {
		t.Fatalf("calls %+v", calls)
	}
	for id := range seen {
		if _, err := a.Read(context.Background(), d, adapters.Op{UserID: id}); err != nil {
			t.Errorf("listed %s does not read back: %v", id, err)
		}
	}
}

func TestListStopsAtTheCallbacksError(t *testing.T) {
	srv := httptest.NewServer(sim())
	defer srv.Close()
	stop := errors.New("stop")
	n := 0
	err := open(t, svcPW).List(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, func(adapters.Listed) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d users", err, n)
	}
}

// A refused login is the list's error, not an empty list.
func TestListReportsAFailedLogin(t *testing.T) {
	srv := httptest.NewServer(sim())
	defer srv.Close()
	err := open(t, "wrong-password").List(context.Background(), &adaptertest.HTTPDoer{Base: srv.URL}, func(adapters.Listed) error { return nil })
	if err == nil {
		t.Fatal("no error")
	}
}
