package idempotency_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
	"github.com/identity-gateway/identity-gateway/internal/idempotency/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) (idempotency.Store, func(time.Duration)) { return idempotency.NewMemoryStore(), nil })
}

type brokenStore struct{}

var errDown = errors.New("down")

func (brokenStore) Lock(context.Context, string, time.Duration) (func(context.Context) error, error) {
	return nil, errDown
}
func (brokenStore) Get(context.Context, string) (idempotency.Record, error) {
	return idempotency.Record{}, errDown
}
func (brokenStore) Put(context.Context, string, idempotency.Record, time.Duration) error {
	return errDown
}
func (brokenStore) Ping(context.Context) error { return errDown }

func TestStoreDown(t *testing.T) {
	_, err := idempotency.NewGuard(brokenStore{}, idempotency.Options{}).Begin(context.Background(), "c", "k", "fp")
	if !errors.Is(err, idempotency.ErrUnavailable) {
		t.Errorf("fail closed: %v", err)
	}
	tk, err := idempotency.NewGuard(brokenStore{}, idempotency.Options{FailOpen: true}).Begin(context.Background(), "c", "k", "fp")
	if err != nil || !tk.Bypass {
		t.Errorf("fail open: %+v %v", tk, err)
	}
}

func decode(t *testing.T, body string) canonical.Request {
	t.Helper()
	r, err := canonical.Decode([]byte(body), "jdoe")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFingerprint(t *testing.T) {
	a := idempotency.Fingerprint("PATCH", "/v1/users/jdoe", decode(t, `{"targets":["a","b"],"user":{"given_name":"J","password":{"new":"pw1"},"metadata":{"x":1,"y":2}}}`))
	b := idempotency.Fingerprint("PATCH", "/v1/users/jdoe", decode(t, "{ \"user\" : {\"metadata\":{\"y\":2,\"x\":1}, \"password\":{\"new\":\"pw1\"},\"given_name\":\"J\"},\n\"targets\":[\"a\",\"b\"]}"))
	c := idempotency.Fingerprint("PATCH", "/v1/users/jdoe", decode(t, `{"targets":["a","b"],"user":{"given_name":"J","password":{"new":"pw2"},"metadata":{"x":1,"y":2}}}`))
	d := idempotency.Fingerprint("PATCH", "/v1/users/other", decode(t, `{"targets":["a","b"],"user":{"given_name":"J","password":{"new":"pw1"},"metadata":{"x":1,"y":2}}}`))
	if a != b {
		t.Error("key order or whitespace changed the fingerprint")
	}
	if a == c {
		t.Error("a different password gave the same fingerprint")
	}
	if a == d {
		t.Error("a different path gave the same fingerprint")
	}
}

func BenchmarkMemoryBeginFinish(b *testing.B) {
	g := idempotency.NewGuard(idempotency.NewMemoryStore(), idempotency.Options{})
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		tk, err := g.Begin(ctx, "c", "key-"+strconv.Itoa(i), "fp")
		if err != nil {
			b.Fatal(err)
		}
		_ = tk.Finish(ctx, 200, []byte(`{}`), 0, nil)
	}
}
