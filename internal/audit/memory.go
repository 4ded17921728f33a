package audit

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// MemoryStore keeps records in memory: tests and `gateway dev`. Records are
// lost on restart; production uses PostgreSQL.
type MemoryStore struct {
	mu sync.Mutex
	// records[head:] are kept; the consumed front of a bounded store is
	// dropped only once it is as long as the rest, so forgetting the oldest
	// costs a copy of the records once per max appends, not on every one.
	records []Record
	head    int
	seq     int64
	max     int // 0: unbounded
	// fail, when set, makes Append and Ping fail (fault hook for tests).
	fail error
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

// Append implements Sink.
func (m *MemoryStore) Append(_ context.Context, r *Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.seq++
	r.ID = m.seq
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	m.records = append(m.records, clone(*r))
	if m.max > 0 && len(m.records)-m.head > m.max {
		m.records[m.head] = Record{} // its maps go with it
		m.head++
		if m.head >= m.max {
			n := copy(m.records, m.records[m.head:])
			clear(m.records[n:])
			m.records, m.head = m.records[:n], 0
		}
	}
	return nil
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
	var match []Record
	for _, r := range m.records[m.head:] {
		if (q.User == "" || r.User == q.User) && (q.Client == "" || r.Client == q.Client) &&
			(q.Since.IsZero() || !r.Time.Before(q.Since)) && (q.Until.IsZero() || r.Time.Before(q.Until)) &&
			(cur == nil || r.Time.Before(cur.t) || (r.Time.Equal(cur.t) && r.ID < cur.id)) {
			match = append(match, clone(r))
		}
	}
	m.mu.Unlock()
	sortDesc(match)
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

func sortDesc(rs []Record) {
	// Newest first by (time, id): buffered retries can append records out of
	// time order.
	slices.SortFunc(rs, func(a, b Record) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
}

func clone(r Record) Record {
	if r.Fields != nil {
		r.Fields = append([]string(nil), r.Fields...)
	}
	r.Values = maps.Clone(r.Values)
	r.Detail = maps.Clone(r.Detail)
	r.Targets = maps.Clone(r.Targets)
	return r
}

// Prune deletes records older than before.
func (m *MemoryStore) Prune(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := m.records[m.head:]
	kept := m.records[:0]
	for _, r := range live {
		if !r.Time.Before(before) {
			kept = append(kept, r)
		}
	}
	n := int64(len(live) - len(kept))
	clear(m.records[len(kept):])
	m.records, m.head = kept, 0
	return n, nil
}
