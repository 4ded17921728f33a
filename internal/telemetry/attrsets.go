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

// Opts is one attribute set as ready-made option lists for counters (Add)
// and histograms (Record). Passing a slice that exists already (o.Add...)
// allocates nothing, where passing a single option makes Go build a
// one-element slice on the heap on every call: the instruments are
// interfaces, so the slice escapes (BenchmarkMeasurementOptions).
type Opts struct {
	Add    []metric.AddOption
	Record []metric.RecordOption
}

// NewOpts builds the option lists of one attribute set.
func NewOpts(kvs ...attribute.KeyValue) *Opts {
	o := metric.WithAttributeSet(attribute.NewSet(kvs...))
	return &Opts{Add: []metric.AddOption{o}, Record: []metric.RecordOption{o}}
}

// Get returns the options for k, built by build the first time.
func (s *AttrSets[K]) Get(k K, build func() []attribute.KeyValue) *Opts {
	if o, ok := s.m.Load(k); ok {
		return o.(*Opts)
	}
	o := NewOpts(build()...)
	s.m.Store(k, o)
	return o
}
