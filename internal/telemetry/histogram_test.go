package telemetry

import (
	"context"
	"math"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// meterSetup is one MeterProvider and the exposition of its registry.
type meterSetup struct {
	mp     metric.MeterProvider
	scrape func(accept string) string
}

// newMeterSetup builds the SDK's MeterProvider behind a Prometheus
// exporter, as Setup does, with the histograms taken over (ours) or not.
func newMeterSetup(t testing.TB, ours bool) meterSetup {
	t.Helper()
	reg := promclient.NewRegistry()
	opts := []otelprom.Option{otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo()}
	hists := newHistograms()
	if ours {
		opts = append(opts, otelprom.WithProducer(hists))
	}
	exp, err := otelprom.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	sdk := sdkmetric.NewMeterProvider(sdkmetric.WithResource(resource.Empty()), sdkmetric.WithReader(exp))
	t.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	s := meterSetup{mp: sdk}
	if ours {
		s.mp = &histMeterProvider{MeterProvider: sdk, hists: hists}
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	s.scrape = func(accept string) string {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	return s
}

const openMetrics = "application/openmetrics-text;version=1.0.0"

// exemplar is an exemplar in the OpenMetrics exposition: its labels, in no
// fixed order, its value and its timestamp, the moment of its measurement,
// which differs between two setups.
var exemplar = regexp.MustCompile(`# \{([^}]*)\} ([^ ]+) [0-9.e+]+`)

// sameExemplars rewrites each exemplar with its labels sorted and without
// its timestamp.
func sameExemplars(om string) string {
	return exemplar.ReplaceAllStringFunc(om, func(e string) string {
		m := exemplar.FindStringSubmatch(e)
		labels := strings.Split(m[1], ",")
		sort.Strings(labels)
		return "# {" + strings.Join(labels, ",") + "} " + m[2]
	})
}

// TestHistogramMatchesSDK records the same measurements through the SDK's
// histograms and through Histogram, and compares the two expositions: the
// classic text format byte for byte, and OpenMetrics, exemplars included,
// but for the exemplars' timestamps.
func TestHistogramMatchesSDK(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	sampled, span := tp.Tracer("t").Start(context.Background(), "request")
	defer span.End()
	unsampledTP := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	defer unsampledTP.Shutdown(context.Background())
	unsampled, uspan := unsampledTP.Tracer("t").Start(context.Background(), "request")
	defer uspan.End()

	bounds := []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	type rec struct {
		ctx   context.Context
		hist  string
		v     float64
		attrs []attribute.KeyValue
	}
	frontier := []attribute.KeyValue{attribute.String("vendor", "frontier")}
	akana := []attribute.KeyValue{attribute.String("vendor", "akana")}
	route := []attribute.KeyValue{attribute.String("route", "/v1/users/:id")}
	recs := []rec{
		{sampled, "gateway.target.duration", 0.02, frontier},
		{unsampled, "gateway.target.duration", 0.025, frontier}, // on a bound: that bucket
		{sampled, "gateway.target.duration", 0.0251, frontier},
		{unsampled, "gateway.target.duration", 0.003, frontier}, // no exemplar
		{context.Background(), "gateway.target.duration", 0.003, akana},
		{sampled, "gateway.target.duration", 0, akana},
		{sampled, "gateway.target.duration", 42, akana}, // above the last bound
		// Counted in +Inf. Unsampled: with two sampled measurements in one
		// bucket, either may be its exemplar (TestHistogramExemplarChoice).
		{unsampled, "gateway.target.duration", math.NaN(), akana},
		{unsampled, "gateway.target.duration", math.Inf(1), akana},
		{sampled, "gateway.request.duration", 0.004, route},
		{unsampled, "gateway.request.duration", 0.0041, route},
		{sampled, "gateway.request.duration", 0.7, nil},
	}
	expose := func(ours bool) (text, om string) {
		s := newMeterSetup(t, ours)
		m := s.mp.Meter("github.com/identity-gateway/identity-gateway/internal/telemetry")
		hists := map[string]metric.Float64Histogram{}
		for _, name := range []string{"gateway.target.duration", "gateway.request.duration"} {
			h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(name+" latency."), metric.WithExplicitBucketBoundaries(bounds...))
			if err != nil {
				t.Fatal(err)
			}
			if _, isOurs := h.(*Histogram); isOurs != ours {
				t.Fatalf("ours=%v, got %T", ours, h)
			}
			hists[name] = h
		}
		for _, r := range recs {
			hists[r.hist].Record(r.ctx, r.v, metric.WithAttributeSet(attribute.NewSet(r.attrs...)))
		}
		return s.scrape(""), sameExemplars(s.scrape(openMetrics))
	}
	sdkText, sdkOM := expose(false)
	ourText, ourOM := expose(true)
	if d := cmp.Diff(sdkText, ourText); d != "" {
		t.Errorf("text exposition differs from the SDK's (-sdk +ours):\n%s", d)
	}
	if d := cmp.Diff(sdkOM, ourOM); d != "" {
		t.Errorf("OpenMetrics exposition differs from the SDK's (-sdk +ours):\n%s", d)
	}
	if !regexp.MustCompile(`gateway_target_duration_seconds_bucket\{vendor="frontier",le="0.025"\} 3 # \{`).MatchString(ourOM) {
		t.Errorf("no exemplar on the bucket a sampled measurement landed in:\n%s", ourOM)
	}
}

// TestHistogramExemplarChoice: a bucket's exemplar is one of the sampled
// measurements it received since the last collection, uniformly chosen
// (the SDK's reservoir); the first after a collection always replaces the
// last one, and the exemplar stays until replaced.
func TestHistogramExemplarChoice(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	hs := newHistograms()
	h, err := hs.get(instrumentation.Scope{Name: "s"}, "d", "", "s", []float64{1})
	if err != nil {
		t.Fatal(err)
	}
	exemplarOf := func() (float64, bool) {
		sm, _ := hs.Produce(context.Background())
		ex := sm[0].Metrics[0].Data.(metricdata.Histogram[float64]).DataPoints[0].Exemplars
		if len(ex) == 0 {
			return 0, false
		}
		return ex[0].Value, true
	}
	ctx, span := tp.Tracer("t").Start(context.Background(), "r")
	defer span.End()
	h.Record(ctx, 0.5)
	if v, ok := exemplarOf(); !ok || v != 0.5 {
		t.Fatalf("exemplar %v %v, want 0.5", v, ok)
	}
	if v, ok := exemplarOf(); !ok || v != 0.5 {
		t.Fatalf("the exemplar went with the collection: %v %v", v, ok)
	}
	h.Record(ctx, 0.25)
	if v, _ := exemplarOf(); v != 0.25 {
		t.Fatalf("the first measurement after a collection did not replace the exemplar: %v", v)
	}
	// Two measurements per round: each should be chosen about half the time.
	first := 0
	const rounds = 4000
	for range rounds {
		h.Record(ctx, 0.1)
		h.Record(ctx, 0.2)
		switch v, _ := exemplarOf(); v {
		case 0.1:
			first++
		case 0.2:
		default:
			t.Fatalf("exemplar %v was never recorded in this round", v)
		}
	}
	if first < rounds*4/10 || first > rounds*6/10 {
		t.Errorf("the first of two measurements was chosen %d times in %d rounds, want about half", first, rounds)
	}
}

// TestHistogramRegistration: one Histogram per scope and name however often
// it is asked for (each vendor's client asks), bad boundaries refused, and
// a histogram without explicit boundaries left to the SDK.
func TestHistogramRegistration(t *testing.T) {
	s := newMeterSetup(t, true)
	m := s.mp.Meter("scope")
	a, err := m.Float64Histogram("d", metric.WithExplicitBucketBoundaries(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.mp.Meter("scope").Float64Histogram("d", metric.WithExplicitBucketBoundaries(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("a second registration made a second histogram")
	}
	if c, _ := s.mp.Meter("other").Float64Histogram("d", metric.WithExplicitBucketBoundaries(1, 2)); c == a {
		t.Error("two scopes share a histogram")
	}
	for _, bad := range [][]float64{{2, 1}, {1, 1}, {math.NaN()}, {1, math.Inf(1)}} {
		if _, err := m.Float64Histogram("bad", metric.WithExplicitBucketBoundaries(bad...)); err == nil {
			t.Errorf("boundaries %v accepted", bad)
		}
	}
	if h, _ := m.Float64Histogram("sdk"); func() bool { _, ok := h.(*Histogram); return ok }() {
		t.Error("a histogram without explicit boundaries was taken over")
	}
	a.Record(context.Background(), 1.5)
	if got := s.scrape(""); !regexp.MustCompile(`(?m)^d_bucket\{le="2"\} 1$`).MatchString(got) {
		t.Errorf("the measurement is not in the exposition:\n%s", got)
	}
}

// TestHistogramConcurrent records from several goroutines while the reader
// collects (run with -race); the count comes out exact.
func TestHistogramConcurrent(t *testing.T) {
	s := newMeterSetup(t, true)
	h, err := s.mp.Meter("scope").Float64Histogram("d", metric.WithExplicitBucketBoundaries(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			set := metric.WithAttributeSet(attribute.NewSet(attribute.Int("g", g%2)))
			for i := range 1000 {
				h.Record(context.Background(), float64(i%3), set)
			}
		}()
	}
	for range 5 {
		_ = s.scrape("")
	}
	wg.Wait()
	got := s.scrape("")
	for _, want := range []string{`d_count{g="0"} 2000`, `d_count{g="1"} 2000`} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(got) {
			t.Errorf("want %s in:\n%s", want, got)
		}
	}
}

// BenchmarkHistogram records from parallel goroutines inside a sampled
// span, as the gateway does, through the SDK's histogram and through
// Histogram. ns/op times GOMAXPROCS is the CPU per record.
func BenchmarkHistogram(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("t").Start(context.Background(), "request")
	defer span.End()
	for _, c := range []struct {
		name string
		ours bool
	}{{"sdk", false}, {"ours", true}} {
		b.Run(c.name, func(b *testing.B) {
			s := newMeterSetup(b, c.ours)
			h, err := s.mp.Meter("scope").Float64Histogram("d", metric.WithUnit("s"),
				metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
			if err != nil {
				b.Fatal(err)
			}
			opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("vendor", "frontier")))}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				v := 0.0
				for pb.Next() {
					v += 0.0001
					if v > 0.05 {
						v = 0
					}
					h.Record(ctx, v, opts...)
				}
			})
		})
	}
}
