package upstream

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

type instruments struct {
	vendor   attribute.KeyValue
	calls    metric.Int64Counter
	duration metric.Float64Histogram
	retries  metric.Int64Counter
}

// newInstruments creates the vendor-call metrics; label values are the
// vendor name and HTTP status only, so cardinality stays bounded.
func newInstruments(mp metric.MeterProvider, vendor string, state func() int64) (instruments, error) {
	m := mp.Meter("github.com/identity-gateway/identity-gateway/internal/upstream")
	in := instruments{vendor: attribute.String("vendor", vendor)}
	var err error
	if in.calls, err = m.Int64Counter("gateway.vendor.calls", metric.WithDescription("Vendor calls by vendor and final HTTP status.")); err != nil {
		return in, err
	}
	if in.duration, err = m.Float64Histogram("gateway.vendor.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Vendor call latency, retries included."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return in, err
	}
	if in.retries, err = m.Int64Counter("gateway.vendor.retries", metric.WithDescription("Retried vendor attempts.")); err != nil {
		return in, err
	}
	_, err = m.Int64ObservableGauge("gateway.vendor.breaker.state", metric.WithDescription("Breaker state: 0 closed, 1 half-open, 2 open."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(state(), metric.WithAttributes(in.vendor))
			return nil
		}))
	return in, err
}
