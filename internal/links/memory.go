package links

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// MemoryStore keeps links in this process only: `gateway dev` and tests.
type MemoryStore struct {
	now func() time.Time

	mu       sync.RWMutex
	records  map[string]*Record
	accounts map[accountKey]string // account -> canonical id
}

type accountKey struct{ target, vendorID string }

// NewMemoryStore returns an empty store; now is its clock (nil: time.Now).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, records: map[string]*Record{}, accounts: map[accountKey]string{}}
}

var _ Store = (*MemoryStore)(nil)

// Get implements Store.
func (m *MemoryStore) Get(_ context.Context, id string) (Record, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r, ok := m.records[id]; ok {
		return r.Clone(), nil
	}
	return Record{CanonicalID: id, Links: map[string]Link{}}, nil
}

// View calls f with id's record (an empty one when none is stored) under
// the store's read lock, without copying it: f must neither change the
// record nor keep it, its map or its bytes after it returns. Get copies
// the record so that a caller cannot change the store's; a caller that
// only reads a few fields on every request (the dispatcher) skips that copy.
func (m *MemoryStore) View(_ context.Context, id string, f func(*Record)) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r, ok := m.records[id]; ok {
		f(r)
		return nil
	}
	f(&Record{CanonicalID: id})
	return nil
}

// Put implements Store.
func (m *MemoryStore) Put(_ context.Context, id string, c Change) (Record, error) {
	if err := check(id, c); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Every conflict is found before anything changes: all or nothing.
	for _, t := range slices.Sorted(maps.Keys(c.Links)) {
		if owner, ok := m.accounts[accountKey{t, c.Links[t]}]; ok && owner != id {
			return Record{}, &ConflictError{Target: t, VendorID: c.Links[t], Owner: owner}
		}
	}
	r, ok := m.records[id]
	if !ok {
		r = &Record{CanonicalID: id, Links: map[string]Link{}}
		m.records[id] = r
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	for t, v := range c.Links {
		if old, had := r.Links[t]; had {
			delete(m.accounts, accountKey{t, old.VendorID})
		}
		r.Links[t] = Link{VendorID: v, Source: c.Source, Client: c.Client, UpdatedAt: now}
		m.accounts[accountKey{t, v}] = id
	}
	if c.Attributes.Email != "" {
		r.Attributes.Email = c.Attributes.Email
	}
	if c.Attributes.Username != "" {
		r.Attributes.Username = c.Attributes.Username
	}
	if c.Held != nil {
		r.Held = heldValue(c.Held)
		r.HeldVersion++
	}
	return r.Clone(), nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(_ context.Context, id, target string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[id]
	if !ok {
		return false, nil
	}
	l, ok := r.Links[target]
	if !ok {
		return false, nil
	}
	delete(r.Links, target)
	delete(m.accounts, accountKey{target, l.VendorID})
	return true, nil
}

// Reverse implements Store.
func (m *MemoryStore) Reverse(_ context.Context, target, vendorID string) (string, Link, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := m.accounts[accountKey{target, vendorID}]
	if !ok {
		return "", Link{}, false, nil
	}
	return id, m.records[id].Links[target], true, nil
}

// List implements Store by sorting the ids on every call: the memory
// store serves `gateway dev` and tests, not large directories.
func (m *MemoryStore) List(_ context.Context, offset, limit int) ([]string, int, error) {
	m.mu.RLock()
	ids := make([]string, 0, len(m.records))
	for id, r := range m.records {
		if len(r.Links) > 0 {
			ids = append(ids, id)
		}
	}
	m.mu.RUnlock()
	slices.Sort(ids)
	total := len(ids)
	offset = min(max(offset, 0), total)
	return slices.Clone(ids[offset:min(offset+max(limit, 0), total)]), total, nil
}

// Ping implements Store.
func (m *MemoryStore) Ping(context.Context) error { return nil }

// Close implements Store.
func (m *MemoryStore) Close() {}
