// Package telemetry sets up OpenTelemetry for the gateway (README.md,
// Telemetry): a tracer provider with the configured exporter (OTLP over HTTP or gRPC,
// stdout, or none), a meter provider exposed for Prometheus at /metrics, W3C
// trace-context and baggage propagation, and a slog JSON logger that stamps
// trace and span ids and redacts secret-looking attributes.
//
// Nothing here touches the otel globals: the providers are handed to the
// packages that need them, so tests can run several gateways in one process.
// This package is the only importer of the OTel SDK, its exporters and the
// Prometheus client.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Config selects exporters.
type Config struct {
	// Exporter is otlp, stdout or none (default).
	Exporter string
	// Protocol for otlp: http/protobuf (default) or grpc; when empty,
	// OTEL_EXPORTER_OTLP_PROTOCOL decides.
	Protocol string
	// Endpoint overrides OTEL_EXPORTER_OTLP_ENDPOINT (host:port).
	Endpoint string
	Insecure bool
	// ServiceName defaults to identity-gateway; OTEL_SERVICE_NAME wins.
	ServiceName string
	// SampleRatio of traces kept (parent-based); default 1.
	SampleRatio float64
	// Stdout receives the stdout exporter's spans; default os.Stdout.
	Stdout io.Writer
	// SpanProcessors are added as is (tests use an in-memory recorder).
	SpanProcessors []SpanProcessor
}

// SpanProcessor is the OpenTelemetry SDK's span processor, named here so
// callers that pass one in (tests recording spans) need not import the SDK,
// which stays in this package.
type SpanProcessor = sdktrace.SpanProcessor

// Telemetry is what the rest of the gateway uses.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	// Metrics serves the Prometheus exposition.
	Metrics http.Handler
	// Shutdown flushes and stops the providers.
	Shutdown func(context.Context) error
}

// Setup builds the providers.
func Setup(ctx context.Context, c Config) (*Telemetry, error) {
	name := c.ServiceName
	if name == "" {
		name = "identity-gateway"
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(name)), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("resource: %w", err)
	}
	ratio := c.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)))}
	for _, p := range c.SpanProcessors {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	exp, err := spanExporter(ctx, c)
	if err != nil {
		return nil, err
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithSpanProcessor(newBatcher(exp, batchEvery)))
	}
	tp := sdktrace.NewTracerProvider(opts...)

	reg := promclient.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hists := newHistograms()
	pexp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithProducer(hists))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("prometheus exporter: %w", err), tp.Shutdown(ctx))
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(pexp))
	return &Telemetry{
		TracerProvider: tp,
		// The latency histograms are histogram.go's, read through hists.
		MeterProvider: &histMeterProvider{MeterProvider: mp, hists: hists},
		Propagator:    propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		// OpenMetrics (when the scraper asks for it, as Prometheus does)
		// carries the SDK's exemplars: each latency bucket names the trace
		// id of a sampled request that landed in it.
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}),
		Shutdown: func(ctx context.Context) error {
			return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
		},
	}, nil
}

func spanExporter(ctx context.Context, c Config) (sdktrace.SpanExporter, error) {
	switch c.Exporter {
	case "", "none":
		return nil, nil
	case "stdout":
		w := c.Stdout
		if w == nil {
			w = os.Stdout
		}
		return stdouttrace.New(stdouttrace.WithWriter(w))
	case "otlp":
		proto := c.Protocol
		if proto == "" {
			proto = os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		}
		if proto == "" {
			proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		switch strings.TrimSpace(proto) {
		case "", "http/protobuf":
			var o []otlptracehttp.Option
			if c.Endpoint != "" {
				o = append(o, otlptracehttp.WithEndpoint(c.Endpoint))
			}
			if c.Insecure {
				o = append(o, otlptracehttp.WithInsecure())
			}
			return newOTLPExporter(ctx, otlptracehttp.NewClient(o...))
		case "grpc":
			var o []otlptracegrpc.Option
			if c.Endpoint != "" {
				o = append(o, otlptracegrpc.WithEndpoint(c.Endpoint))
			}
			if c.Insecure {
				o = append(o, otlptracegrpc.WithInsecure())
			}
			return newOTLPExporter(ctx, otlptracegrpc.NewClient(o...))
		}
		return nil, fmt.Errorf("telemetry.protocol: %q is not http/protobuf or grpc", proto)
	}
	return nil, fmt.Errorf("telemetry.exporter: %q is not otlp, stdout or none", c.Exporter)
}
