package telemetry

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// otlpExporter is the OTLP span exporter in front of otlptracehttp's or
// otlptracegrpc's client, in place of otlptrace.Exporter. That one builds a
// tree of protobuf structs for every batch (sixteen allocations and about
// 1 KB per span, for three attributes) which proto.Marshal then walks by
// reflection: 5.5-6 µs of CPU per span, and 21-51 µs of the gateway's CPU
// per update under load (BENCHMARKS.md, issue 25, session 12). Here each
// span is written in protobuf's wire format straight from the SDK's
// snapshot, into a buffer reused batch after batch, and handed to the
// client as the unknown fields of otherwise empty messages, which
// proto.Marshal copies as they are: 1.3 µs per span (BenchmarkOTLPEncode).
// The client is the library's: endpoint, headers, TLS, compression,
// retries and the OTEL_EXPORTER_OTLP_* variables work as before.
//
// The encoding is the library's own (TestOTLPEncodingMatchesTheLibrary),
// but for text that is not valid UTF-8, which the library cannot encode at
// all: one such attribute (a client's User-Agent, say) failed the whole
// batch. Here it is sent with U+FFFD in place of each run of bad bytes.
type otlpExporter struct {
	client   otlptrace.Client
	stopOnce sync.Once
	// buf, ends and arena are every batch's, reused: the SDK never calls
	// ExportSpans concurrently, and both clients have copied the request
	// (proto.Marshal, before the HTTP client's first send and in the gRPC
	// call itself) when UploadTraces returns. A batch's buffer was a
	// large allocation, zeroed each time.
	buf   []byte
	ends  []int
	arena []tracepb.Span
}

// maxKeptBuffer bounds the encoding buffer kept between batches: a batch
// of unusually large spans does not hold its memory afterwards.
const maxKeptBuffer = 4 << 20

func newOTLPExporter(ctx context.Context, c otlptrace.Client) (*otlpExporter, error) {
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return &otlpExporter{client: c}, nil
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	rss := e.encode(spans)
	if len(rss) == 0 {
		return nil
	}
	if err := e.client.UploadTraces(ctx, rss); err != nil {
		return fmt.Errorf("traces export: %w", err)
	}
	return nil
}

// Shutdown implements sdktrace.SpanExporter.
func (e *otlpExporter) Shutdown(ctx context.Context) error {
	var err error
	e.stopOnce.Do(func() { err = e.client.Stop(ctx) })
	return err
}

// spanGroup is the spans of one resource and instrumentation scope, which
// OTLP sends together.
type spanGroup struct {
	res   *resource.Resource
	rkey  attribute.Distinct
	scope instrumentation.Scope
	spans []int // indices into the batch
}

// encode builds the request's resource spans, valid until the next call.
func (e *otlpExporter) encode(spans []sdktrace.ReadOnlySpan) []*tracepb.ResourceSpans {
	var groups []spanGroup
	for i, s := range spans {
		if s == nil {
			continue
		}
		res, scope := s.Resource(), s.InstrumentationScope()
		rkey := res.Equivalent()
		g := -1
		for j := range groups {
			if groups[j].rkey == rkey && groups[j].scope == scope {
				g = j
				break
			}
		}
		if g < 0 {
			groups = append(groups, spanGroup{res: res, rkey: rkey, scope: scope})
			g = len(groups) - 1
		}
		groups[g].spans = append(groups[g].spans, i)
	}
	if len(groups) == 0 {
		return nil
	}
	// The groups of one resource go together, under one resource header.
	order := make([]int, 0, len(groups))
	for i := range groups {
		if slices.ContainsFunc(order, func(j int) bool { return groups[j].rkey == groups[i].rkey }) {
			continue
		}
		for j := i; j < len(groups); j++ {
			if groups[j].rkey == groups[i].rkey {
				order = append(order, j)
			}
		}
	}
	newResource := func(k int) bool { return k == 0 || groups[order[k-1]].rkey != groups[order[k]].rkey }

	buf := e.buf[:0]
	// ends[n] is where the n-th piece written ends in buf: each resource,
	// scope and span, in the order the messages are built below.
	ends := e.ends[:0]
	n := 0
	for k, gi := range order {
		g := &groups[gi]
		if newResource(k) {
			buf = appendResource(buf, g.res)
			ends = append(ends, len(buf))
		}
		buf = appendScope(buf, g.scope)
		ends = append(ends, len(buf))
		for _, i := range g.spans {
			buf = appendSpan(buf, spans[i])
			ends = append(ends, len(buf))
			n++
		}
	}
	e.ends = ends
	// A buffer over the bound is not kept, nor the messages that point
	// into it.
	keep := cap(buf) <= maxKeptBuffer
	e.buf = nil
	if keep {
		e.buf = buf
	}

	// Messages with the pieces as their unknown fields, cut from buf now
	// that it no longer grows. Every span is a message of its own, so the
	// client's span count (its self-observability metrics) stays right.
	arena := e.arena
	if cap(arena) < n {
		arena = make([]tracepb.Span, n)
	}
	e.arena = nil
	if keep {
		e.arena = arena
	}
	// A reused message keeps no field but its unknown ones, which
	// SetUnknown replaces; its size is computed afresh by each Marshal.
	pbSpans := arena[:n]
	ptrs := make([]*tracepb.Span, 0, n)
	at, p := 0, 0
	piece := func() []byte {
		b := buf[at:ends[p]:ends[p]]
		at = ends[p]
		p++
		return b
	}
	var (
		rss []*tracepb.ResourceSpans
		rs  *tracepb.ResourceSpans
	)
	for k, gi := range order {
		g := &groups[gi]
		if newResource(k) {
			rs = &tracepb.ResourceSpans{SchemaUrl: g.res.SchemaURL()}
			rs.ProtoReflect().SetUnknown(piece())
			rss = append(rss, rs)
		}
		ss := &tracepb.ScopeSpans{SchemaUrl: g.scope.SchemaURL}
		ss.ProtoReflect().SetUnknown(piece())
		from := len(ptrs)
		for range g.spans {
			m := &pbSpans[len(ptrs)]
			m.ProtoReflect().SetUnknown(piece())
			ptrs = append(ptrs, m)
		}
		ss.Spans = ptrs[from:len(ptrs):len(ptrs)]
		rs.ScopeSpans = append(rs.ScopeSpans, ss)
	}
	return rss
}

// Field numbers of opentelemetry-proto v1 (trace.proto, common.proto,
// resource.proto), by message.
const (
	resourceSpansResource = 1
	resourceAttributes    = 1
	scopeSpansScope       = 1
	scopeName             = 1
	scopeVersion          = 2
	scopeAttributes       = 3

	spanTraceID      = 1
	spanSpanID       = 2
	spanTraceState   = 3
	spanParentSpanID = 4
	spanName         = 5
	spanKind         = 6
	spanStart        = 7
	spanEnd          = 8
	spanAttributes   = 9
	spanDroppedAttrs = 10
	spanEvents       = 11
	spanDroppedEvts  = 12
	spanLinks        = 13
	spanDroppedLinks = 14
	spanStatus       = 15
	spanFlags        = 16

	eventTime         = 1
	eventName         = 2
	eventAttributes   = 3
	eventDroppedAttrs = 4

	linkTraceID      = 1
	linkSpanID       = 2
	linkAttributes   = 4
	linkDroppedAttrs = 5
	linkFlags        = 6

	statusMessage = 2
	statusCode    = 3

	keyValueKey   = 1
	keyValueValue = 2

	anyString = 1
	anyBool   = 2
	anyInt    = 3
	anyDouble = 4
	anyArray  = 5
	anyKVList = 6
	anyBytes  = 7

	listValues = 1 // ArrayValue.values and KeyValueList.values

	// SpanFlags: the context's remote bit is known, and set when remote.
	flagsHasIsRemote = 0x100
	flagsIsRemote    = 0x200
)

// appendResource writes ResourceSpans.resource: present whenever the span
// has a resource, even an empty one.
func appendResource(b []byte, r *resource.Resource) []byte {
	if r == nil {
		return b
	}
	b, at := pbOpen(b, resourceSpansResource)
	for it := r.Iter(); it.Next(); {
		b = pbKeyValue(b, resourceAttributes, it.Attribute())
	}
	return pbClose(b, at)
}

// appendScope writes ScopeSpans.scope, absent for the zero scope.
func appendScope(b []byte, s instrumentation.Scope) []byte {
	if s == (instrumentation.Scope{}) {
		return b
	}
	b, at := pbOpen(b, scopeSpansScope)
	b = pbString(b, scopeName, s.Name)
	b = pbString(b, scopeVersion, s.Version)
	for it := s.Attributes.Iter(); it.Next(); {
		b = pbKeyValue(b, scopeAttributes, it.Attribute())
	}
	return pbClose(b, at)
}

// appendSpan writes a Span's fields (the message's content, without a tag
// or length of its own), in field order as proto.Marshal does.
func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = pbBytes(b, spanTraceID, tid[:])
	b = pbBytes(b, spanSpanID, sid[:])
	b = pbString(b, spanTraceState, sc.TraceState().String())
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		b = pbBytes(b, spanParentSpanID, psid[:])
	}
	b = pbString(b, spanName, s.Name())
	b = pbUint(b, spanKind, uint64(otlpKind(s.SpanKind())))
	b = pbTime(b, spanStart, s.StartTime().UnixNano())
	b = pbTime(b, spanEnd, s.EndTime().UnixNano())
	for _, kv := range s.Attributes() {
		b = pbKeyValue(b, spanAttributes, kv)
	}
	b = pbUint(b, spanDroppedAttrs, clampUint32(s.DroppedAttributes()))
	for _, ev := range s.Events() {
		var at int
		b, at = pbOpen(b, spanEvents)
		b = pbTime(b, eventTime, ev.Time.UnixNano())
		b = pbString(b, eventName, ev.Name)
		for _, kv := range ev.Attributes {
			b = pbKeyValue(b, eventAttributes, kv)
		}
		b = pbUint(b, eventDroppedAttrs, clampUint32(ev.DroppedAttributeCount))
		b = pbClose(b, at)
	}
	b = pbUint(b, spanDroppedEvts, clampUint32(s.DroppedEvents()))
	for _, l := range s.Links() {
		var at int
		b, at = pbOpen(b, spanLinks)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		b = pbBytes(b, linkTraceID, ltid[:])
		b = pbBytes(b, linkSpanID, lsid[:])
		for _, kv := range l.Attributes {
			b = pbKeyValue(b, linkAttributes, kv)
		}
		b = pbUint(b, linkDroppedAttrs, clampUint32(l.DroppedAttributeCount))
		b = pbFixed32(b, linkFlags, otlpFlags(l.SpanContext.TraceFlags(), l.SpanContext))
		b = pbClose(b, at)
	}
	b = pbUint(b, spanDroppedLinks, clampUint32(s.DroppedLinks()))
	// The status is always present, if empty.
	st := s.Status()
	b, at := pbOpen(b, spanStatus)
	b = pbString(b, statusMessage, st.Description)
	b = pbUint(b, statusCode, uint64(otlpStatus(st.Code)))
	b = pbClose(b, at)
	return pbFixed32(b, spanFlags, otlpFlags(sc.TraceFlags(), parent))
}

func otlpFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	f := uint32(tf) | flagsHasIsRemote
	if parent.IsRemote() {
		f |= flagsIsRemote
	}
	return f
}

// otlpKind is Span.SpanKind's number for k.
func otlpKind(k trace.SpanKind) tracepb.Span_SpanKind {
	switch k {
	case trace.SpanKindInternal:
		return tracepb.Span_SPAN_KIND_INTERNAL
	case trace.SpanKindServer:
		return tracepb.Span_SPAN_KIND_SERVER
	case trace.SpanKindClient:
		return tracepb.Span_SPAN_KIND_CLIENT
	case trace.SpanKindProducer:
		return tracepb.Span_SPAN_KIND_PRODUCER
	case trace.SpanKindConsumer:
		return tracepb.Span_SPAN_KIND_CONSUMER
	}
	return tracepb.Span_SPAN_KIND_UNSPECIFIED
}

func otlpStatus(c codes.Code) tracepb.Status_StatusCode {
	switch c {
	case codes.Ok:
		return tracepb.Status_STATUS_CODE_OK
	case codes.Error:
		return tracepb.Status_STATUS_CODE_ERROR
	}
	return tracepb.Status_STATUS_CODE_UNSET
}

func clampUint32(v int) uint64 {
	return uint64(min(max(v, 0), math.MaxUint32))
}

// pbKeyValue writes one KeyValue as field num.
func pbKeyValue(b []byte, num protowire.Number, kv attribute.KeyValue) []byte {
	b, at := pbOpen(b, num)
	b = pbString(b, keyValueKey, string(kv.Key))
	b, vat := pbOpen(b, keyValueValue)
	b = pbValue(b, kv.Value)
	b = pbClose(b, vat)
	return pbClose(b, at)
}

// pbValue writes an AnyValue's content. A oneof's member is
// written even when it holds its zero value.
func pbValue(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.BOOL:
		b = protowire.AppendTag(b, anyBool, protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(v.AsBool()))
	case attribute.INT64:
		b = protowire.AppendTag(b, anyInt, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(v.AsInt64()))
	case attribute.FLOAT64:
		b = protowire.AppendTag(b, anyDouble, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		return pbStringAlways(b, anyString, v.AsString())
	case attribute.BYTESLICE:
		b = protowire.AppendTag(b, anyBytes, protowire.BytesType)
		return protowire.AppendBytes(b, v.AsByteSlice())
	case attribute.BOOLSLICE:
		return pbArray(b, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return pbArray(b, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return pbArray(b, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		return pbArray(b, v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		return pbArray(b, v.AsSlice(), func(x attribute.Value) attribute.Value { return x })
	case attribute.MAP:
		b, at := pbOpen(b, anyKVList)
		for _, kv := range v.AsMap() {
			b = pbKeyValue(b, listValues, kv)
		}
		return pbClose(b, at)
	case attribute.EMPTY:
		return b
	}
	return pbStringAlways(b, anyString, "INVALID") // as the library does
}

// pbArray writes an ArrayValue of xs, each element as value makes it.
func pbArray[T any](b []byte, xs []T, value func(T) attribute.Value) []byte {
	b, at := pbOpen(b, anyArray)
	for _, x := range xs {
		var el int
		b, el = pbOpen(b, listValues)
		b = pbValue(b, value(x))
		b = pbClose(b, el)
	}
	return pbClose(b, at)
}

// pbOpen starts a length-delimited field with one byte kept for its
// length; pbClose writes the length there, shifting what was written since
// in the rare case that it needs more than one byte (128 bytes or more).
// Sizing each nested message first would walk it twice.
func pbOpen(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return append(b, 0), len(b)
}

func pbClose(b []byte, at int) []byte {
	n := len(b) - at - 1
	if n < 0x80 {
		b[at] = byte(n)
		return b
	}
	w := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, w-1)...)
	copy(b[at+w:], b[at+1:at+1+n])
	protowire.AppendVarint(b[:at], uint64(n))
	return b
}

// pbString writes a proto3 string field, omitted when empty as
// proto.Marshal omits it.
func pbString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return pbStringAlways(b, num, s)
}

// pbStringAlways writes s as valid UTF-8, each invalid byte sequence
// replaced by U+FFFD, as every protobuf string must be.
func pbStringAlways(b []byte, num protowire.Number, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func pbBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func pbUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func pbFixed32(b []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

// pbTime writes a fixed64 time in Unix nanoseconds; before 1970 is 0,
// which proto3 omits.
func pbTime(b []byte, num protowire.Number, ns int64) []byte {
	if ns <= 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, uint64(ns))
}
