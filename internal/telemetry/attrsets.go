package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// AttrSets caches metric attribute sets by a key made of their label
// values, building each set once: attribute.NewSet sorts and allocates,
// which a data point per request or per vendor call would otherwise pay
// every time. The label values must be bounded (route patterns, outcome
// codes, vendor names, HTTP statuses), since every key is kept.
type AttrSets[K comparable] struct{ m sync.Map }

// Get returns the set for k, built by build the first time.
func (s *AttrSets[K]) Get(k K, build func() []attribute.KeyValue) metric.MeasurementOption {
	if o, ok := s.m.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(build()...))
	s.m.Store(k, o)
	return o
}
