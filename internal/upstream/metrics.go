package upstream

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/identity-gateway/identity-gateway/internal/telemetry"
)

type instruments struct {
	vendor   attribute.KeyValue
	calls    metric.Int64Counter
	duration metric.Float64Histogram
	retries  metric.Int64Counter

	vendorOnly metric.MeasurementOption
	byStatus   telemetry.AttrSets[any] // status label (string) or HTTP code (int)
}

// callAttrs is the vendor and status label set of a gateway.vendor.calls
// point; statuses are HTTP codes and a few words, so the cache is bounded.
func (in *instruments) callAttrs(status string) metric.MeasurementOption {
	return in.cached(status, func() string { return status })
}

// codeAttrs is callAttrs for an HTTP status code, without formatting it on
// every call.
func (in *instruments) codeAttrs(code int) metric.MeasurementOption {
	return in.cached(code, func() string { return strconv.Itoa(code) })
}

func (in *instruments) cached(key any, label func() string) metric.MeasurementOption {
	return in.byStatus.Get(key, func() []attribute.KeyValue {
		return []attribute.KeyValue{in.vendor, attribute.String("status", label())}
	})
}

// newInstruments creates the vendor-call metrics; label values are the
// vendor name and HTTP status only, so cardinality stays bounded.
func newInstruments(mp metric.MeterProvider, vendor string, state func() int64) (*instruments, error) {
	m := mp.Meter("github.com/identity-gateway/identity-gateway/internal/upstream")
	in := &instruments{vendor: attribute.String("vendor", vendor)}
	in.vendorOnly = metric.WithAttributeSet(attribute.NewSet(in.vendor))
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
			o.Observe(state(), in.vendorOnly)
			return nil
		}))
	return in, err
}
