package telemetry

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

// The gateway's latency histograms (request, target and vendor call: three
// records per single-target update) are kept here rather than by the SDK's
// aggregation, and the Prometheus reader reads them through a
// metric.Producer when it collects. The exposition is the SDK's: the same
// names, units, bounds, cumulative counts and sums, and an exemplar per
// bucket (a sampled measurement that landed in it, with its trace and span
// ids, chosen as the SDK chooses it; TestHistogramMatchesSDK). What is
// given up is the SDK's per-record work: the option and attribute-set
// resolution, its synchronised map of data points, and the exemplar
// reservoir's filter and copy. A record costs 480-540 ns of CPU from two
// goroutines through the SDK against 173-177 ns here (BenchmarkHistogram,
// ns/op times GOMAXPROCS); the three records were 1.8-3.2% of the
// gateway's CPU in session 17's profiles. Only histograms given explicit
// bucket boundaries are taken over; any other stays the SDK's.

// histMeterProvider is the SDK's MeterProvider with its Float64Histograms
// replaced by Histograms held in hists.
type histMeterProvider struct {
	metric.MeterProvider
	hists *histograms
}

func (p *histMeterProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	cfg := metric.NewMeterConfig(opts...)
	return &histMeter{
		Meter: p.MeterProvider.Meter(name, opts...),
		hists: p.hists,
		scope: instrumentation.Scope{Name: name, Version: cfg.InstrumentationVersion(), SchemaURL: cfg.SchemaURL(), Attributes: cfg.InstrumentationAttributes()},
	}
}

type histMeter struct {
	metric.Meter
	hists *histograms
	scope instrumentation.Scope
}

// Float64Histogram returns the Histogram named name in this meter's scope,
// made on first use, when the boundaries are explicit; otherwise the SDK's.
func (m *histMeter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	cfg := metric.NewFloat64HistogramConfig(opts...)
	bounds := cfg.ExplicitBucketBoundaries()
	if len(bounds) == 0 {
		return m.Meter.Float64Histogram(name, opts...)
	}
	return m.hists.get(m.scope, name, cfg.Description(), cfg.Unit(), bounds)
}

// histograms holds every Histogram by scope and name, and produces their
// data when the reader collects.
type histograms struct {
	mu    sync.Mutex
	all   []*Histogram // in registration order: the exposition's
	byKey map[histKey]*Histogram
	now   func() time.Time
}

type histKey struct {
	scope instrumentation.Scope
	name  string
}

func newHistograms() *histograms {
	return &histograms{byKey: map[histKey]*Histogram{}, now: time.Now}
}

// get returns the Histogram of scope and name, making it the first time: a
// second registration (one per vendor client) gets the same one, as the
// SDK hands back the same instrument.
func (hs *histograms) get(scope instrumentation.Scope, name, desc, unit string, bounds []float64) (*Histogram, error) {
	for i, b := range bounds {
		if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= bounds[i-1]) {
			return nil, fmt.Errorf("histogram %s: bucket boundaries must be finite and increasing: %v", name, bounds)
		}
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	k := histKey{scope: scope, name: name}
	if h, ok := hs.byKey[k]; ok {
		return h, nil
	}
	h := &Histogram{scope: scope, name: name, desc: desc, unit: unit, bounds: slices.Clone(bounds), start: hs.now(), now: hs.now}
	hs.byKey[k] = h
	hs.all = append(hs.all, h)
	return h, nil
}

// Produce implements sdk/metric.Producer: every series of every Histogram,
// cumulative since the Histogram was made.
func (hs *histograms) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	hs.mu.Lock()
	all := slices.Clone(hs.all)
	hs.mu.Unlock()
	now := hs.now()
	var out []metricdata.ScopeMetrics
	for _, h := range all {
		j := slices.IndexFunc(out, func(s metricdata.ScopeMetrics) bool { return s.Scope == h.scope })
		if j < 0 {
			out = append(out, metricdata.ScopeMetrics{Scope: h.scope})
			j = len(out) - 1
		}
		if m, ok := h.collect(now); ok {
			out[j].Metrics = append(out[j].Metrics, m)
		}
	}
	return out, nil
}

// Histogram is a float64 histogram with explicit bucket boundaries whose
// record is a bucket search and a short critical section on the series of
// its attribute set.
type Histogram struct {
	embedded.Float64Histogram
	scope            instrumentation.Scope
	name, desc, unit string
	bounds           []float64
	start            time.Time
	now              func() time.Time
	series           sync.Map // attribute.Distinct -> *histSeries
}

type histSeries struct {
	attrs attribute.Set
	mu    sync.Mutex
	count uint64
	sum   float64
	min   float64
	max   float64
	// buckets has one entry per bucket: len(bounds)+1.
	buckets []histBucket
}

// histBucket is one bucket's count and exemplar. The exemplar is chosen as
// the SDK's HistogramReservoir chooses it: uniformly among the sampled
// measurements the bucket received since the last collection ("Algorithm
// L" with a reservoir of one), and kept until another replaces it.
type histBucket struct {
	n        uint64
	exemplar histExemplar
	seen     int64   // sampled measurements offered since the last collection
	next     int64   // the offer that replaces the exemplar
	w        float64 // the algorithm's running weight
}

// histExemplar is a bucket's exemplar.
type histExemplar struct {
	ok    bool
	value float64
	at    time.Time
	trace trace.TraceID
	span  trace.SpanID
}

// reset starts a new sampling round: the next offer is always kept.
func (b *histBucket) reset() {
	b.seen, b.next = 0, 0
	b.w = unitRandom()
	b.advance()
}

// advance draws the offer that will replace the exemplar next.
func (b *histBucket) advance() {
	b.next += int64(math.Log(unitRandom())/math.Log(1-b.w)) + 1
	b.w *= unitRandom()
}

// offer is one sampled measurement in the bucket.
func (b *histBucket) offer(e histExemplar) {
	switch {
	case b.seen == 0:
		b.exemplar = e
	case b.seen == b.next:
		b.exemplar = e
		b.advance()
	}
	b.seen++
}

// unitRandom is uniform in (0, 1).
func unitRandom() float64 {
	for {
		if f := rand.Float64(); f != 0 {
			return f
		}
	}
}

var _ metric.Float64Histogram = (*Histogram)(nil)

// Enabled implements metric.Float64Histogram: a record is always kept.
func (h *Histogram) Enabled(context.Context) bool { return true }

// Record implements metric.Float64Histogram. As the SDK's, it keeps an
// exemplar only for a measurement made inside a sampled span (its
// trace-based filter), and counts NaN and infinities in the +Inf bucket
// (TestHistogramMatchesSDK).
func (h *Histogram) Record(ctx context.Context, v float64, opts ...metric.RecordOption) {
	s := h.seriesOf(metric.NewRecordConfig(opts).Attributes())
	// Upper bounds are inclusive, as in the SDK and Prometheus: bucket i
	// counts bounds[i-1] < v <= bounds[i].
	i := sort.SearchFloat64s(h.bounds, v)
	sc := trace.SpanContextFromContext(ctx)
	var at time.Time
	if sc.IsSampled() {
		at = h.now()
	}
	s.mu.Lock()
	if s.count == 0 || v < s.min {
		s.min = v
	}
	if s.count == 0 || v > s.max {
		s.max = v
	}
	s.count++
	s.sum += v
	b := &s.buckets[i]
	b.n++
	if !at.IsZero() {
		b.offer(histExemplar{ok: true, value: v, at: at, trace: sc.TraceID(), span: sc.SpanID()})
	}
	s.mu.Unlock()
}

func (h *Histogram) seriesOf(set attribute.Set) *histSeries {
	k := set.Equivalent()
	if v, ok := h.series.Load(k); ok {
		return v.(*histSeries)
	}
	ns := &histSeries{attrs: set, buckets: make([]histBucket, len(h.bounds)+1)}
	for i := range ns.buckets {
		ns.buckets[i].reset()
	}
	v, _ := h.series.LoadOrStore(k, ns)
	return v.(*histSeries)
}

// collect is the Histogram's data at now; false when it has no series.
func (h *Histogram) collect(now time.Time) (metricdata.Metrics, bool) {
	var points []metricdata.HistogramDataPoint[float64]
	h.series.Range(func(_, v any) bool {
		s := v.(*histSeries)
		s.mu.Lock()
		p := metricdata.HistogramDataPoint[float64]{
			Attributes:   s.attrs,
			StartTime:    h.start,
			Time:         now,
			Count:        s.count,
			Bounds:       slices.Clone(h.bounds),
			BucketCounts: make([]uint64, len(s.buckets)),
			Sum:          s.sum,
		}
		if s.count > 0 {
			p.Min, p.Max = metricdata.NewExtrema(s.min), metricdata.NewExtrema(s.max)
		}
		for i := range s.buckets {
			b := &s.buckets[i]
			p.BucketCounts[i] = b.n
			if e := b.exemplar; e.ok {
				p.Exemplars = append(p.Exemplars, metricdata.Exemplar[float64]{Time: e.at, Value: e.value,
					TraceID: slices.Clone(e.trace[:]), SpanID: slices.Clone(e.span[:])})
			}
			b.reset()
		}
		s.mu.Unlock()
		points = append(points, p)
		return true
	})
	if len(points) == 0 {
		return metricdata.Metrics{}, false
	}
	return metricdata.Metrics{Name: h.name, Description: h.desc, Unit: h.unit,
		Data: metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: points}}, true
}
