package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/identity-gateway/identity-gateway/canonical/result"
)

// MemoryStore keeps records in process: the embedded default for `gateway
// dev` and single instances. Records are stored encoded, so callers never
// share maps with the store, and so the garbage collector never scans them:
// a day of retained records held as Go values (maps, slices, strings) made
// every collection walk them, which cost more under load than the encoding
// (measured: 118 -> 150 µs of gateway CPU per request).
//
// It holds records worth at most MaxBytes, each accounted as its encoded
// bytes plus its share of the store's maps (RecordOverhead): past that the
// oldest key not in progress is forgotten early, so a burst of distinct keys
// cannot exhaust the process's memory (with the records gone the process
// would forget them all). Evictions are counted (Evicted). A record is
// encoded as its JSON without the response body, then the body as is (JSON
// would hold it as base64, a third larger).
//
// The encodings sit in large chunks, and a record says where its bytes are:
// neither the maps nor the chunks hold a pointer per record. With a slice
// per record, a full store was a pointer per record that every collection
// cycle followed under load (2.9 ms a cycle for 100,000 records,
// BenchmarkMemoryStoreGC). A chunk goes when its last record does. The
// records written while a key's lock is held (the claim's first record, the
// targets recorded one by one) go to chunks of their own, which empty as
// their requests finish; so do the chunks of records that expire or are
// evicted, oldest first. Where chunks are left mostly dead all the same (a
// key run again much later), the live records of the emptiest are moved
// (clean), so the bytes held stay within half again the live ones. What the
// budget counts is the chunks' bytes, dead ones included.
type MemoryStore struct {
	now func() time.Time
	max int64

	bytes int64 // accounted size: chunks, slots and records, under mu
	// held is the chunks' capacity, and live the bytes of records in them.
	held, live int64

	mu      sync.Mutex
	lastGC  time.Time
	seq     uint64
	locks   map[memKey]memLock
	records map[memKey]memRecord
	// order lists keys by creation, oldest first from head; entries whose
	// record has since gone or been re-created are skipped.
	order   []orderEntry
	head    int
	evicted uint64
	// chunks hold the records' bytes; free lists the indices of dropped
	// chunks, for reuse. young and old are the chunks being filled: young
	// with records written under a key's lock, old with the rest.
	chunks     []memChunk
	free       []uint32
	young, old uint32
	// youngSize and oldSize are the chunks' usual capacities, smaller for a
	// small budget; started says a chunk was started since set last looked.
	youngSize, oldSize int
	started            bool
}

// memChunk is a run of records' bytes. Its buffer is appended to, never
// rewritten: a record's bytes are decoded after m.mu is released, and a
// chunk that empties is dropped, not reused, so those bytes stay as they
// were for as long as a reader holds them.
type memChunk struct {
	buf  []byte
	live int64 // bytes of records held here
	// slots lists every record written here, so clean can find the ones
	// still held.
	slots []memSlot
}

type memSlot struct {
	key memKey
	off uint32
}

// Chunk sizes: young chunks empty within a request's time, so they are
// small (a chunk pinned by a claim abandoned mid-run pins little); old
// chunks hold about a hundred one-target records. A small budget gets
// smaller chunks (at most a 256th and a 64th of it), and a record larger
// than a chunk gets one of its own size.
const (
	youngChunkSize = 16 << 10
	oldChunkSize   = 64 << 10
	minChunkSize   = 1 << 10
	slotSize       = int64(unsafe.Sizeof(memSlot{}))
	noChunk        = ^uint32(0)
)

type orderEntry struct {
	key memKey
	gen uint64
}

// memKey is a store key as 32 bytes: the Guard's keys are hex SHA-256
// sums and are decoded (by hand: encoding/hex would need a []byte copy of
// the key on every call); any other key is hashed. Fixed-size keys, and
// expiry times held as integers, leave the maps' keys without pointers,
// so a collection has far less to walk in a store holding a day of keys.
type memKey [32]byte

func mkey(key string) memKey {
	var k memKey
	if len(key) == 2*len(k) {
		ok := true
		for i := range k {
			hi, lo := unhex(key[2*i]), unhex(key[2*i+1])
			if hi > 15 || lo > 15 {
				ok = false
				break
			}
			k[i] = hi<<4 | lo
		}
		if ok {
			return k
		}
	}
	return sha256.Sum256([]byte(key))
}

// unhex is a hex digit's value, or 255 for any other byte.
func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

// DefaultMaxBytes bounds a MemoryStore by default: 256 MiB, about 110,000
// finished four-target records (2.3 KB each).
const DefaultMaxBytes int64 = 256 << 20

// RecordOverhead is what one record costs besides its encoded bytes and
// its chunk's slot (counted as the chunks' slot lists grow): its slot in
// the records map (a 32-byte key and a 32-byte value, with the Swiss
// table's control bytes and the free slots of a table between growths) and
// its entry in the creation order (40 bytes, with the slice's spare
// capacity and the consumed front it keeps until compaction). Calibrated
// against the live heap by TestMemoryStoreBudget.
const RecordOverhead = 200

// MemoryOption configures a MemoryStore.
type MemoryOption func(*MemoryStore)

// WithMaxBytes bounds the accounted size of the records held (default
// DefaultMaxBytes; zero or less keeps the default).
func WithMaxBytes(n int64) MemoryOption {
	return func(m *MemoryStore) {
		if n > 0 {
			m.max = n
		}
	}
}

// WithClock makes the store read time from now (tests move it forward
// instead of sleeping).
func WithClock(now func() time.Time) MemoryOption {
	return func(m *MemoryStore) {
		if now != nil {
			m.now = now
		}
	}
}

type memLock struct {
	token   uint64
	expires int64 // unix nanoseconds
	until   int64 // the holder's deadline, unix nanoseconds; 0: unknown
}

// wait is the wait to suggest to a repeat that found l held.
func (l memLock) wait(now time.Time) time.Duration {
	var until time.Time
	if l.until != 0 {
		until = time.Unix(0, l.until)
	}
	return LockWait(until, time.Duration(l.expires-now.UnixNano()), now)
}

// memRecord is one record, without a pointer: its bytes are
// chunks[chunk].buf[off:off+n].
type memRecord struct {
	chunk, off, n uint32
	expires       int64  // unix nanoseconds
	gen           uint64 // the creation that order refers to
}

func live(expires int64, now time.Time) bool { return now.UnixNano() < expires }

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store: time.Now and DefaultMaxBytes
// unless opts say otherwise.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	m := &MemoryStore{now: time.Now, max: DefaultMaxBytes, locks: map[memKey]memLock{}, records: map[memKey]memRecord{},
		young: noChunk, old: noChunk}
	for _, o := range opts {
		o(m)
	}
	m.youngSize = int(min(max(m.max/256, minChunkSize), youngChunkSize))
	m.oldSize = int(min(max(m.max/64, minChunkSize), oldChunkSize))
	return m
}

// Bytes is the accounted size of the records held.
func (m *MemoryStore) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// appendEncoded appends r's stored form to b: a 4-byte length, r's JSON
// without the body, then the body's bytes. The JSON is written in place
// and its length filled in after, so the buffers on the memory store's
// stack (Claim, Save, Finish) are the only ones: no copy of the JSON, and
// none of it on the heap unless a record outgrows them.
func appendEncoded(b []byte, r *Record) ([]byte, error) {
	at := len(b)
	b = slices.Grow(b, 4+r.metaSize()+len(r.Body)) // once, if at all
	b, err := appendMeta(append(b, 0, 0, 0, 0), r)
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return append(b, r.Body...), nil
}

// appendMeta appends r's JSON without its body (the memory store keeps
// the body's bytes after it).
func appendMeta(b []byte, r *Record) ([]byte, error) { return r.appendJSON(b, false) }

// AppendJSON appends what json.Marshal(r) writes, at a fraction of its
// cost (BenchmarkEncode): every update writes a claim's first record and
// its answer, and a multi-target update its targets as each applies
// (result.AppendTargets). A fingerprint other than the gateway's own
// plain ASCII goes through json.Marshal. The Redis store keeps this JSON
// as it is, the memory store without the body.
func (r *Record) AppendJSON(b []byte) ([]byte, error) { return r.appendJSON(b, true) }

// appendJSON is AppendJSON, without the body unless body. Only its rare
// path copies r (to drop the body for json.Marshal): a copy made for
// every record was a heap allocation on every write.
func (r *Record) appendJSON(b []byte, body bool) ([]byte, error) {
	if !plainASCII(r.Fingerprint) {
		c := *r
		if !body {
			c.Body = nil
		}
		meta, err := json.Marshal(&c)
		return append(b, meta...), err
	}
	orig := len(b)
	b = append(b, `{"fp":"`...)
	b = append(b, r.Fingerprint...)
	b = append(b, '"')
	if r.Done {
		b = append(b, `,"done":true`...)
	}
	if r.Status != 0 {
		b = strconv.AppendInt(append(b, `,"status":`...), int64(r.Status), 10)
	}
	if body && len(r.Body) > 0 {
		// encoding/json writes a []byte as standard base64.
		b = append(base64.StdEncoding.AppendEncode(append(b, `,"body":"`...), r.Body), '"')
	}
	if r.RetryAfter != 0 {
		b = strconv.AppendInt(append(b, `,"retry_after":`...), int64(r.RetryAfter), 10)
	}
	if len(r.Targets) > 0 {
		// Encoded apart and copied: b, handed to AppendTargets' callback,
		// would escape, and with it the stack buffer of every record's
		// encoding, targets or not.
		t, err := result.AppendTargets(make([]byte, 0, result.TargetsSizeHint(r.Targets)), r.Targets)
		if err != nil {
			return b[:orig], err
		}
		b = append(append(b, `,"targets":`...), t...)
	}
	if r.Started != 0 {
		b = strconv.AppendInt(append(b, `,"started":`...), int64(r.Started), 10)
	}
	return append(b, '}'), nil
}

// JSONSize is about the length of r's AppendJSON, to size a buffer once.
func (r *Record) JSONSize() int {
	return r.metaSize() + base64.StdEncoding.EncodedLen(len(r.Body))
}

// metaSize is about the length of r's JSON without the body.
func (r *Record) metaSize() int {
	n := 96 + len(r.Fingerprint)
	if len(r.Targets) > 0 {
		n += len(`,"targets":`) + result.TargetsSizeHint(r.Targets)
	}
	return n
}

// plainASCII: s needs no escaping in JSON (letters, digits and a few
// punctuation marks, as fingerprints are made of).
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == ':' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

var errBadRecord = errors.New("idempotency: memory record damaged")

// decode reads a record from its stored form; the body is a copy.
func decode(data []byte, r *Record) error {
	if len(data) < 4 {
		return errBadRecord
	}
	n := int(binary.BigEndian.Uint32(data))
	if n > len(data)-4 {
		return errBadRecord
	}
	if err := json.Unmarshal(data[4:4+n], r); err != nil {
		return err
	}
	if body := data[4+n:]; len(body) > 0 {
		r.Body = bytes.Clone(body)
	}
	return nil
}

// Evicted counts records forgotten before their retention ran out because
// the store was full.
func (m *MemoryStore) Evicted() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
}

// set stores a record under m.mu, keeping an existing key's place in the
// creation order and making room for a new one. young: written under the
// key's lock, to be replaced when its request finishes.
func (m *MemoryStore) set(key memKey, data []byte, expires int64, now time.Time, young bool) {
	old, exists := m.records[key]
	m.store(key, old, exists, data, expires, now, young)
}

// store is set for a caller that has looked key up already (old, exists):
// a lookup in a map of a day's keys is a cache miss or two.
func (m *MemoryStore) store(key memKey, old memRecord, exists bool, data []byte, expires int64, now time.Time, young bool) {
	if exists {
		m.release(old)
	} else {
		m.bytes += RecordOverhead
	}
	for m.bytes+m.growth(len(data), young) > m.max && m.evictOldest(now, key) {
	}
	nr := memRecord{expires: expires}
	nr.chunk, nr.off, nr.n = m.write(key, data, young)
	if exists {
		nr.gen = old.gen
	} else {
		m.seq++
		nr.gen = m.seq
		m.order = append(m.order, orderEntry{key: key, gen: m.seq})
	}
	m.records[key] = nr
	if m.started {
		// While the chunks hold more than half again the live bytes, the
		// emptiest are cleaned, a few each time a chunk is started.
		for range 4 {
			if m.held-m.live <= m.live/2+4*int64(m.oldSize) || !m.clean() {
				break
			}
		}
		m.started = false // clean's own writes start chunks too
	}
	// A slot list that grew (by more than the slot growth counted) can
	// still leave the store over its budget.
	for m.bytes > m.max && m.evictOldest(now, key) {
	}
}

// bytesOf is r's stored form; called under m.mu, and valid after it is
// released (memChunk).
func (m *MemoryStore) bytesOf(r memRecord) []byte {
	return m.chunks[r.chunk].buf[r.off : r.off+r.n : r.off+r.n]
}

// filling is the chunk young or old records are written to.
func (m *MemoryStore) filling(young bool) *uint32 {
	if young {
		return &m.young
	}
	return &m.old
}

// growth is what writing n bytes adds to the accounted size: a new chunk
// when the one being filled has no room.
func (m *MemoryStore) growth(n int, young bool) int64 {
	grow := slotSize
	if c := *m.filling(young); c == noChunk || n > cap(m.chunks[c].buf)-len(m.chunks[c].buf) {
		grow += int64(max(n, m.chunkSize(young)))
	}
	return grow
}

func (m *MemoryStore) chunkSize(young bool) int {
	if young {
		return m.youngSize
	}
	return m.oldSize
}

// write copies key's record into the chunk being filled, or a new one
// when it has no room, and says where it is.
func (m *MemoryStore) write(key memKey, data []byte, young bool) (chunk, off, n uint32) {
	f := m.filling(young)
	if *f == noChunk || len(data) > cap(m.chunks[*f].buf)-len(m.chunks[*f].buf) {
		m.newChunk(f, max(len(data), m.chunkSize(young)))
	}
	c := &m.chunks[*f]
	off = uint32(len(c.buf))
	c.buf = append(c.buf, data...)
	c.live += int64(len(data))
	m.live += int64(len(data))
	before := cap(c.slots)
	c.slots = append(c.slots, memSlot{key: key, off: off})
	m.bytes += int64(cap(c.slots)-before) * slotSize
	return *f, off, uint32(len(data))
}

// newChunk makes a chunk of capacity size the one *f fills. The chunk it
// replaces goes if it holds nothing.
func (m *MemoryStore) newChunk(f *uint32, size int) {
	prev := *f
	c := memChunk{buf: make([]byte, 0, size)}
	if k := len(m.free); k > 0 {
		*f = m.free[k-1]
		m.free = m.free[:k-1]
		m.chunks[*f] = c
	} else {
		*f = uint32(len(m.chunks))
		m.chunks = append(m.chunks, c)
	}
	m.bytes += int64(size)
	m.held += int64(size)
	if prev != noChunk && m.chunks[prev].live == 0 {
		m.dropChunk(prev)
	}
	m.started = true
}

// release forgets r's bytes; its chunk goes with its last record, unless
// it is still being filled. Called under m.mu.
func (m *MemoryStore) release(r memRecord) {
	c := &m.chunks[r.chunk]
	c.live -= int64(r.n)
	m.live -= int64(r.n)
	if c.live == 0 && r.chunk != m.young && r.chunk != m.old {
		m.dropChunk(r.chunk)
	}
}

func (m *MemoryStore) dropChunk(i uint32) {
	c := &m.chunks[i]
	m.bytes -= int64(cap(c.buf)) + int64(cap(c.slots))*slotSize
	m.held -= int64(cap(c.buf))
	*c = memChunk{}
	m.free = append(m.free, i)
}

// clean moves the records still held in the emptiest chunk not being
// filled into the old chunk being filled, and drops it; false when there is
// no chunk at most three quarters live (when the chunks hold more than half
// again the live bytes, the emptiest is at most two thirds live).
func (m *MemoryStore) clean() bool {
	victim, ratio := noChunk, 0.75
	for i := range m.chunks {
		c := &m.chunks[i]
		if c.buf == nil || uint32(i) == m.young || uint32(i) == m.old {
			continue
		}
		if r := float64(c.live) / float64(cap(c.buf)); r < ratio {
			victim, ratio = uint32(i), r
		}
	}
	if victim == noChunk {
		return false
	}
	// The victim's slots are read through a copy of the slice: the writes
	// below may grow m.chunks (they start chunks, never clean), and only
	// dropChunk clears the victim.
	slots := m.chunks[victim].slots
	for _, sl := range slots {
		r, ok := m.records[sl.key]
		if !ok || r.chunk != victim || r.off != sl.off {
			continue // replaced or gone since
		}
		data := m.bytesOf(r)
		vc := &m.chunks[victim]
		vc.live -= int64(r.n)
		m.live -= int64(r.n)
		r.chunk, r.off, r.n = m.write(sl.key, data, false)
		m.records[sl.key] = r
	}
	m.dropChunk(victim)
	return true
}

// drop deletes key's record r; called under m.mu.
func (m *MemoryStore) drop(key memKey, r memRecord) {
	delete(m.records, key)
	m.bytes -= RecordOverhead
	m.release(r)
}

// evictOldest drops the oldest record whose key is not in progress and is
// not keep (the key being stored); false when there is none (every record is
// held by a running request).
func (m *MemoryStore) evictOldest(now time.Time, keep memKey) bool {
	for i := m.head; i < len(m.order); i++ {
		e := m.order[i]
		r, ok := m.records[e.key]
		if !ok || r.gen != e.gen {
			if i == m.head {
				m.head++ // stale: the record went or was made anew
			}
			continue
		}
		if l, held := m.locks[e.key]; (held && live(l.expires, now)) || e.key == keep {
			continue // in progress: keep, look further
		}
		m.drop(e.key, r)
		if live(r.expires, now) {
			m.evicted++ // an expired one was due to go anyway
		}
		if i == m.head {
			m.head++
		} else {
			m.order = append(m.order[:i], m.order[i+1:]...)
		}
		m.compact()
		return true
	}
	return false
}

// compact drops the consumed front of order once it is half the slice.
func (m *MemoryStore) compact() {
	if m.head > 1024 && m.head*2 > len(m.order) {
		m.order = append([]orderEntry(nil), m.order[m.head:]...)
		m.head = 0
	}
}

// Claim implements Store under one critical section, so a claim costs one
// lock acquisition instead of a read, a lock and a write.
func (m *MemoryStore) Claim(_ context.Context, skey string, a ClaimArgs) (Claim, error) {
	key := mkey(skey)
	m.mu.Lock()
	now := m.now()
	r, exists := m.records[key]
	found := exists && live(r.expires, now)
	var data []byte
	if found {
		data = m.bytesOf(r)
	}
	if found && a.Peek {
		m.mu.Unlock()
		c := Claim{Found: true, Peeked: true}
		return c, decode(data, &c.Record)
	}
	if l, ok := m.locks[key]; ok && live(l.expires, now) {
		m.mu.Unlock()
		return Claim{}, &LockedError{Remaining: l.wait(now)}
	}
	// In process a counter is a unique token; no need to ask the kernel
	// for randomness on every claim.
	m.seq++
	token := m.seq
	ml := memLock{token: token, expires: now.Add(a.LockTTL).UnixNano()}
	if !a.Until.IsZero() {
		ml.until = a.Until.UnixNano()
	}
	m.locks[key] = ml
	m.gc(now)
	if !found {
		// Encoded only here: a replay's peek never needs it.
		var buf [256]byte
		init, err := appendEncoded(buf[:0], &a.Initial)
		if err != nil {
			m.unlock(key, token)
			m.mu.Unlock()
			return Claim{}, err
		}
		if exists {
			m.set(key, init, now.Add(a.Retention).UnixNano(), now, true) // gc may have dropped it
		} else {
			m.store(key, memRecord{}, false, init, now.Add(a.Retention).UnixNano(), now, true)
		}
	}
	m.mu.Unlock()
	c := Claim{Found: found, Token: strconv.FormatUint(token, 36)}
	if found {
		if err := decode(data, &c.Record); err != nil {
			m.mu.Lock()
			m.unlock(key, token)
			m.mu.Unlock()
			return Claim{}, err
		}
	}
	return c, nil
}

// unlock drops key's lock if it is still token's; called under m.mu.
func (m *MemoryStore) unlock(key memKey, token uint64) {
	if l, ok := m.locks[key]; ok && l.token == token {
		delete(m.locks, key)
	}
}

// Save implements Store.
func (m *MemoryStore) Save(_ context.Context, skey string, r Record, retention time.Duration) error {
	key := mkey(skey)
	var buf [1024]byte
	b, err := appendEncoded(buf[:0], &r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	now := m.now()
	// Saved under a running request's lock, the record is replaced when
	// the request finishes.
	l, locked := m.locks[key]
	m.set(key, b, now.Add(retention).UnixNano(), now, locked && live(l.expires, now))
	m.mu.Unlock()
	return nil
}

// Finish implements Store.
func (m *MemoryStore) Finish(_ context.Context, skey, token string, r Record, retention time.Duration) error {
	key := mkey(skey)
	var buf [1024]byte
	b, err := appendEncoded(buf[:0], &r)
	if err != nil {
		return err
	}
	tok, _ := strconv.ParseUint(token, 36, 64) // a foreign token is 0: never a lock's
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.set(key, b, now.Add(retention).UnixNano(), now, false)
	m.unlock(key, tok)
	return nil
}

// Release implements Store.
func (m *MemoryStore) Release(_ context.Context, skey, token string) error {
	tok, _ := strconv.ParseUint(token, 36, 64)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unlock(mkey(skey), tok)
	return nil
}

// Ping implements Store.
func (m *MemoryStore) Ping(context.Context) error { return nil }

// gc drops expired entries, at most once a minute; called under m.mu on
// claims, so memory stays bounded by the retention window without a
// background goroutine and without scanning the map on every request.
func (m *MemoryStore) gc(now time.Time) {
	if now.Sub(m.lastGC) < time.Minute {
		return
	}
	m.lastGC = now
	for k, r := range m.records {
		if !live(r.expires, now) {
			m.drop(k, r)
		}
	}
	for k, l := range m.locks {
		if !live(l.expires, now) {
			delete(m.locks, k)
		}
	}
	// Forget the order of records that are gone, so order stays as long as
	// records.
	kept := m.order[:0]
	for _, e := range m.order[m.head:] {
		if r, ok := m.records[e.key]; ok && r.gen == e.gen {
			kept = append(kept, e)
		}
	}
	clear(m.order[len(kept):])
	m.order, m.head = kept, 0
}
