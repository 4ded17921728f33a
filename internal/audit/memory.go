package audit

import (
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
//
// The bytes themselves (the user, the client and the JSON, back to back)
// sit in large chunks, and an entry says where: entries and chunks hold no
// pointer per record. With a slice of its own per record (and two strings),
// a full buffer was 300,000 pointers that every collection cycle followed
// one by one while the gateway was under load (BenchmarkMemoryStoreGC).
type MemoryStore struct {
	mu sync.Mutex
	// entries holds the records, oldest first from next once the ring is
	// full (max > 0 and len(entries) == max).
	entries []memEntry
	next    int
	seq     int64
	max     int // 0: unbounded
	// chunks hold the entries' bytes; an entry names its chunk by index.
	// cur is the chunk being filled; free lists the indices of dropped
	// chunks, for reuse by new ones (a dropped chunk's buffer is not).
	chunks []memChunk
	cur    uint32
	free   []uint32
	// fail, when set, makes Append and Ping fail (fault hook for tests).
	fail error
}

// memEntry is one kept record. It holds no pointer.
type memEntry struct {
	id int64
	// sec and nsec are the record's time (UTC), as Unix seconds and
	// nanoseconds: exact in any year, unlike Unix nanoseconds alone.
	sec  int64
	nsec int32
	// chunk and off are where the record's bytes start: the user, the
	// client and the record as JSON, of these lengths.
	chunk, off        uint32
	user, client, raw uint32
}

// memChunk is a run of entries' bytes. Its buffer is appended to, never
// rewritten: a query reads an entry's bytes after unlocking, and a chunk
// whose entries have all gone is dropped, not reused, so those bytes stay
// as they were for as long as the query holds them.
type memChunk struct {
	buf  []byte
	live int // entries whose bytes are here
}

// memChunkSize is a chunk's usual capacity: about a hundred of the
// gateway's records, and few enough chunks for a full ring that their
// table is small. A record larger than a chunk gets one of its own size.
const memChunkSize = 64 << 10

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
// buffer on the stack and copied into the current chunk (json.Marshal took
// eight allocations and reflection; a chunk is allocated once per hundred
// or so records).
func (m *MemoryStore) Append(_ context.Context, r *Record) error {
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	r.ID = 0
	var buf [1024]byte
	enc, err := r.AppendJSON(buf[:0])
	if err != nil {
		return fmt.Errorf("audit: memory: encode: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.seq++
	r.ID = m.seq
	e := memEntry{id: r.ID, sec: r.Time.Unix(), nsec: int32(r.Time.Nanosecond()),
		user: uint32(len(r.User)), client: uint32(len(r.Client)), raw: uint32(len(enc))}
	e.chunk, e.off = m.put(r.User, r.Client, enc)
	if m.max > 0 && len(m.entries) == m.max {
		m.release(m.entries[m.next]) // the oldest goes
		m.entries[m.next] = e
		m.next = (m.next + 1) % m.max
		return nil
	}
	m.entries = append(m.entries, e)
	return nil
}

// put appends user, client and raw to the current chunk, or to a new one
// when they do not fit, and says where they start; called under m.mu.
func (m *MemoryStore) put(user, client string, raw []byte) (chunk, off uint32) {
	n := len(user) + len(client) + len(raw)
	if len(m.chunks) == 0 || n > cap(m.chunks[m.cur].buf)-len(m.chunks[m.cur].buf) {
		m.newChunk(max(n, memChunkSize))
	}
	c := &m.chunks[m.cur]
	off = uint32(len(c.buf))
	c.buf = append(append(append(c.buf, user...), client...), raw...)
	c.live++
	return m.cur, off
}

// newChunk makes a chunk of capacity size the current one; the chunk it
// replaces goes if none of its entries is left.
func (m *MemoryStore) newChunk(size int) {
	old := m.cur
	c := memChunk{buf: make([]byte, 0, size)}
	if k := len(m.free); k > 0 {
		m.cur = m.free[k-1]
		m.free = m.free[:k-1]
		m.chunks[m.cur] = c
	} else {
		m.cur = uint32(len(m.chunks))
		m.chunks = append(m.chunks, c)
	}
	if m.cur != old && m.chunks[old].live == 0 {
		m.drop(old)
	}
}

// release forgets e's bytes; its chunk goes with its last entry, unless
// it is still being filled. Called under m.mu.
func (m *MemoryStore) release(e memEntry) {
	c := &m.chunks[e.chunk]
	if c.live--; c.live == 0 && e.chunk != m.cur {
		m.drop(e.chunk)
	}
}

func (m *MemoryStore) drop(chunk uint32) {
	m.chunks[chunk] = memChunk{}
	m.free = append(m.free, chunk)
}

// fields returns e's user, client and JSON; called under m.mu. The slices
// stay valid after m.mu is released (memChunk).
func (m *MemoryStore) fields(e *memEntry) (user, client, raw []byte) {
	b := m.chunks[e.chunk].buf[e.off:]
	return b[:e.user:e.user], b[e.user : e.user+e.client : e.user+e.client], b[e.user+e.client : e.user+e.client+e.raw : e.user+e.client+e.raw]
}

// cmpTime compares e's time with t, as time.Time.Compare does.
func (e *memEntry) cmpTime(t time.Time) int {
	if c := cmp.Compare(e.sec, t.Unix()); c != 0 {
		return c
	}
	return cmp.Compare(e.nsec, int32(t.Nanosecond()))
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
	// A match keeps its entry and its JSON, which stays readable after
	// m.mu is released (memChunk).
	type match struct {
		memEntry
		raw []byte
	}
	m.mu.Lock()
	var kept []match
	m.each(func(e *memEntry) {
		user, client, raw := m.fields(e)
		if (q.User == "" || string(user) == q.User) && (q.Client == "" || string(client) == q.Client) &&
			(q.Since.IsZero() || e.cmpTime(q.Since) >= 0) && (q.Until.IsZero() || e.cmpTime(q.Until) < 0) &&
			(cur == nil || e.cmpTime(cur.t) < 0 || (e.cmpTime(cur.t) == 0 && e.id < cur.id)) {
			kept = append(kept, match{*e, raw})
		}
	})
	m.mu.Unlock()
	// Newest first by (time, id): buffered retries can append records out
	// of time order. Sorted and cut on the entries, so only the page (and
	// the one record that says another follows) is decoded, not every match.
	slices.SortFunc(kept, func(a, b match) int {
		if c := cmp.Compare(b.sec, a.sec); c != 0 {
			return c
		}
		if c := cmp.Compare(b.nsec, a.nsec); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	kept = kept[:min(len(kept), q.Limit+1)]
	records := make([]Record, len(kept))
	for i, e := range kept {
		if err := json.Unmarshal(e.raw, &records[i]); err != nil {
			return Page{}, fmt.Errorf("audit: memory: decode: %w", err)
		}
		records[i].ID = e.id
	}
	return page(records, q.Limit), nil
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
		if e.cmpTime(before) >= 0 {
			kept = append(kept, *e)
		} else {
			m.release(*e)
		}
	})
	n := int64(len(m.entries) - len(kept))
	m.entries, m.next = kept, 0
	return n, nil
}
