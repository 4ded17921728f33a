package telemetry

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// captureClient is an otlptrace.Client that keeps what it was asked to
// upload, as the bytes proto.Marshal makes of it (what the HTTP and gRPC
// clients send).
type captureClient struct {
	sent    [][]byte
	stopped int
}

func (*captureClient) Start(context.Context) error  { return nil }
func (c *captureClient) Stop(context.Context) error { c.stopped++; return nil }
func (c *captureClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil {
		return err
	}
	c.sent = append(c.sent, b)
	return nil
}

// decoded is a capture's request, its resources and scopes in a fixed order
// (the library's order follows a map).
func decoded(t *testing.T, b []byte) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		t.Fatalf("the request does not decode: %v", err)
	}
	key := func(m proto.Message) string {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		return string(b)
	}
	for _, rs := range req.ResourceSpans {
		slices.SortStableFunc(rs.ScopeSpans, func(a, b *tracepb.ScopeSpans) int { return cmp.Compare(key(a.Scope), key(b.Scope)) })
	}
	slices.SortStableFunc(req.ResourceSpans, func(a, b *tracepb.ResourceSpans) int { return cmp.Compare(key(a.Resource), key(b.Resource)) })
	return &req
}

var (
	tid1 = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	sid1 = trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	sid2 = trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
)

// everySpanField is one span using every field and attribute type the SDK
// can hold, with zero values where proto3 would omit them.
func everySpanField(res *resource.Resource, scope instrumentation.Scope) tracetest.SpanStub {
	ts, _ := trace.ParseTraceState("vendor=a,other=b")
	start := time.Date(2026, 12, 2, 16, 0, 0, 123, time.UTC)
	return tracetest.SpanStub{
		Name:        "PATCH /v1/users/:id ünïcode",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid1, SpanID: sid1, TraceFlags: trace.FlagsSampled, TraceState: ts}),
		Parent:      trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid1, SpanID: sid2, Remote: true}),
		SpanKind:    trace.SpanKindServer,
		StartTime:   start,
		EndTime:     start.Add(1500 * time.Microsecond),
		Attributes: []attribute.KeyValue{
			attribute.Bool("t", true), attribute.Bool("f", false), attribute.Int("zero", 0), attribute.Int64("neg", -7),
			attribute.Int64("big", math.MaxInt64), attribute.Float64("pi", 3.25), attribute.Float64("fzero", 0),
			attribute.String("s", "x"), attribute.String("empty", ""), attribute.String("", "empty key"),
			attribute.String("long", strings.Repeat("é", 300)),
			attribute.BoolSlice("bs", []bool{true, false}), attribute.Int64Slice("is", []int64{0, 1, -1}),
			attribute.Float64Slice("fs", []float64{0, 1.5}), attribute.StringSlice("ss", []string{"", "a"}),
			attribute.StringSlice("none", nil), attribute.ByteSlice("bytes", []byte{0, 1, 2}),
			attribute.Slice("mixed", attribute.IntValue(1), attribute.StringValue("two"), attribute.SliceValue(attribute.BoolValue(true))),
			attribute.Map("map", attribute.String("k", "v"), attribute.Map("inner", attribute.Int("n", 2))),
			{Key: "nothing"},
		},
		Events: []sdktrace.Event{
			{Name: "retry", Time: start.Add(time.Millisecond), Attributes: []attribute.KeyValue{attribute.Int("attempt", 2)}, DroppedAttributeCount: 1},
			{Name: "", Time: time.Unix(0, 0)},
		},
		Links: []sdktrace.Link{
			{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid1, SpanID: sid2, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true}),
				Attributes: []attribute.KeyValue{attribute.String("why", "batch")}, DroppedAttributeCount: 3},
			{},
		},
		Status:                 sdktrace.Status{Code: codes.Error, Description: "no answer"},
		DroppedAttributes:      2,
		DroppedEvents:          4,
		DroppedLinks:           5,
		ChildSpanCount:         1,
		Resource:               res,
		InstrumentationScope:   scope,
		InstrumentationLibrary: scope, //nolint:staticcheck // the stub copies both
	}
}

// TestOTLPEncodingMatchesTheLibrary: every batch the exporter sends decodes
// to exactly what otlptrace.Exporter would have sent for it.
func TestOTLPEncodingMatchesTheLibrary(t *testing.T) {
	r1 := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "identity-gateway"), attribute.String("service.version", "1.2.3"))
	r2 := resource.NewSchemaless(attribute.String("service.name", "other"), attribute.Int("replica", 2))
	empty := resource.Empty()
	s1 := instrumentation.Scope{Name: "github.com/identity-gateway/identity-gateway/internal/httpapi"}
	s2 := instrumentation.Scope{Name: "upstream", Version: "v1", SchemaURL: "https://opentelemetry.io/schemas/1.26.0", Attributes: attribute.NewSet(attribute.String("a", "b"))}
	stub := func(res *resource.Resource, scope instrumentation.Scope, mod func(*tracetest.SpanStub)) tracetest.SpanStub {
		s := everySpanField(res, scope)
		if mod != nil {
			mod(&s)
		}
		return s
	}
	// One exporter for every case: its buffers are reused batch after batch.
	var ours captureClient
	exp, err := newOTLPExporter(context.Background(), &ours)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		spans tracetest.SpanStubs
	}{
		{"every field", tracetest.SpanStubs{stub(r1, s1, nil)}},
		{"zero span", tracetest.SpanStubs{{Resource: r1}}},
		{"kinds and statuses", tracetest.SpanStubs{
			stub(r1, s1, func(s *tracetest.SpanStub) {
				s.SpanKind, s.Status = trace.SpanKindClient, sdktrace.Status{Code: codes.Ok}
			}),
			stub(r1, s1, func(s *tracetest.SpanStub) { s.SpanKind, s.Status = trace.SpanKindInternal, sdktrace.Status{} }),
			stub(r1, s1, func(s *tracetest.SpanStub) { s.SpanKind = trace.SpanKindProducer; s.Parent = trace.SpanContext{} }),
			stub(r1, s1, func(s *tracetest.SpanStub) {
				s.SpanKind, s.StartTime, s.EndTime = trace.SpanKindConsumer, time.Time{}, time.Time{}
			}),
			stub(r1, s1, func(s *tracetest.SpanStub) { s.SpanKind = trace.SpanKind(99) }),
		}},
		{"resources and scopes interleaved", tracetest.SpanStubs{
			stub(r1, s1, nil), stub(r2, s1, nil), stub(r1, s2, nil), stub(r1, s1, nil),
			stub(empty, s2, nil), stub(nil, instrumentation.Scope{}, nil), stub(r2, s2, nil),
		}},
		{"request spans", requestStubs(r1, 30)},
		{"fewer spans after more", tracetest.SpanStubs{stub(r2, s2, nil)}},
		{"more again", requestStubs(r2, 200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := tc.spans.Snapshots()
			var lib captureClient
			ours.sent = nil
			libExp, err := otlptrace.New(context.Background(), &lib)
			if err != nil {
				t.Fatal(err)
			}
			if err := libExp.ExportSpans(context.Background(), ro); err != nil {
				t.Fatal(err)
			}
			if err := exp.ExportSpans(context.Background(), ro); err != nil {
				t.Fatal(err)
			}
			if len(lib.sent) != 1 || len(ours.sent) != 1 {
				t.Fatalf("uploads: library %d, ours %d", len(lib.sent), len(ours.sent))
			}
			want, got := decoded(t, lib.sent[0]), decoded(t, ours.sent[0])
			if !proto.Equal(want, got) {
				t.Errorf("the requests differ\nlibrary: %s\nours:    %s", protojson.Format(want), protojson.Format(got))
			}
		})
	}
}

// requestStubs is n updates' spans as the gateway ends them: server,
// target and attempt, each update a trace of its own.
func requestStubs(res *resource.Resource, n int) tracetest.SpanStubs {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res))
	server := tp.Tracer("github.com/identity-gateway/identity-gateway/internal/httpapi")
	dispatch := tp.Tracer("github.com/identity-gateway/identity-gateway/internal/dispatch")
	upstream := tp.Tracer("github.com/identity-gateway/identity-gateway/internal/upstream")
	for i := range n {
		ctx, s := server.Start(context.Background(), "PATCH", trace.WithSpanKind(trace.SpanKindServer))
		c2, tg := dispatch.Start(ctx, "target commvault")
		_, a := upstream.Start(c2, "commvault PUT /v4/user", trace.WithSpanKind(trace.SpanKindClient))
		a.SetAttributes(attribute.Int("http.response.status_code", 200))
		a.End()
		tg.SetAttributes(attribute.String("gateway.vendor", "commvault"), attribute.String("gateway.link_source", "request"),
			attribute.String("gateway.outcome", "applied"), attribute.Int("gateway.attempts", 1))
		tg.End()
		s.SetAttributes(attribute.String("gateway.idempotency", "new"), attribute.String("http.request.method", "PATCH"),
			attribute.String("http.route", "/v1/users/:id"), attribute.Int("http.response.status_code", 200+i%3),
			attribute.String("user_agent.original", "Go-http-client/1.1"))
		s.End()
	}
	return tracetest.SpanStubsFromReadOnlySpans(rec.Ended())
}

// TestOTLPInvalidUTF8: text that is not UTF-8 (a client's User-Agent, say)
// is sent with U+FFFD in its place; the library's encoding refused the whole
// batch for it.
func TestOTLPInvalidUTF8(t *testing.T) {
	bad := tracetest.SpanStubs{{
		Name:        "bad \xff name",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid1, SpanID: sid1}),
		Attributes:  []attribute.KeyValue{attribute.String("user_agent.original", "a\xffb\xc0"), attribute.StringSlice("k\xfe", []string{"\xff"})},
		Status:      sdktrace.Status{Code: codes.Error, Description: "\xff"},
	}}
	ok := requestStubs(resource.Empty(), 1)
	var lib captureClient
	libExp, _ := otlptrace.New(context.Background(), &lib)
	if err := libExp.ExportSpans(context.Background(), append(ok, bad...).Snapshots()); err == nil {
		t.Log("the library now encodes invalid UTF-8; this test's premise is gone")
	}
	var ours captureClient
	exp, _ := newOTLPExporter(context.Background(), &ours)
	if err := exp.ExportSpans(context.Background(), append(ok, bad...).Snapshots()); err != nil {
		t.Fatal(err)
	}
	req := decoded(t, ours.sent[0])
	var got []*tracepb.Span
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			got = append(got, ss.Spans...)
		}
	}
	if len(got) != 4 {
		t.Fatalf("%d spans sent, want 4", len(got))
	}
	var b *tracepb.Span
	for _, s := range got {
		if strings.HasPrefix(s.Name, "bad") {
			b = s
		}
	}
	if b == nil || b.Name != "bad \uFFFD name" || b.Attributes[0].Value.GetStringValue() != "a\uFFFDb\uFFFD" ||
		b.Attributes[1].Key != "k\uFFFD" || b.Attributes[1].Value.GetArrayValue().Values[0].GetStringValue() != "\uFFFD" || b.Status.Message != "\uFFFD" {
		t.Errorf("span %v", b)
	}
}

// TestOTLPExporterLifecycle: an empty batch sends nothing, and Shutdown
// stops the client once.
func TestOTLPExporterLifecycle(t *testing.T) {
	var c captureClient
	exp, err := newOTLPExporter(context.Background(), &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(context.Background(), nil); err != nil || len(c.sent) != 0 {
		t.Fatalf("empty batch: err %v, %d uploads", err, len(c.sent))
	}
	_ = exp.Shutdown(context.Background())
	_ = exp.Shutdown(context.Background())
	if c.stopped != 1 {
		t.Errorf("client stopped %d times", c.stopped)
	}
}

// TestOTLPOverHTTP: the exporter's batch goes through otlptracehttp's
// client to a collector as a protobuf request it decodes.
func TestOTLPOverHTTP(t *testing.T) {
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusBadRequest)
			return
		}
		got <- b
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	exp, err := newOTLPExporter(context.Background(), otlptracehttp.NewClient(otlptracehttp.WithEndpoint(strings.TrimPrefix(srv.URL, "http://")), otlptracehttp.WithInsecure()))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	if err := exp.ExportSpans(context.Background(), requestStubs(resource.Default(), 2).Snapshots()); err != nil {
		t.Fatal(err)
	}
	req := decoded(t, <-got)
	n := 0
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	if n != 6 {
		t.Errorf("%d spans received, want 6", n)
	}
}

// BenchmarkOTLPEncode: a batch of 510 spans (170 updates) encoded and
// marshalled as the HTTP and gRPC clients do, by otlptrace.Exporter and by
// this package's exporter.
func BenchmarkOTLPEncode(b *testing.B) {
	spans := requestStubs(resource.Default(), 170).Snapshots()
	for _, name := range []string{"otlptrace.Exporter", "otlpExporter"} {
		b.Run(name, func(b *testing.B) {
			var c discardClient
			var exp sdktrace.SpanExporter
			if name == "otlpExporter" {
				exp, _ = newOTLPExporter(context.Background(), &c)
			} else {
				exp, _ = otlptrace.New(context.Background(), &c)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := exp.ExportSpans(context.Background(), spans); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(spans)), "ns/span")
		})
	}
}

// discardClient marshals what it is given, as the clients do, and drops it.
type discardClient struct{ n int }

func (*discardClient) Start(context.Context) error { return nil }
func (*discardClient) Stop(context.Context) error  { return nil }
func (c *discardClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	c.n += len(b)
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	return nil
}

// traceCollector is an OTLP/gRPC trace receiver.
type traceCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	got chan *coltracepb.ExportTraceServiceRequest
}

func (c *traceCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.got <- req
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestOTLPOverGRPC: the same through otlptracegrpc's client, to a gRPC
// collector that decodes the request with the generated code.
func TestOTLPOverGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &traceCollector{got: make(chan *coltracepb.ExportTraceServiceRequest, 1)}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	exp, err := newOTLPExporter(context.Background(), otlptracegrpc.NewClient(otlptracegrpc.WithEndpoint(ln.Addr().String()), otlptracegrpc.WithInsecure()))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	stubs := requestStubs(resource.Default(), 2)
	if err := exp.ExportSpans(context.Background(), stubs.Snapshots()); err != nil {
		t.Fatal(err)
	}
	req := <-col.got
	var names []string
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				names = append(names, s.Name)
			}
		}
	}
	slices.Sort(names)
	want := []string{"PATCH", "PATCH", "commvault PUT /v4/user", "commvault PUT /v4/user", "target commvault", "target commvault"}
	if !slices.Equal(names, want) {
		t.Errorf("spans %q, want %q", names, want)
	}
}

// TestOTLPLargeBatch: a batch over maxKeptBuffer is encoded as the library
// would (lengths of three and four bytes), and its memory is not kept.
func TestOTLPLargeBatch(t *testing.T) {
	big := tracetest.SpanStubs{}
	for i := range 5 {
		big = append(big, tracetest.SpanStub{Name: fmt.Sprint("big ", i),
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid1, SpanID: sid1}),
			Attributes:  []attribute.KeyValue{attribute.String("blob", strings.Repeat("x", 1<<20+i)), attribute.StringSlice("list", []string{strings.Repeat("y", 3<<20)})},
		})
	}
	var lib, ours captureClient
	libExp, _ := otlptrace.New(context.Background(), &lib)
	if err := libExp.ExportSpans(context.Background(), big.Snapshots()); err != nil {
		t.Fatal(err)
	}
	exp, _ := newOTLPExporter(context.Background(), &ours)
	if err := exp.ExportSpans(context.Background(), big.Snapshots()); err != nil {
		t.Fatal(err)
	}
	if want, got := decoded(t, lib.sent[0]), decoded(t, ours.sent[0]); !proto.Equal(want, got) {
		t.Error("the large batch differs from the library's")
	}
	if exp.buf != nil || exp.arena != nil {
		t.Errorf("kept %d bytes of buffer and %d messages", cap(exp.buf), cap(exp.arena))
	}
	if err := exp.ExportSpans(context.Background(), requestStubs(resource.Empty(), 1).Snapshots()); err != nil || len(ours.sent) != 2 {
		t.Fatalf("the next batch: err %v", err)
	}
	if exp.buf == nil {
		t.Error("a small batch's buffer is not kept")
	}
}

// FuzzOTLPEncoding: for any name, keys and values the exporter's request
// decodes, and where the library can encode the span at all (valid UTF-8)
// it decodes to the library's request; elsewhere every string arrives as
// the valid UTF-8 the exporter promises.
func FuzzOTLPEncoding(f *testing.F) {
	f.Add("PATCH", "user_agent.original", "Go-http-client/1.1", int64(200), 0.5, true, "")
	f.Add("bad \xff", "k\xfe", "a\xffb", int64(-1), -0.0, false, "\xc0")
	f.Add("", "", "", int64(math.MinInt64), math.Inf(1), false, strings.Repeat("é", 200))
	f.Fuzz(func(t *testing.T, name, key, val string, n int64, fl float64, b bool, extra string) {
		if math.IsNaN(fl) {
			fl = 0 // proto.Equal never finds NaN equal to itself
		}
		stub := tracetest.SpanStub{
			Name:        name,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid1, SpanID: sid1, TraceFlags: trace.FlagsSampled}),
			Attributes: []attribute.KeyValue{attribute.String(key, val), attribute.Int64(key+"n", n), attribute.Float64("f", fl), attribute.Bool("b", b),
				attribute.StringSlice("s", []string{val, extra}), attribute.Map("m", attribute.String(extra, val))},
			Events:   []sdktrace.Event{{Name: extra, Attributes: []attribute.KeyValue{attribute.String(key, extra)}}},
			Status:   sdktrace.Status{Code: codes.Error, Description: extra},
			Resource: resource.NewSchemaless(attribute.String("service.name", val)),
		}
		spans := tracetest.SpanStubs{stub}.Snapshots()
		var ours captureClient
		exp, _ := newOTLPExporter(context.Background(), &ours)
		if err := exp.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
		got := decoded(t, ours.sent[0])
		var lib captureClient
		libExp, _ := otlptrace.New(context.Background(), &lib)
		if err := libExp.ExportSpans(context.Background(), spans); err == nil {
			if want := decoded(t, lib.sent[0]); !proto.Equal(want, got) {
				t.Fatalf("differs from the library\nlibrary: %s\nours:    %s", protojson.Format(want), protojson.Format(got))
			}
			return
		}
		s := got.ResourceSpans[0].ScopeSpans[0].Spans[0]
		if s.Name != strings.ToValidUTF8(name, "\uFFFD") || s.Attributes[0].Key != strings.ToValidUTF8(key, "\uFFFD") ||
			s.Attributes[0].Value.GetStringValue() != strings.ToValidUTF8(val, "\uFFFD") || s.Status.Message != strings.ToValidUTF8(extra, "\uFFFD") {
			t.Fatalf("span %v", s)
		}
	})
}
