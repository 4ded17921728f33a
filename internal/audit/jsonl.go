package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// JSONLSink writes one JSON object per line to a writer (stdout or an
// append-only file) for log pipelines. It cannot be queried.
type JSONLSink struct {
	mu sync.Mutex
	w  io.Writer
	// err is the last write error: Ping reports it until a write succeeds.
	err error
}

// NewJSONLSink writes to w.
func NewJSONLSink(w io.Writer) *JSONLSink { return &JSONLSink{w: w} }

// Name implements Sink.
func (s *JSONLSink) Name() string { return "jsonl" }

// jsonlLine is the line JSONLSink writes, as json.Marshal encodes it.
type jsonlLine struct {
	Audit bool `json:"audit"`
	*Record
}

// jsonlBufs holds line buffers: a writer must not keep what it was given.
var jsonlBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Append implements Sink. The line carries "audit": true so a pipeline can
// tell it from request logs on a shared stdout. It is the bytes
// json.Marshal(jsonlLine{true, r}) and a newline, written by
// Record.appendFields.
func (s *JSONLSink) Append(_ context.Context, r *Record) error {
	bp := jsonlBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			jsonlBufs.Put(bp)
		}
	}()
	b := *bp
	var ok bool
	if r == nil {
		b, ok = append(b[:0], `{"audit":true}`...), true
	} else {
		b, ok = r.appendFields(append(b[:0], `{"audit":true,`...))
	}
	if !ok {
		// json.Marshal fails on this record: its error, in its own words.
		raw, err := json.Marshal(jsonlLine{true, r})
		if err != nil {
			return fmt.Errorf("audit jsonl: %w", err)
		}
		b = append(b[:0], raw...)
	}
	b = append(b, '\n')
	*bp = b
	s.mu.Lock()
	defer s.mu.Unlock()
	_, s.err = s.w.Write(b)
	if s.err != nil {
		return fmt.Errorf("audit jsonl: %w", s.err)
	}
	return nil
}

// Ping implements Sink: the last write's error, if any.
func (s *JSONLSink) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return fmt.Errorf("audit jsonl: %w", s.err)
	}
	return nil
}
