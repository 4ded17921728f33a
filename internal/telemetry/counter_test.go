package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestCounterReportsEverySeries(t *testing.T) {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	c, err := NewCounter[[2]string](mp.Meter("test"), "test.calls", "calls")
	if err != nil {
		t.Fatal(err)
	}
	add := func(vendor, status string, n int64) {
		c.Add([2]string{vendor, status}, n, func() []attribute.KeyValue {
			return []attribute.KeyValue{attribute.String("vendor", vendor), attribute.String("status", status)}
		})
	}
	add("commvault", "200", 1)
	add("commvault", "200", 2)
	add("frontier", "error", 1)
	want := map[string]int64{"commvault/200": 3, "frontier/error": 1}
	for round := range 2 { // cumulative: a second collection reports the same totals
		var rm metricdata.ResourceMetrics
		if err := r.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				sum, ok := m.Data.(metricdata.Sum[int64])
				if m.Name != "test.calls" || !ok {
					t.Fatalf("round %d: unexpected metric %s %T", round, m.Name, m.Data)
				}
				if !sum.IsMonotonic || sum.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("round %d: monotonic %v temporality %v, want a cumulative counter", round, sum.IsMonotonic, sum.Temporality)
				}
				for _, dp := range sum.DataPoints {
					v, _ := dp.Attributes.Value("vendor")
					s, _ := dp.Attributes.Value("status")
					got[v.AsString()+"/"+s.AsString()] = dp.Value
				}
			}
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: series %v, want %v", round, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("round %d: %s = %d, want %d", round, k, got[k], v)
			}
		}
	}
}

// BenchmarkCounter: one increment as the gateway's hot path makes it (a
// sampled span in the context, the attribute set kept), through the SDK's
// synchronous counter and through Counter. Run on every core at once, as
// under load; the CPU per increment is ns/op times GOMAXPROCS.
func BenchmarkCounter(b *testing.B) {
	tel, err := Setup(context.Background(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ctx, span := tel.TracerProvider.Tracer("bench").Start(context.Background(), "request")
	defer span.End()
	m := tel.MeterProvider.Meter("bench")
	attrs := func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("vendor", "commvault"), attribute.String("status", "200")}
	}
	b.Run("sdk", func(b *testing.B) {
		c, err := m.Int64Counter("bench.sdk")
		if err != nil {
			b.Fatal(err)
		}
		var sets AttrSets[[2]string]
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(ctx, 1, sets.Get([2]string{"commvault", "200"}, attrs).Add...)
			}
		})
	})
	b.Run("counter", func(b *testing.B) {
		c, err := NewCounter[[2]string](m, "bench.counter", "")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add([2]string{"commvault", "200"}, 1, attrs)
			}
		})
	})
}
