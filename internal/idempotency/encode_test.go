package idempotency

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/identity-gateway/identity-gateway/canonical"
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
		{"targets one by one", Record{Fingerprint: fp, Started: 1, Targets: fanOutTargets()}},
		{"targets and answer", Record{Fingerprint: fp, Done: true, Status: 207, Started: 2, RetryAfter: 30 * time.Second,
			Body: []byte(`{"id":"jdoe"}`), Targets: fanOutTargets()}},
		{"escaped target names", Record{Fingerprint: fp, Targets: map[string]result.Target{"a\"<b>\u2028": {Status: "x&é"}, "": {}}}},
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
			if d := cmp.Diff(tc.r.Targets, back.Targets, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("round trip: targets differ (-want +got):\n%s", d)
			}
		})
	}
}

// fanOutTargets are the results a four-target update records as each
// target applies (and one that failed, as a partial answer keeps).
func fanOutTargets() map[string]result.Target {
	call := func(name, method, path string, statuses ...int) result.CallSummary {
		c := result.CallSummary{Name: name, Method: method, Path: path, Status: statuses[len(statuses)-1]}
		for _, s := range statuses {
			c.AttemptStatuses = append(c.AttemptStatuses, result.AttemptStatus{Status: s})
		}
		return c
	}
	return map[string]result.Target{
		"akana": {Status: result.StatusApplied, VendorID: "u-1", Attempts: 2, DurationMS: 3, Applied: []canonical.Field{canonical.FieldDisplayName},
			Calls: []result.CallSummary{call("get user", "GET", "/api/users/u-1", 200), call("put user", "PUT", "/api/users/u-1/settings", 200)}},
		"commvault": {Status: result.StatusApplied, VendorID: "42", Attempts: 1, DurationMS: 1, Applied: []canonical.Field{canonical.FieldDisplayName, canonical.FieldGivenName},
			Calls: []result.CallSummary{call("put user", "PUT", "/v4/user/42", 200)}, Verified: true},
		"frontier": {Status: result.StatusFailed, VendorID: "7c9e", Attempts: 3, DurationMS: 2500,
			Calls: []result.CallSummary{{Name: "get user", Method: "GET", Path: "/v1beta1/users/7c9e",
				AttemptStatuses: []result.AttemptStatus{{Status: 503}, {Outcome: "timeout"}, {Status: 503}}}},
			Error: &result.ErrorBody{Code: canonical.CodeUpstreamUnavailable, Message: "frontier answered 503 <again>", VendorStatus: 503, RetryAfter: 30,
				Fields: []canonical.FieldError{{Field: "user.display_name", Target: "frontier", Message: "refused"}}}},
		"volterra": {Status: result.StatusApplied, Attempts: 2, DurationMS: 4, Replayed: true,
			Calls: []result.CallSummary{call("get settings", "GET", "/api/web/namespaces/system/user/settings", 200)}},
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

// BenchmarkEncodeTargets is a four-target update's record as its last
// target applies: through json.Marshal as before, and now.
func BenchmarkEncodeTargets(b *testing.B) {
	r := Record{Fingerprint: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Started: 1, Targets: fanOutTargets()}
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			meta, err := json.Marshal(r)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, 0, 4+len(meta))
			_ = append(out, meta...)
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

// TestRecordEncodingAllocations: a record is encoded into the caller's
// buffer and the store's stack buffer, with no allocation of its own, on
// both paths every update takes (a claim's first record and the answer).
// A copy of the record or a stack buffer that escapes (one handed to an
// indirect call) is an allocation per write.
func TestRecordEncodingAllocations(t *testing.T) {
	fp := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for name, r := range map[string]Record{
		"claim":  {Fingerprint: fp, Started: 1},
		"answer": {Fingerprint: fp, Done: true, Status: 200, Started: 1, Body: bytes.Repeat([]byte("x"), 400)},
	} {
		dst := make([]byte, 0, 4096)
		if n := testing.AllocsPerRun(100, func() { _, _ = appendEncoded(dst[:0], &r) }); n != 0 {
			t.Errorf("%s: appendEncoded allocates %v times per record, want 0", name, n)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = r.AppendJSON(dst[:0]) }); n != 0 {
			t.Errorf("%s: AppendJSON allocates %v times per record, want 0", name, n)
		}
	}
}
