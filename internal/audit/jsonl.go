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

// Append implements Sink. The line carries "audit": true so a pipeline can
// tell it from request logs on a shared stdout. It is the bytes
// json.Marshal(jsonlLine{true, r}) and a newline, written by
// Record.appendFields.
func (s *JSONLSink) Append(_ context.Context, r *Record) error {
	b, ok := []byte(`{"audit":true}`), true
	if r != nil {
		b, ok = r.appendFields(append(make([]byte, 0, 1024), `{"audit":true,`...))
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
