package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

// A Redis that restarts without persistence, or is flushed, forgets every
// record: a retry of a key that was applied then runs again and writes
// twice. The store watches for that in two ways.
//
// Persistence: INFO persistence on every master. Only an append-only file
// (aof_enabled:1) keeps the records of the last second across a restart;
// RDB snapshots alone lose everything since the last one, so they do not
// count as durable.
//
// A marker: a key written once under the deployment's key_prefix, with no
// expiry, whose value each store remembers. When it is gone, or holds a
// value the store did not see written, Redis lost data since. The claim
// script checks the marker atomically with every claim. A script on a
// Cluster may only touch keys of its own slot, so there the marker is one
// key per slot (16,384, each named with a hash tag of that slot), and a
// claim checks its record's slot's marker; Check reads one marker per master
// (a lost node loses all its slots). A detected reset writes a new marker
// carrying the time of the reset, so every replica, including one started
// afterwards, refuses claims until ResetHold has passed since then.

// Options configures a Store beyond its client and prefix.
type Options struct {
	// ResetHold is how long claims are refused after a reset was detected
	// (zero: no hold; the reset is still counted and reported).
	ResetHold time.Duration
	// RequireDurable refuses claims while the last Check found Redis
	// without an append-only file.
	RequireDurable bool
	// Admin runs the checks (INFO, the markers): the plain client when the
	// store's own is auto-pipelined. Default: the store's client.
	Admin redis.UniversalClient
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Dials is the watch Open was given for the client (RedisOptions.Dials):
	// the store checks Redis after every new connection it reports (nil: only
	// on Check's own schedule). A watch rather than a go-redis dial hook:
	// go-redis counts any hook as a command hook, and then runs every
	// command of a full-duplex auto-pipeliner on a goroutine of its own.
	Dials *DialWatch
}

// DialWatch carries new-connection events from a client's OnConnect to
// the store made after it: Open needs it before the store exists.
type DialWatch struct{ s atomic.Pointer[Store] }

// onConnect is the OnConnect callback for Open (nil for a nil watch).
func (w *DialWatch) onConnect() func(context.Context, *redis.Conn) error {
	if w == nil {
		return nil
	}
	return func(context.Context, *redis.Conn) error {
		if s := w.s.Load(); s != nil {
			s.dialed()
		}
		return nil
	}
}

// Persistence values of Status.
const (
	PersistenceAOF     = "aof"     // append-only file: durable
	PersistenceRDB     = "rdb"     // snapshots only: the last minutes are lost on a restart
	PersistenceNone    = "none"    // nothing survives a restart
	PersistenceUnknown = "unknown" // INFO persistence refused (some managed services, miniredis)
)

// Status is what the store can promise, as of the last Check.
type Status struct {
	// Checked: a Check has succeeded since the store was made.
	Checked     bool   `json:"checked"`
	Persistence string `json:"persistence"`
	// Durable: every master keeps an append-only file.
	Durable bool `json:"durable"`
	// Resets counts the losses this store has detected.
	Resets uint64 `json:"resets"`
	// ResetAt is the last reset; HoldUntil is when claims are allowed again
	// (zero when not holding).
	ResetAt   time.Time `json:"reset_at,omitzero"`
	HoldUntil time.Time `json:"hold_until,omitzero"`
}

// watch is a Store's durability state.
type watch struct {
	o       Options
	cluster bool
	// slotTags[i] is a hash tag of Cluster slot i (nil off a Cluster).
	slotTags []string

	checkMu sync.Mutex // one Check at a time

	checking atomic.Bool // a Check after a new connection is under way

	mu     sync.Mutex
	st     Status
	marker string // the marker value this store expects; "" before the first Check
}

// markerKey is the marker a claim of key checks: the deployment's one
// marker, or on a Cluster the marker of key's slot.
func (s *Store) markerKey(key string) string {
	if s.w.slotTags == nil {
		return s.prefix + "store-marker"
	}
	return s.slotMarker(int(crc16(key) % slots))
}

func (s *Store) slotMarker(slot int) string {
	return s.prefix + "store-marker:{" + s.w.slotTags[slot] + "}"
}

// slots is Redis Cluster's slot count.
const slots = 16384

// crc16 is Redis Cluster's key hash (CRC-16/XMODEM).
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// slotTags finds a short hash tag for every slot.
func slotTags() []string {
	tags := make([]string, slots)
	for i, left := 0, slots; left > 0; i++ {
		t := strconv.FormatInt(int64(i), 36)
		if slot := crc16(t) % slots; tags[slot] == "" {
			tags[slot] = t
			left--
		}
	}
	return tags
}

// NewWithOptions returns a Store that also watches its Redis's durability
// (see Check).
func NewWithOptions(c redis.UniversalClient, prefix string, o Options) *Store {
	s := New(c, prefix)
	if o.Admin == nil {
		o.Admin = c
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s.w.o = o
	if _, s.w.cluster = o.Admin.(*redis.ClusterClient); s.w.cluster {
		s.w.slotTags = slotTags()
	}
	if o.Dials != nil {
		o.Dials.s.Store(s)
	}
	return s
}

// dialed runs a Check in the background after a new connection (one at a
// time): a restarted Redis is only ever reached through a new connection,
// and may have come back with other persistence settings. The claims
// themselves need not wait for it: each checks the marker in its own
// script.
func (s *Store) dialed() {
	if s.Status().Checked && s.w.checking.CompareAndSwap(false, true) {
		go func() {
			defer s.w.checking.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, _ = s.Check(ctx)
		}()
	}
}

// Status is the state as of the last Check, without any I/O.
func (s *Store) Status() Status {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	st := s.w.st
	if !st.HoldUntil.IsZero() && !s.w.o.Now().Before(st.HoldUntil) {
		st.HoldUntil = time.Time{}
	}
	return st
}

// gate says whether a claim may go ahead, and with which expected marker
// ("": none to check in the script). It runs a Check first when none has
// succeeded yet.
func (s *Store) gate(ctx context.Context) (string, error) {
	if s.w.o.Admin == nil {
		return "", nil // New without options: no watching
	}
	s.w.mu.Lock()
	need := !s.w.st.Checked
	s.w.mu.Unlock()
	if need {
		if _, err := s.Check(ctx); err != nil {
			return "", err
		}
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	now := s.w.o.Now()
	if now.Before(s.w.st.HoldUntil) {
		return "", fmt.Errorf("redis: %w", &idempotency.ResetError{Until: s.w.st.HoldUntil})
	}
	if s.w.o.RequireDurable && !s.w.st.Durable {
		return "", fmt.Errorf("redis persistence %s: %w (enable appendonly, or set redis.allow_volatile)", s.w.st.Persistence, idempotency.ErrVolatile)
	}
	return s.w.marker, nil
}

// Check asks Redis what it can promise (persistence on every master) and
// checks the marker(s), detecting a reset. It returns the new Status; an
// error means Redis could not be asked.
func (s *Store) Check(ctx context.Context) (Status, error) {
	return s.check(ctx, "")
}

// check is Check, also reading the marker key extra (a claim found it
// changed).
func (s *Store) check(ctx context.Context, extra string) (Status, error) {
	s.w.checkMu.Lock()
	defer s.w.checkMu.Unlock()
	admin := s.w.o.Admin
	if admin == nil {
		admin = s.c
	}
	pers, err := s.persistence(ctx, admin)
	if err != nil {
		return s.Status(), err
	}
	if err := s.checkMarkers(ctx, admin, extra); err != nil {
		return s.Status(), err
	}
	s.w.mu.Lock()
	s.w.st.Checked, s.w.st.Persistence, s.w.st.Durable = true, pers, pers == PersistenceAOF
	s.w.mu.Unlock()
	return s.Status(), nil
}

// persistence is the weakest persistence among the masters.
func (s *Store) persistence(ctx context.Context, admin redis.UniversalClient) (string, error) {
	rank := map[string]int{PersistenceUnknown: 0, PersistenceNone: 1, PersistenceRDB: 2, PersistenceAOF: 3}
	if cc, ok := admin.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		worst := PersistenceAOF
		err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			p, err := nodePersistence(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && rank[p] < rank[worst] {
				worst = p
			}
			return err
		})
		return worst, err
	}
	return nodePersistence(ctx, admin)
}

// nodePersistence reads one server's INFO persistence, and its snapshot
// schedule when it has no append-only file.
func nodePersistence(ctx context.Context, c redis.Cmdable) (string, error) {
	info, err := c.Info(ctx, "persistence").Result()
	var reply redis.Error
	switch {
	case errors.As(err, &reply):
		return PersistenceUnknown, nil // the server refuses the question: no promise
	case err != nil:
		return "", fmt.Errorf("redis info: %w", err)
	}
	if ParseAOF(info) {
		return PersistenceAOF, nil
	}
	save, err := c.ConfigGet(ctx, "save").Result()
	switch {
	case errors.As(err, &reply):
		return PersistenceNone, nil // CONFIG is often disabled; no AOF is what counts
	case err != nil:
		return "", fmt.Errorf("redis config: %w", err)
	}
	if strings.TrimSpace(save["save"]) != "" {
		return PersistenceRDB, nil
	}
	return PersistenceNone, nil
}

// ParseAOF reports whether an INFO persistence reply says aof_enabled:1.
func ParseAOF(info string) bool {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "aof_enabled:"); ok {
			return v == "1"
		}
	}
	return false
}

// markerKeys are the markers to read: one key on a single Redis; on a
// Cluster one per master (slot 0's first), found by trying slots in turn.
func (s *Store) markerKeys(ctx context.Context, admin redis.UniversalClient) ([]string, error) {
	cc, ok := admin.(*redis.ClusterClient)
	if !ok || s.w.slotTags == nil {
		return []string{s.markerKey("")}, nil
	}
	var mu sync.Mutex
	masters := map[string]bool{}
	if err := cc.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
		mu.Lock()
		masters[n.Options().Addr] = true
		mu.Unlock()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redis masters: %w", err)
	}
	var keys []string
	for i := 0; len(masters) > 0 && i < slots; i++ {
		k := s.slotMarker(i)
		n, err := cc.MasterForKey(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("redis marker slot: %w", err)
		}
		if addr := n.Options().Addr; masters[addr] {
			delete(masters, addr)
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// casMarker sets the marker to ARGV[2] when it holds ARGV[1] (""
// meaning absent) and returns what it holds afterwards, so replicas that
// race to write a marker all end up with one value.
var casMarker = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if (cur == false and ARGV[1] == "") or cur == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[2])
  return ARGV[2]
end
return cur`)

// newMarker is a fresh marker value: a random id, then the time of the
// reset it records (unix milliseconds; none for a deployment's first).
func newMarker(resetAt time.Time) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	v := hex.EncodeToString(b)
	if !resetAt.IsZero() {
		v += " " + strconv.FormatInt(resetAt.UnixMilli(), 10)
	}
	return v
}

// markerReset is the reset time a marker records (zero: none).
func markerReset(v string) time.Time {
	_, ms, ok := strings.Cut(v, " ")
	if !ok {
		return time.Time{}
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

// checkMarkers reads the markers and compares them with the value this
// store expects; see the comment at the top of the file.
func (s *Store) checkMarkers(ctx context.Context, admin redis.UniversalClient, extra string) error {
	keys, err := s.markerKeys(ctx, admin)
	if err != nil {
		return err
	}
	if extra != "" && extra != keys[0] {
		keys = append(keys, extra)
	}
	cmds := make([]*redis.StringCmd, len(keys))
	if _, err := admin.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis marker: %w", err)
	}
	vals := make([]string, len(keys))
	allEmpty, same := true, true
	for i, c := range cmds {
		// Only a missing key is a missing marker: an unreachable node
		// is not a loss.
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("redis marker: %w", err)
		}
		vals[i] = c.Val()
		allEmpty = allEmpty && vals[i] == ""
		same = same && vals[i] == vals[0]
	}
	s.w.mu.Lock()
	known := s.w.marker
	s.w.mu.Unlock()
	now := s.w.o.Now()
	var chosen string
	reset := false
	switch {
	case same && vals[0] != "" && (known == "" || vals[0] == known):
		chosen = vals[0] // as expected, or a first look at a running deployment
	case known == "" && allEmpty:
		// This deployment's first start (or a loss no running replica saw:
		// only persistence guards against that).
		chosen, err = s.cas(ctx, admin, keys[0], "", newMarker(time.Time{}))
	case same && vals[0] != "" && !markerReset(vals[0]).IsZero():
		// Another replica saw the loss first and recorded it.
		chosen, reset = vals[0], true
	default:
		// Gone, changed by a replica that did not know the old one, or
		// missing on some masters: records were lost.
		reset = true
		chosen, err = s.cas(ctx, admin, keys[0], vals[0], newMarker(now))
		if err == nil && markerReset(chosen).IsZero() {
			// A replica starting afresh wrote a plain marker meanwhile:
			// record the reset on it, so that replica holds too.
			chosen, err = s.cas(ctx, admin, keys[0], chosen, newMarker(now))
		}
	}
	if err != nil {
		return err
	}
	if s.w.slotTags != nil && (known == "" || chosen != known) {
		// Every slot's marker, never overwriting one on a first look (that
		// repairs a start cut short; a lost node shows in the masters'
		// markers read above), overwriting all after a reset.
		if _, err := admin.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range slots {
				if reset {
					p.Set(ctx, s.slotMarker(i), chosen, 0)
				} else {
					p.SetNX(ctx, s.slotMarker(i), chosen, 0)
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("redis markers: %w", err)
		}
	}
	for i, k := range keys[1:] {
		if vals[i+1] != chosen {
			if err := admin.Set(ctx, k, chosen, 0).Err(); err != nil {
				return fmt.Errorf("redis marker: %w", err)
			}
		}
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	s.w.marker = chosen
	if reset {
		s.w.st.Resets++
	}
	if at := markerReset(chosen); !at.IsZero() {
		if reset || s.w.st.ResetAt.IsZero() {
			s.w.st.ResetAt = at
		}
		if until := at.Add(s.w.o.ResetHold); now.Before(until) && until.After(s.w.st.HoldUntil) {
			s.w.st.HoldUntil = until
		}
	}
	return nil
}

func (s *Store) cas(ctx context.Context, admin redis.UniversalClient, key, old, val string) (string, error) {
	v, err := casMarker.Run(ctx, admin, []string{key}, old, val).Text()
	if err != nil {
		return "", fmt.Errorf("redis marker: %w", err)
	}
	return v, nil
}
