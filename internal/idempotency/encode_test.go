package idempotency

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical/result"
)

func TestAppendMetaMatchesJSON(t *testing.T) {
	fp := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, tc := range []struct {
		name string
		r    Record
	}{
		{"claim", Record{Fingerprint: fp, Started: 1}},
		{"zero", Record{}},
		{"applied", Record{Fingerprint: fp, Done: true, Status: 200, Started: 1, Body: []byte(`{"id":"x"}`)}},
		{"binary body", Record{Fingerprint: fp, Done: true, Status: 502, Body: []byte{0, 0xff, '<', '&', 0xfb, 0xef}}},
		{"body of every length mod 3", Record{Fingerprint: fp, Done: true, Body: []byte("ab")}},
		{"empty body", Record{Fingerprint: fp, Done: true, Body: []byte{}}},
		{"retry after", Record{Fingerprint: fp, Done: true, Status: 503, RetryAfter: 1500 * time.Millisecond, Started: 3}},
		{"negative", Record{Fingerprint: fp, Status: -1, RetryAfter: -time.Second, Started: -2}},
		{"empty targets", Record{Fingerprint: fp, Targets: map[string]result.Target{}}},
		{"targets", Record{Fingerprint: fp, Started: 2, Targets: map[string]result.Target{"commvault": {Status: result.StatusApplied, VendorID: "42", Attempts: 1}}}},
		{"escaped fingerprint", Record{Fingerprint: "a\"b<c>\u2028é", Done: true}},
		{"punctuated fingerprint", Record{Fingerprint: "v2:abc-DEF_1.2", Done: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.r
			c.Body = nil
			want, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			full, err := json.Marshal(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := tc.r.AppendJSON([]byte("prefix")); err != nil || !bytes.Equal(got, append([]byte("prefix"), full...)) {
				t.Errorf("AppendJSON: %v\n got %s\nwant prefix%s", err, got, full)
			}
			got, err := appendMeta([]byte("prefix"), &tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("appendMeta:\n got %s\nwant prefix%s", got, want)
			}
			data, err := appendEncoded(nil, &tc.r)
			if err != nil {
				t.Fatal(err)
			}
			var back Record
			if err := decode(data, &back); err != nil {
				t.Fatal(err)
			}
			if back.Fingerprint != tc.r.Fingerprint || back.Done != tc.r.Done || back.Status != tc.r.Status ||
				back.RetryAfter != tc.r.RetryAfter || back.Started != tc.r.Started || !bytes.Equal(back.Body, tc.r.Body) ||
				len(back.Targets) != len(tc.r.Targets) {
				t.Errorf("round trip: %+v, want %+v", back, tc.r)
			}
		})
	}
}

// BenchmarkEncode is the stored form of a fully applied answer, as every
// keyed update writes it: through json.Marshal as before, and now.
func BenchmarkEncode(b *testing.B) {
	r := Record{Fingerprint: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Done: true, Status: 200, Started: 1,
		Body: bytes.Repeat([]byte("x"), 400)}
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := r
			c.Body = nil
			meta, err := json.Marshal(c)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, 0, 4+len(meta)+len(r.Body))
			_ = append(append(out, meta...), r.Body...)
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := appendEncoded(nil, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
