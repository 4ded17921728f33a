package audit_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/audit"
)

// BenchmarkTrailRecord: the gateway's Record of every update into the quick
// start's memory sink (a full bounded store), one caller and many. The
// memory sink gets no per-record timeout (a timer armed and stopped), and
// Record takes the trail's lock once per sink, not twice.
func BenchmarkTrailRecord(b *testing.B) {
	ctx := context.Background()
	setup := func(b *testing.B) *audit.Trail {
		s := audit.NewBoundedMemoryStore(100_000)
		tr, err := audit.NewTrail(audit.Options{Sinks: []audit.Sink{s}})
		if err != nil {
			b.Fatal(err)
		}
		r := gatewayRecord(1)
		for range 100_000 {
			tr.Record(ctx, r)
		}
		return tr
	}
	b.Run("serial", func(b *testing.B) {
		tr, r := setup(b), gatewayRecord(1)
		b.ReportAllocs()
		for b.Loop() {
			tr.Record(ctx, r)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		tr := setup(b)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := gatewayRecord(1)
			for pb.Next() {
				tr.Record(ctx, r)
			}
		})
	})
}

// BenchmarkChanges is the audit record's fields and kept values, made for
// every update: a one-field update (the load benchmark's) and one that
// sets every personal field and an extension.
func BenchmarkChanges(b *testing.B) {
	name := canonical.Opt[string]{Set: true, V: "Jane Doe"}
	one := canonical.Request{User: canonical.Update{DisplayName: name}}
	many := canonical.Request{User: canonical.Update{Username: name, Email: canonical.Opt[string]{Set: true, V: "Jane@Example.com"},
		GivenName: name, FamilyName: name, DisplayName: name, Enabled: canonical.Opt[bool]{Set: true, V: true}},
		Extensions: map[string]map[string]json.RawMessage{"akana": {"locale": json.RawMessage(`"en"`)}}}
	for _, bc := range []struct {
		name string
		req  canonical.Request
	}{{"one field", one}, {"every personal field", many}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				audit.Changes(bc.req, audit.ValuesHashed)
			}
		})
	}
}
