package audit

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemoryStore keeps records in memory: tests and `gateway dev`. Records are
// lost on restart; production uses PostgreSQL.
//
// Each record is kept as its JSON encoding beside the few fields a query
// filters on, not as a Record: a Record's maps cost about a kilobyte each
// and are pointers the garbage collector walks on every cycle, which for a
// full buffer of 100,000 records was 60% of a loaded gateway's heap
// (BenchmarkMemoryStoreAppend, BENCHMARKS.md). A bounded store is a ring:
// its memory is fixed once full.
type MemoryStore struct {
	mu sync.Mutex
	// entries holds the records, oldest first from next once the ring is
	// full (max > 0 and len(entries) == max).
	entries []memEntry
	next    int
	seq     int64
	max     int // 0: unbounded
	// fail, when set, makes Append and Ping fail (fault hook for tests).
	fail error
}

// memEntry is one kept record.
type memEntry struct {
	id           int64
	time         time.Time
	user, client string
	raw          []byte // the Record as JSON
}

// NewMemoryStore returns an empty, unbounded store (tests).
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// NewBoundedMemoryStore keeps at most max records, forgetting the oldest,
// so a long-running gateway without a database cannot run out of memory.
func NewBoundedMemoryStore(max int) *MemoryStore { return &MemoryStore{max: max} }

// Name implements Sink.
func (m *MemoryStore) Name() string { return "memory" }

// SetFailure makes every Append and Ping return err (nil heals).
func (m *MemoryStore) SetFailure(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// Append implements Sink. The record is encoded before the lock is taken
// (with no ID: the entry keeps it, and Query puts it back), so concurrent
// updates do not queue behind each other's encoding. It never waits on
// anything but m.mu: a Trail gives it no timeout.
//
// The encoding is json.Marshal's bytes, written by Record.AppendJSON into a
// buffer on the stack and copied out at its exact length (one allocation;
// json.Marshal took eight and reflection).
func (m *MemoryStore) Append(_ context.Context, r *Record) error {
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	r.ID = 0
	var buf [1024]byte
	enc, err := r.AppendJSON(buf[:0])
	if err != nil {
		return fmt.Errorf("audit: memory: encode: %w", err)
	}
	raw := bytes.Clone(enc)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.seq++
	r.ID = m.seq
	e := memEntry{id: r.ID, time: r.Time, user: r.User, client: r.Client, raw: raw}
	if m.max > 0 && len(m.entries) == m.max {
		m.entries[m.next] = e // the oldest goes
		m.next = (m.next + 1) % m.max
		return nil
	}
	m.entries = append(m.entries, e)
	return nil
}

// appendsWithoutBlocking implements nonBlockingSink: Append does no I/O and
// ignores its context.
func (m *MemoryStore) appendsWithoutBlocking(s Sink) bool {
	ms, ok := s.(*MemoryStore)
	return ok && ms == m
}

// each calls f on every kept entry, oldest first; m.mu is held.
func (m *MemoryStore) each(f func(*memEntry)) {
	for i := range m.entries {
		f(&m.entries[(m.next+i)%len(m.entries)])
	}
}

// Ping implements Sink.
func (m *MemoryStore) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fail
}

// Query implements Store.
func (m *MemoryStore) Query(_ context.Context, q Query) (Page, error) {
	if err := q.Normalize(); err != nil {
		return Page{}, err
	}
	cur, err := decodeCursor(q.Cursor)
	if err != nil {
		return Page{}, err
	}
	m.mu.Lock()
	var kept []memEntry
	m.each(func(e *memEntry) {
		if (q.User == "" || e.user == q.User) && (q.Client == "" || e.client == q.Client) &&
			(q.Since.IsZero() || !e.time.Before(q.Since)) && (q.Until.IsZero() || e.time.Before(q.Until)) &&
			(cur == nil || e.time.Before(cur.t) || (e.time.Equal(cur.t) && e.id < cur.id)) {
			kept = append(kept, *e) // its raw is never changed once kept
		}
	})
	m.mu.Unlock()
	// Newest first by (time, id): buffered retries can append records out
	// of time order. Sorted and cut on the entries, so only the page (and
	// the one record that says another follows) is decoded, not every match.
	slices.SortFunc(kept, func(a, b memEntry) int {
		if c := b.time.Compare(a.time); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	kept = kept[:min(len(kept), q.Limit+1)]
	match := make([]Record, len(kept))
	for i, e := range kept {
		if err := json.Unmarshal(e.raw, &match[i]); err != nil {
			return Page{}, fmt.Errorf("audit: memory: decode: %w", err)
		}
		match[i].ID = e.id
	}
	return page(match, q.Limit), nil
}

// page cuts sorted records to limit and sets Next when more follow.
func page(sorted []Record, limit int) Page {
	p := Page{Records: sorted}
	if len(sorted) > limit {
		p.Records = sorted[:limit]
		p.Next = encodeCursor(p.Records[limit-1])
	}
	if p.Records == nil {
		p.Records = []Record{}
	}
	return p
}

// Prune deletes records older than before.
func (m *MemoryStore) Prune(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := make([]memEntry, 0, len(m.entries))
	m.each(func(e *memEntry) {
		if !e.time.Before(before) {
			kept = append(kept, *e)
		}
	})
	n := int64(len(m.entries) - len(kept))
	m.entries, m.next = kept, 0
	return n, nil
}
