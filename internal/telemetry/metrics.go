package telemetry

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metrics records the gateway's own request, target and idempotency
// metrics. Label values are bounded: route patterns, outcome codes, vendor
// names, never user ids.
type Metrics struct {
	requests    metric.Int64Counter
	reqDuration metric.Float64Histogram
	idem        metric.Int64Counter
	targets     metric.Int64Counter
	tgtDuration metric.Float64Histogram

	sets AttrSets[attrKey]
}

type attrKey struct {
	kind       uint8
	a, b       string
	statusCode int
}

var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewMetrics creates the instruments.
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	m := mp.Meter("github.com/identity-gateway/identity-gateway/internal/telemetry")
	var out Metrics
	var err error
	if out.requests, err = m.Int64Counter("gateway.requests", metric.WithDescription("Requests by route, outcome and status.")); err != nil {
		return nil, err
	}
	if out.reqDuration, err = m.Float64Histogram("gateway.request.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	if out.idem, err = m.Int64Counter("gateway.idempotency", metric.WithDescription("Idempotency outcomes.")); err != nil {
		return nil, err
	}
	if out.targets, err = m.Int64Counter("gateway.target.results", metric.WithDescription("Per-target outcomes by vendor.")); err != nil {
		return nil, err
	}
	if out.tgtDuration, err = m.Float64Histogram("gateway.target.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	return &out, nil
}

const (
	kindRequest uint8 = iota
	kindRoute
	kindIdem
	kindTarget
	kindVendor
)

// Request records one HTTP request.
func (m *Metrics) Request(ctx context.Context, route, outcome string, status int, d time.Duration) {
	m.requests.Add(ctx, 1, m.sets.Get(attrKey{kind: kindRequest, a: route, b: outcome, statusCode: status}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("route", route), attribute.String("outcome", outcome), attribute.String("status", strconv.Itoa(status))}
	}))
	m.reqDuration.Record(ctx, d.Seconds(), m.sets.Get(attrKey{kind: kindRoute, a: route}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("route", route)}
	}))
}

// Idempotency records one key outcome.
func (m *Metrics) Idempotency(ctx context.Context, outcome string) {
	m.idem.Add(ctx, 1, m.sets.Get(attrKey{kind: kindIdem, a: outcome}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("outcome", outcome)}
	}))
}

// Target records one target's outcome.
func (m *Metrics) Target(ctx context.Context, vendor, status string, d time.Duration) {
	m.targets.Add(ctx, 1, m.sets.Get(attrKey{kind: kindTarget, a: vendor, b: status}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("vendor", vendor), attribute.String("status", status)}
	}))
	m.tgtDuration.Record(ctx, d.Seconds(), m.sets.Get(attrKey{kind: kindVendor, a: vendor}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("vendor", vendor)}
	}))
}

// ObserveEvictions exports the memory idempotency store's early evictions
// (records forgotten before their retention because the store was full).
func ObserveEvictions(mp metric.MeterProvider, evicted func() uint64) error {
	m := mp.Meter("github.com/identity-gateway/identity-gateway/internal/telemetry")
	_, err := m.Int64ObservableCounter("gateway.idempotency.evictions",
		metric.WithDescription("Idempotency records the memory store forgot before their retention ended, being full."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(evicted()))
			return nil
		}))
	return err
}

// MetricNames lists the Prometheus series names the gateway exposes (its
// own and internal/upstream's), for dashboards and their drift test.
func MetricNames() []string {
	return []string{
		"gateway_requests_total", "gateway_request_duration_seconds_bucket",
		"gateway_idempotency_total", "gateway_target_results_total", "gateway_target_duration_seconds_bucket",
		"gateway_vendor_calls_total", "gateway_vendor_call_duration_seconds_bucket", "gateway_vendor_retries_total",
		"gateway_vendor_breaker_state", "gateway_idempotency_evictions_total", "gateway_audit_failures_total",
	}
}
