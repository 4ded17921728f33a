package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// LinkMetrics counts identity-link outcomes as gateway_links_total{target,
// outcome}: how each target of each update was addressed (request, hit,
// resolved) or why not (miss, ambiguous, conflict, error), and conflicts
// refused by the links API.
type LinkMetrics struct {
	links *Counter[[2]string]
}

// NewLinkMetrics creates the instrument.
func NewLinkMetrics(mp metric.MeterProvider) (*LinkMetrics, error) {
	m := mp.Meter("github.com/identity-gateway/identity-gateway/internal/telemetry")
	c, err := NewCounter[[2]string](m, "gateway.links", "Identity-link outcomes by target: request, hit, resolved, miss, ambiguous, conflict, error.")
	if err != nil {
		return nil, err
	}
	return &LinkMetrics{links: c}, nil
}

// Link records one outcome at one target.
func (m *LinkMetrics) Link(_ context.Context, target, outcome string) {
	m.links.Add([2]string{target, outcome}, 1, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("target", target), attribute.String("outcome", outcome)}
	})
}
