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
	name     string // the vendor
	vendor   attribute.KeyValue
	calls    *telemetry.Counter[callKey] // shared by every vendor (Shared)
	duration metric.Float64Histogram
	retries  metric.Int64Counter

	vendorOnly *telemetry.Opts
}

// callKey is one gateway.vendor.calls series: the vendor and either an
// HTTP status code or a word (rate_limited, circuit_open, error). Both
// are bounded.
type callKey struct {
	vendor string
	code   int
	word   string
}

// call counts one vendor call that ended with status, a word.
func (in *instruments) call(status string) {
	in.calls.Add(callKey{vendor: in.name, word: status}, 1, func() []attribute.KeyValue {
		return []attribute.KeyValue{in.vendor, attribute.String("status", status)}
	})
}

// callCode counts one vendor call answered with an HTTP status code,
// formatted only the first time it is seen.
func (in *instruments) callCode(code int) {
	in.calls.Add(callKey{vendor: in.name, code: code}, 1, func() []attribute.KeyValue {
		return []attribute.KeyValue{in.vendor, attribute.String("status", strconv.Itoa(code))}
	})
}

// newInstruments creates the vendor-call metrics; label values are the
// vendor name and HTTP status only, so cardinality stays bounded. The
// call counter and the breaker state gauge are Shared's, one for every
// vendor.
func newInstruments(mp metric.MeterProvider, vendor string, shared *Shared) (*instruments, error) {
	m := mp.Meter(meterName)
	in := &instruments{name: vendor, vendor: attribute.String("vendor", vendor), calls: shared.calls}
	in.vendorOnly = telemetry.NewOpts(in.vendor)
	var err error
	if in.duration, err = m.Float64Histogram("gateway.vendor.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Vendor call latency, retries included."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return in, err
	}
	in.retries, err = m.Int64Counter("gateway.vendor.retries", metric.WithDescription("Retried vendor attempts."))
	return in, err
}

const meterName = "github.com/identity-gateway/identity-gateway/internal/upstream"

// Shared holds the instruments every vendor's Client reports through one
// observable callback: gateway.vendor.breaker.state, whose callback
// observes each registered breaker, and gateway.vendor.calls, counted with
// atomic adds (telemetry.Counter) and read when the SDK collects.
// Registering either once per vendor does not work: the meter hands back
// the same instrument and only the first vendor's callback was ever
// observed. Build one per MeterProvider and pass it to every Client
// through Options.Shared.
type Shared struct {
	mu     sync.Mutex
	series []breakerSeries
	calls  *telemetry.Counter[callKey]
}

type breakerSeries struct {
	attrs metric.ObserveOption
	state func() int64
}

// NewShared registers the shared instruments and their callbacks on mp.
func NewShared(mp metric.MeterProvider) (*Shared, error) {
	b := &Shared{}
	m := mp.Meter(meterName)
	_, err := m.Int64ObservableGauge("gateway.vendor.breaker.state",
		metric.WithDescription("Breaker state per vendor: 0 closed, 1 half-open, 2 open."),
		metric.WithInt64Callback(b.observe))
	if err != nil {
		return nil, err
	}
	if b.calls, err = telemetry.NewCounter[callKey](m, "gateway.vendor.calls", "Vendor calls by vendor and final HTTP status."); err != nil {
		return nil, err
	}
	return b, nil
}

// add registers one vendor's breaker.
func (b *Shared) add(vendor string, state func() int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.series = append(b.series, breakerSeries{attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("vendor", vendor))), state: state})
}

func (b *Shared) observe(_ context.Context, o metric.Int64Observer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.series {
		o.Observe(s.state(), s.attrs)
	}
	return nil
}
