package upstream

import (
	"context"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/identity-gateway/identity-gateway/internal/telemetry"
)

type instruments struct {
	vendor   attribute.KeyValue
	calls    metric.Int64Counter
	duration metric.Float64Histogram
	retries  metric.Int64Counter

	vendorOnly *telemetry.Opts
	byStatus   telemetry.AttrSets[any] // status label (string) or HTTP code (int)
}

// callAttrs is the vendor and status label set of a gateway.vendor.calls
// point; statuses are HTTP codes and a few words, so the cache is bounded.
func (in *instruments) callAttrs(status string) []metric.AddOption {
	return in.cached(status, func() string { return status })
}

// codeAttrs is callAttrs for an HTTP status code, without formatting it on
// every call.
func (in *instruments) codeAttrs(code int) []metric.AddOption {
	return in.cached(code, func() string { return strconv.Itoa(code) })
}

func (in *instruments) cached(key any, label func() string) []metric.AddOption {
	return in.byStatus.Get(key, func() []attribute.KeyValue {
		return []attribute.KeyValue{in.vendor, attribute.String("status", label())}
	}).Add
}

// newInstruments creates the vendor-call metrics; label values are the
// vendor name and HTTP status only, so cardinality stays bounded. The
// breaker state gauge is BreakerStates's, shared by every vendor.
func newInstruments(mp metric.MeterProvider, vendor string) (*instruments, error) {
	m := mp.Meter(meterName)
	in := &instruments{vendor: attribute.String("vendor", vendor)}
	in.vendorOnly = telemetry.NewOpts(in.vendor)
	var err error
	if in.calls, err = m.Int64Counter("gateway.vendor.calls", metric.WithDescription("Vendor calls by vendor and final HTTP status.")); err != nil {
		return in, err
	}
	if in.duration, err = m.Float64Histogram("gateway.vendor.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Vendor call latency, retries included."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return in, err
	}
	in.retries, err = m.Int64Counter("gateway.vendor.retries", metric.WithDescription("Retried vendor attempts."))
	return in, err
}

const meterName = "github.com/identity-gateway/identity-gateway/internal/upstream"

// BreakerStates exports gateway.vendor.breaker.state for every vendor:
// one observable gauge with one callback that observes each registered
// breaker. Registering the gauge once per vendor does not work: the meter
// hands back the same instrument and only the first vendor's callback was
// ever observed. Build one per MeterProvider and pass it to every Client
// through Options.Breakers.
type BreakerStates struct {
	mu     sync.Mutex
	series []breakerSeries
}

type breakerSeries struct {
	attrs metric.ObserveOption
	state func() int64
}

// NewBreakerStates registers the gauge and its callback on mp.
func NewBreakerStates(mp metric.MeterProvider) (*BreakerStates, error) {
	b := &BreakerStates{}
	_, err := mp.Meter(meterName).Int64ObservableGauge("gateway.vendor.breaker.state",
		metric.WithDescription("Breaker state per vendor: 0 closed, 1 half-open, 2 open."),
		metric.WithInt64Callback(b.observe))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// add registers one vendor's breaker.
func (b *BreakerStates) add(vendor string, state func() int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.series = append(b.series, breakerSeries{attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("vendor", vendor))), state: state})
}

func (b *BreakerStates) observe(_ context.Context, o metric.Int64Observer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.series {
		o.Observe(s.state(), s.attrs)
	}
	return nil
}
