package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"testing"

	"github.com/identity-gateway/identity-gateway/adapters"
	"github.com/identity-gateway/identity-gateway/adapters/commvault"
	"github.com/identity-gateway/identity-gateway/canonical/decode"
	"github.com/identity-gateway/identity-gateway/internal/links"
)

// BenchmarkAddressing is BenchmarkHotPath's no-key update addressed four
// ways: vendor_ids in the request (the store is not read), a memory link,
// a PostgreSQL link through the cache, and a PostgreSQL link read every
// time (cache off). The PostgreSQL cases need DATABASE_URL.
func BenchmarkAddressing(b *testing.B) {
	cases := []struct {
		name      string
		vendorIDs bool
		store     func(b *testing.B) links.Store
	}{
		{"vendor_ids", true, func(*testing.B) links.Store { return links.NewMemoryStore(nil) }},
		{"memory-link", false, func(*testing.B) links.Store { return links.NewMemoryStore(nil) }},
		{"postgres-link-cached", false, func(b *testing.B) links.Store { return benchPG(b, 0) }},
		{"postgres-link-uncached", false, func(b *testing.B) links.Store { return benchPG(b, -1) }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s := tc.store(b)
			if _, err := s.Put(context.Background(), "jdoe", links.Change{Links: map[string]string{"commvault": "42"}, Source: links.SourceAPI}); err != nil {
				b.Fatal(err)
			}
			a, err := (&commvault.Config{}).Open("commvault", adapters.Deps{Credential: adapters.Credential{Username: "svc", Password: "pw"}})
			if err != nil {
				b.Fatal(err)
			}
			hdr := http.Header{"Content-Type": {"application/json"}}
			vendor := adapters.DoerFunc(func(_ context.Context, c *adapters.Call) (*adapters.Response, error) {
				if c.Kind == adapters.Auth {
					return &adapters.Response{Status: 200, Header: hdr, Body: []byte(`{"token":"QSDK 1","userName":"svc"}`), Attempts: 1}, nil
				}
				return &adapters.Response{Status: 200, Header: hdr, Body: []byte(`{"errorMessage":"","errorCode":0}`), Attempts: 1, AttemptStatuses: []int{200}}, nil
			})
			d, err := New([]Target{{Name: "commvault", Adapter: a, Doer: vendor}}, Options{Links: s})
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(`{"targets":["commvault"],"user":{"display_name":"Jane Doe","email":"jane@example.com","enabled":true}}`)
			if tc.vendorIDs {
				body = []byte(`{"targets":["commvault"],"vendor_ids":{"commvault":"42"},"user":{"display_name":"Jane Doe","email":"jane@example.com","enabled":true}}`)
			}
			b.ReportAllocs()
			for b.Loop() {
				req, err := decode.Request(body, "jdoe")
				if err != nil {
					b.Fatal(err)
				}
				out, err := d.Apply(context.Background(), Input{Client: "c", Request: req, Method: "PATCH", Path: "/v1/users/jdoe"})
				if err != nil || out.Status != 200 {
					b.Fatalf("%v %d", err, out.Status)
				}
			}
		})
	}
}

func benchPG(b *testing.B, cacheSize int) links.Store {
	b.Helper()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		b.Skip("DATABASE_URL is not set")
	}
	r := make([]byte, 6)
	_, _ = rand.Read(r)
	s, err := links.OpenPG(context.Background(), links.PGOptions{URL: url, Schema: "dispatch_bench_" + hex.EncodeToString(r), CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = s.DropSchema(context.Background())
		s.Close()
	})
	return s
}
