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
	// The counters a request increments are Counters (one atomic add);
	// the rare ones stay the SDK's.
	requests    *Counter[attrKey]
	reqDuration metric.Float64Histogram
	idem        *Counter[string]
	targets     *Counter[[2]string]
	tgtDuration metric.Float64Histogram
	rlFallback  metric.Int64Counter
	drift       metric.Int64Counter

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
	if out.requests, err = NewCounter[attrKey](m, "gateway.requests", "Requests by route, outcome and status."); err != nil {
		return nil, err
	}
	if out.reqDuration, err = m.Float64Histogram("gateway.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Request latency by route, from the first byte read to the answer."), metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	if out.idem, err = NewCounter[string](m, "gateway.idempotency", "Idempotency outcomes."); err != nil {
		return nil, err
	}
	if out.targets, err = NewCounter[[2]string](m, "gateway.target.results", "Per-target outcomes by vendor."); err != nil {
		return nil, err
	}
	if out.tgtDuration, err = m.Float64Histogram("gateway.target.duration", metric.WithUnit("s"),
		metric.WithDescription("Per-target latency by vendor: every call and retry of one target, under its deadline."), metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	if out.rlFallback, err = m.Int64Counter("gateway.rate_limit.fallbacks", metric.WithDescription("Requests rate-limited by this replica alone because the shared (Redis) limiter failed or missed its deadline.")); err != nil {
		return nil, err
	}
	if out.drift, err = m.Int64Counter("gateway.drift.fields", metric.WithDescription("Canonical fields found drifting between targets on reads, by field and the targets compared.")); err != nil {
		return nil, err
	}
	return &out, nil
}

// The kinds of the histograms' and drift's keys in sets.
const (
	kindRoute uint8 = iota
	kindVendor
	kindDrift
)

// Request records one HTTP request.
func (m *Metrics) Request(ctx context.Context, route, outcome string, status int, d time.Duration) {
	m.requests.Add(attrKey{a: route, b: outcome, statusCode: status}, 1, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("route", route), attribute.String("outcome", outcome), attribute.String("status", strconv.Itoa(status))}
	})
	m.reqDuration.Record(ctx, d.Seconds(), m.sets.Get(attrKey{kind: kindRoute, a: route}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("route", route)}
	}).Record...)
}

// Idempotency records one key outcome.
func (m *Metrics) Idempotency(_ context.Context, outcome string) {
	m.idem.Add(outcome, 1, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("outcome", outcome)}
	})
}

// RateLimitFallback counts one request limited per replica because the
// shared limiter was down.
func (m *Metrics) RateLimitFallback(ctx context.Context) { m.rlFallback.Add(ctx, 1) }

// Target records one target's outcome.
func (m *Metrics) Target(ctx context.Context, vendor, status string, d time.Duration) {
	m.targets.Add([2]string{vendor, status}, 1, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("vendor", vendor), attribute.String("status", status)}
	})
	m.tgtDuration.Record(ctx, d.Seconds(), m.sets.Get(attrKey{kind: kindVendor, a: vendor}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("vendor", vendor)}
	}).Record...)
}

// Drift records one field found drifting on a read; targets is the
// comma-joined, sorted names of the targets that read the field (bounded:
// configured target names only).
func (m *Metrics) Drift(ctx context.Context, field, targets string) {
	m.drift.Add(ctx, 1, m.sets.Get(attrKey{kind: kindDrift, a: field, b: targets}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("field", field), attribute.String("targets", targets)}
	}).Add...)
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

// StoreState is what the idempotency store can promise (Redis only).
type StoreState struct {
	// Durable: Redis keeps an append-only file on every master.
	Durable bool
	// Resets counts the losses of Redis's data this replica detected.
	Resets uint64
	// Holding: a loss is recent; keyed requests are refused.
	Holding bool
}

// ObserveStore exports the Redis idempotency store's durability, the
// losses detected and whether keyed requests are being refused after one.
// One callback observes all three, read from state (no I/O).
func ObserveStore(mp metric.MeterProvider, state func() StoreState) error {
	m := mp.Meter("github.com/identity-gateway/identity-gateway/internal/telemetry")
	durable, err := m.Int64ObservableGauge("gateway.idempotency.store.durable",
		metric.WithDescription("1 when the idempotency store (Redis) keeps an append-only file on every master, so its records survive a restart; 0 otherwise."))
	if err != nil {
		return err
	}
	resets, err := m.Int64ObservableCounter("gateway.idempotency.store.resets",
		metric.WithDescription("Losses of the idempotency store's data (a Redis restart without persistence, a flush) this replica detected."))
	if err != nil {
		return err
	}
	hold, err := m.Int64ObservableGauge("gateway.idempotency.store.hold",
		metric.WithDescription("1 while keyed requests are refused (503 idempotency_unavailable) after a detected loss of the store's data."))
	if err != nil {
		return err
	}
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := state()
		o.ObserveInt64(durable, b(st.Durable))
		o.ObserveInt64(resets, int64(st.Resets))
		o.ObserveInt64(hold, b(st.Holding))
		return nil
	}, durable, resets, hold)
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
		"gateway_rate_limit_fallbacks_total", "gateway_idempotency_store_durable", "gateway_idempotency_store_resets_total",
		"gateway_idempotency_store_hold",
		"gateway_drift_fields_total", "gateway_links_total",
	}
}
