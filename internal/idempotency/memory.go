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
type MemoryStore struct {
	now func() time.Time
	max int64

	bytes int64 // accounted size of records, under mu

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
}

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

// RecordOverhead is what one record costs besides its encoded bytes: its
// slot in the records map (a 32-byte key and a 40-byte value, with the
// Swiss table's control bytes and the free slots of a table between growths)
// and its entry in the creation order (40 bytes, with the slice's spare
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

type memRecord struct {
	data    []byte
	expires int64  // unix nanoseconds
	gen     uint64 // the creation that order refers to
}

func live(expires int64, now time.Time) bool { return now.UnixNano() < expires }

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store: time.Now and DefaultMaxBytes
// unless opts say otherwise.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	m := &MemoryStore{now: time.Now, max: DefaultMaxBytes, locks: map[memKey]memLock{}, records: map[memKey]memRecord{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Bytes is the accounted size of the records held.
func (m *MemoryStore) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// size is what r counts against the budget: its allocation (encode sizes
// it to the allocator's class) and its share of the maps.
func (r memRecord) size() int64 { return int64(cap(r.data)) + RecordOverhead }

// encode is r's stored form: a 4-byte length, r's JSON without the body,
// then the body's bytes.
func encode(r Record) ([]byte, error) {
	var buf [128]byte
	meta, err := appendMeta(buf[:0], &r)
	if err != nil {
		return nil, err
	}
	body := r.Body
	// Grown from nil, so the capacity is the allocation's true size.
	out := slices.Grow([]byte(nil), 4+len(meta)+len(body))
	out = binary.BigEndian.AppendUint32(out, uint32(len(meta)))
	out = append(out, meta...)
	return append(out, body...), nil
}

// appendMeta appends r's JSON without its body (the memory store keeps
// the body's bytes after it).
func appendMeta(b []byte, r *Record) ([]byte, error) {
	c := *r
	c.Body = nil
	return c.AppendJSON(b)
}

// AppendJSON appends what json.Marshal(r) writes. The records written on
// every update (a claim's first record, a fully applied answer) have no
// per-target results and the gateway's own hex fingerprint: those are
// written here, at a fraction of json.Marshal's cost (BenchmarkEncode);
// any other record goes through json.Marshal. The Redis store keeps this
// JSON as it is, the memory store without the body.
func (r *Record) AppendJSON(b []byte) ([]byte, error) {
	if len(r.Targets) > 0 || !plainASCII(r.Fingerprint) {
		meta, err := json.Marshal(r)
		return append(b, meta...), err
	}
	b = append(b, `{"fp":"`...)
	b = append(b, r.Fingerprint...)
	b = append(b, '"')
	if r.Done {
		b = append(b, `,"done":true`...)
	}
	if r.Status != 0 {
		b = strconv.AppendInt(append(b, `,"status":`...), int64(r.Status), 10)
	}
	if len(r.Body) > 0 {
		// encoding/json writes a []byte as standard base64.
		b = append(base64.StdEncoding.AppendEncode(append(b, `,"body":"`...), r.Body), '"')
	}
	if r.RetryAfter != 0 {
		b = strconv.AppendInt(append(b, `,"retry_after":`...), int64(r.RetryAfter), 10)
	}
	if r.Started != 0 {
		b = strconv.AppendInt(append(b, `,"started":`...), int64(r.Started), 10)
	}
	return append(b, '}'), nil
}

// JSONSize is about the length of r's AppendJSON, to size a buffer once.
func (r *Record) JSONSize() int {
	return 96 + len(r.Fingerprint) + base64.StdEncoding.EncodedLen(len(r.Body))
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
// creation order and making room for a new one.
func (m *MemoryStore) set(key memKey, data []byte, expires int64, now time.Time) {
	nr := memRecord{data: data, expires: expires}
	old, exists := m.records[key]
	if exists {
		m.bytes -= old.size()
	}
	for m.bytes+nr.size() > m.max && m.evictOldest(now, key) {
	}
	m.bytes += nr.size()
	if exists {
		nr.gen = old.gen
		m.records[key] = nr
		return
	}
	m.seq++
	nr.gen = m.seq
	m.records[key] = nr
	m.order = append(m.order, orderEntry{key: key, gen: m.seq})
}

// drop deletes key's record r; called under m.mu.
func (m *MemoryStore) drop(key memKey, r memRecord) {
	delete(m.records, key)
	m.bytes -= r.size()
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
	r, found := m.records[key]
	found = found && live(r.expires, now)
	if found && a.Peek {
		m.mu.Unlock()
		c := Claim{Found: true, Peeked: true}
		return c, decode(r.data, &c.Record)
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
		init, err := encode(a.Initial)
		if err != nil {
			m.unlock(key, token)
			m.mu.Unlock()
			return Claim{}, err
		}
		m.set(key, init, now.Add(a.Retention).UnixNano(), now)
	}
	m.mu.Unlock()
	c := Claim{Found: found, Token: strconv.FormatUint(token, 36)}
	if found {
		if err := decode(r.data, &c.Record); err != nil {
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
	b, err := encode(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	now := m.now()
	m.set(key, b, now.Add(retention).UnixNano(), now)
	m.mu.Unlock()
	return nil
}

// Finish implements Store.
func (m *MemoryStore) Finish(_ context.Context, skey, token string, r Record, retention time.Duration) error {
	key := mkey(skey)
	b, err := encode(r)
	if err != nil {
		return err
	}
	tok, _ := strconv.ParseUint(token, 36, 64) // a foreign token is 0: never a lock's
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.set(key, b, now.Add(retention).UnixNano(), now)
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
