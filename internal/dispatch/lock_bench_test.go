package dispatch

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/frontier"
	"github.com/identity-gateway/identity-gateway/canonical/decode"
	"github.com/identity-gateway/identity-gateway/internal/accountlock"
)

// BenchmarkAccountLock is the account lock's cost (issue 26) on a
// read-modify-write update (Frontier: GET user, PUT user), with the vendor
// answered in process, from 16 goroutines per CPU: "spread" sends every
// update to its own user, "hot" every update to one user (the lock
// serialises them). Without a lock, with the in-process lock, and with the
// Redis lock (REDIS_URL, else miniredis; auto-pipelined like the gateway's).
func BenchmarkAccountLock(b *testing.B) {
	cfg := &frontier.Config{}
	a, err := cfg.Open("frontier", adapters.Deps{Credential: adapters.Credential{Username: "client", Password: "secret"}})
	if err != nil {
		b.Fatal(err)
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	user := []byte(`{"user":{"id":"x","title":"old","email":"a@b.c","metadata":{},"avatar":""}}`)
	vendor := adapters.DoerFunc(func(_ context.Context, c *adapters.Call) (*adapters.Response, error) {
		if c.Method == http.MethodGet {
			return &adapters.Response{Status: 200, Header: hdr, Body: user, Attempts: 1, AttemptStatuses: []int{200}}, nil
		}
		// PUT answers the stored user: the body sent, enveloped.
		body := bytes.Join([][]byte{[]byte(`{"user":`), c.Body, []byte(`}`)}, nil)
		return &adapters.Response{Status: 200, Header: hdr, Body: body, Attempts: 1, AttemptStatuses: []int{200}}, nil
	})

	redisClient := func(b *testing.B) redis.UniversalClient {
		var c *redis.Client
		if u := os.Getenv("REDIS_URL"); u != "" {
			opt, err := redis.ParseURL(u)
			if err != nil {
				b.Fatal(err)
			}
			c = redis.NewClient(opt)
		} else {
			c = redis.NewClient(&redis.Options{Addr: miniredis.RunT(b).Addr()})
		}
		b.Cleanup(func() { c.Close() })
		ap, err := c.AutoPipeline()
		if err != nil {
			b.Fatal(err)
		}
		return ap
	}
	for _, lk := range []struct {
		name  string
		locks func(b *testing.B) Locker
	}{
		{"unlocked", func(*testing.B) Locker { return nil }},
		{"memory", func(*testing.B) Locker { return accountlock.NewMemory(0) }},
		{"redis", func(b *testing.B) Locker { return accountlock.NewRedis(redisClient(b), "bench-accountlock:", 0) }},
	} {
		for _, hot := range []bool{false, true} {
			name := lk.name + "/spread"
			if hot {
				name = lk.name + "/hot"
			}
			b.Run(name, func(b *testing.B) {
				d, err := New([]Target{{Name: "frontier", Adapter: a, Doer: vendor}}, Options{Locks: lk.locks(b)})
				if err != nil {
					b.Fatal(err)
				}
				var n atomic.Int64
				b.ReportAllocs()
				// 16 updates in flight per CPU, as under a server's load.
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						id := "00000000-0000-4000-8000-000000000000"
						if !hot {
							s := strconv.FormatInt(n.Add(1), 10)
							id = id[:len(id)-len(s)] + s
						}
						body := []byte(`{"targets":["frontier"],"vendor_ids":{"frontier":"` + id + `"},"user":{"display_name":"Jane Doe"}}`)
						req, err := decode.Request(body, "jdoe")
						if err != nil {
							b.Fatal(err)
						}
						out, err := d.Apply(context.Background(), Input{Client: "c", Request: req, Method: "PATCH", Path: "/v1/users/jdoe"})
						if err != nil || out.Status != 200 {
							b.Fatalf("%v %d %s", err, out.Status, out.Body)
						}
					}
				})
			})
		}
	}
}
