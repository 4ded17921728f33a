package links

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGOptions configures a PGStore.
type PGOptions struct {
	// URL is the PostgreSQL connection string (postgres://...).
	URL string
	// Schema holds the store's tables; default "identity_gateway". Tests
	// use one schema per run so parallel runs never collide.
	Schema string
	// CacheSize bounds the in-process cache in canonical ids (default
	// 100000); negative disables the cache.
	CacheSize int
	// Logger receives listener reconnects; nil discards.
	Logger *slog.Logger
	// Now is the clock of link times; nil is time.Now.
	Now func() time.Time
	// OnInvalidate, when set, is called after a notification from any
	// replica evicted an id (tests observe cross-replica invalidation).
	OnInvalidate func(canonicalID string)
}

// PGStore keeps links in PostgreSQL with an in-process cache in front. Every
// change sends a NOTIFY in its transaction; every replica LISTENs and evicts
// the id, so a change is seen everywhere within milliseconds. The cache is
// used only while the listener has proven itself alive in the last
// listenerFresh (a ping or a notification), so a replica whose listener
// broke reads PostgreSQL directly rather than serve a stale link: a change
// is never used stale for more than a second.
type PGStore struct {
	pool    *pgxpool.Pool
	schema  string
	q       queries
	channel string
	now     func() time.Time
	log     *slog.Logger
	cache   *cache
	onInval func(string)

	cancel context.CancelFunc
	done   chan struct{}
}

var _ Store = (*PGStore)(nil)

type queries struct {
	get, getSubject, owner, upsert, upsertSubject, del, reverse, list, count string
}

var schemaRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// OpenPG connects, applies the embedded migrations, starts the listener and
// returns the store once the listener is subscribed (so nothing changed
// after OpenPG returns can be missed).
func OpenPG(ctx context.Context, o PGOptions) (*PGStore, error) {
	if o.Schema == "" {
		o.Schema = "identity_gateway"
	}
	if !schemaRe.MatchString(o.Schema) {
		return nil, fmt.Errorf("links: schema %q must be lowercase letters, digits and _ (at most 48)", o.Schema)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CacheSize == 0 {
		o.CacheSize = 100_000
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		// pgx's parse error can quote the URL, password included.
		return nil, errors.New("links: database_url is not a valid PostgreSQL connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("links: connect: %w", err)
	}
	if err := migrate(ctx, pool, o.Schema); err != nil {
		pool.Close()
		return nil, err
	}
	t := pgx.Identifier{o.Schema}.Sanitize()
	s := &PGStore{pool: pool, schema: o.Schema, channel: "idgw_links_" + o.Schema, now: o.Now, log: o.Logger, onInval: o.OnInvalidate,
		q: queries{
			get:        "SELECT target, vendor_id, source, client, updated_at FROM " + t + ".links WHERE canonical_id = $1",
			getSubject: "SELECT email, username, held, held_version FROM " + t + ".link_subjects WHERE canonical_id = $1",
			owner:      "SELECT canonical_id FROM " + t + ".links WHERE target = $1 AND vendor_id = $2",
			upsert: "INSERT INTO " + t + ".links (canonical_id, target, vendor_id, source, client, updated_at) VALUES ($1, $2, $3, $4, $5, $6) " +
				"ON CONFLICT (canonical_id, target) DO UPDATE SET vendor_id = EXCLUDED.vendor_id, source = EXCLUDED.source, client = EXCLUDED.client, updated_at = EXCLUDED.updated_at",
			// $5 is the held object, $6 whether the change sets it (a
			// NULL $5 with $6 true clears it).
			upsertSubject: "INSERT INTO " + t + ".link_subjects (canonical_id, email, username, updated_at, held, held_version) " +
				"VALUES ($1, $2, $3, $4, $5::json, CASE WHEN $6::boolean THEN 1 ELSE 0 END) " +
				"ON CONFLICT (canonical_id) DO UPDATE SET email = CASE WHEN EXCLUDED.email = '' THEN link_subjects.email ELSE EXCLUDED.email END, " +
				"username = CASE WHEN EXCLUDED.username = '' THEN link_subjects.username ELSE EXCLUDED.username END, updated_at = EXCLUDED.updated_at, " +
				"held = CASE WHEN $6::boolean THEN EXCLUDED.held ELSE link_subjects.held END, " +
				"held_version = link_subjects.held_version + EXCLUDED.held_version",
			del:     "DELETE FROM " + t + ".links WHERE canonical_id = $1 AND target = $2",
			reverse: "SELECT canonical_id, source, client, updated_at FROM " + t + ".links WHERE target = $1 AND vendor_id = $2",
			// COLLATE "C": the same byte order as the memory store, and
			// the primary key's leading column serves it.
			list:  "SELECT DISTINCT canonical_id COLLATE \"C\" AS id FROM " + t + ".links ORDER BY id OFFSET $1 LIMIT $2",
			count: "SELECT count(DISTINCT canonical_id) FROM " + t + ".links",
		}}
	if o.CacheSize > 0 {
		s.cache = newCache(o.CacheSize)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	ready := make(chan error, 1)
	go s.listen(lctx, cfg.ConnConfig.Copy(), ready)
	select {
	case err := <-ready:
		if err != nil {
			cancel()
			<-s.done
			pool.Close()
			return nil, err
		}
	case <-ctx.Done():
		cancel()
		<-s.done
		pool.Close()
		return nil, ctx.Err()
	}
	return s, nil
}

// Get implements Store: the cache when it can be trusted, else PostgreSQL.
func (s *PGStore) Get(ctx context.Context, id string) (Record, error) {
	if r, ok := s.cache.get(id); ok {
		return r.Clone(), nil
	}
	gen := s.cache.generation()
	r, err := s.load(ctx, id)
	if err != nil {
		return Record{}, err
	}
	s.cache.put(id, r, gen)
	return r.Clone(), nil
}

func (s *PGStore) load(ctx context.Context, id string) (Record, error) {
	r := Record{CanonicalID: id, Links: map[string]Link{}}
	// One round trip for both reads.
	b := &pgx.Batch{}
	b.Queue(s.q.get, id)
	b.Queue(s.q.getSubject, id)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return Record{}, fmt.Errorf("links: get: %w", err)
	}
	for rows.Next() {
		var (
			t, src string
			l      Link
		)
		if err := rows.Scan(&t, &l.VendorID, &src, &l.Client, &l.UpdatedAt); err != nil {
			rows.Close()
			return Record{}, fmt.Errorf("links: get: %w", err)
		}
		l.Source, l.UpdatedAt = Source(src), l.UpdatedAt.UTC()
		r.Links[t] = l
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Record{}, fmt.Errorf("links: get: %w", err)
	}
	var held []byte
	err = br.QueryRow().Scan(&r.Attributes.Email, &r.Attributes.Username, &held, &r.HeldVersion)
	if held != nil {
		r.Held = held
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Record{}, fmt.Errorf("links: get attributes: %w", err)
	}
	return r, nil
}

// Put implements Store in one transaction, which also sends the NOTIFY.
func (s *PGStore) Put(ctx context.Context, id string, c Change) (Record, error) {
	if err := check(id, c); err != nil {
		return Record{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, t := range slices.Sorted(maps.Keys(c.Links)) {
			v := c.Links[t]
			var owner string
			switch err := tx.QueryRow(ctx, s.q.owner, t, v).Scan(&owner); {
			case err == nil && owner != id:
				return &ConflictError{Target: t, VendorID: v, Owner: owner}
			case err != nil && !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			if _, err := tx.Exec(ctx, s.q.upsert, id, t, v, string(c.Source), c.Client, now); err != nil {
				return err
			}
		}
		if !c.Attributes.IsZero() || c.Held != nil {
			var held []byte // nil: SQL NULL
			if c.Held != nil {
				held = heldValue(c.Held)
			}
			if _, err := tx.Exec(ctx, s.q.upsertSubject, id, c.Attributes.Email, c.Attributes.Username, now, held, c.Held != nil); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", s.channel, id)
		return err
	})
	if err != nil {
		var ce *ConflictError
		if errors.As(err, &ce) {
			return Record{}, ce
		}
		if ce := s.raceConflict(ctx, err, c); ce != nil {
			return Record{}, ce
		}
		return Record{}, fmt.Errorf("links: put: %w", err)
	}
	s.invalidate(id)
	return s.Get(ctx, id)
}

// raceConflict names the owner when another transaction linked the account
// between this one's check and its insert (the unique constraint caught it).
func (s *PGStore) raceConflict(ctx context.Context, err error, c Change) *ConflictError {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || pe.ConstraintName != "links_account_once" {
		return nil
	}
	for _, t := range slices.Sorted(maps.Keys(c.Links)) {
		var owner string
		if s.pool.QueryRow(ctx, s.q.owner, t, c.Links[t]).Scan(&owner) == nil {
			return &ConflictError{Target: t, VendorID: c.Links[t], Owner: owner}
		}
	}
	return &ConflictError{Owner: "(another id)"}
}

// Delete implements Store.
func (s *PGStore) Delete(ctx context.Context, id, target string) (bool, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.q.del, id, target)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", s.channel, id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("links: delete: %w", err)
	}
	s.invalidate(id)
	return n > 0, nil
}

// Reverse implements Store (always PostgreSQL: it serves the API only).
func (s *PGStore) Reverse(ctx context.Context, target, vendorID string) (string, Link, bool, error) {
	var (
		id, src string
		l       Link
	)
	err := s.pool.QueryRow(ctx, s.q.reverse, target, vendorID).Scan(&id, &src, &l.Client, &l.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", Link{}, false, nil
	}
	if err != nil {
		return "", Link{}, false, fmt.Errorf("links: reverse: %w", err)
	}
	l.VendorID, l.Source, l.UpdatedAt = vendorID, Source(src), l.UpdatedAt.UTC()
	return id, l, true, nil
}

// List implements Store (always PostgreSQL: it serves the API only). The
// count and the page are read in one round trip.
func (s *PGStore) List(ctx context.Context, offset, limit int) ([]string, int, error) {
	b := &pgx.Batch{}
	b.Queue(s.q.count)
	b.Queue(s.q.list, max(offset, 0), max(limit, 0))
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	var total int
	if err := br.QueryRow().Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("links: list: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, 0, fmt.Errorf("links: list: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, 0, fmt.Errorf("links: list: %w", err)
	}
	return ids, total, nil
}

// Ping implements Store.
func (s *PGStore) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close stops the listener and closes the pool.
func (s *PGStore) Close() {
	s.cancel()
	<-s.done
	s.pool.Close()
}

// DropSchema removes the store's schema with everything in it; tests call
// it to leave nothing behind.
func (s *PGStore) DropSchema(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s.schema}.Sanitize()+" CASCADE")
	return err
}

func (s *PGStore) invalidate(id string) { s.cache.invalidate(id) }

// QueryRowForTest runs one query on the store's pool (tests inspect and
// disturb the server through it).
func (s *PGStore) QueryRowForTest(ctx context.Context, sql string, args ...any) pgx.Row {
	return s.pool.QueryRow(ctx, sql, args...)
}

// ExecForTest runs one statement on the store's pool.
func (s *PGStore) ExecForTest(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return s.pool.Exec(ctx, sql, args...)
}
