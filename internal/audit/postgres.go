package audit

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key replicas take to migrate one at a
// time ("idgw-audit" as an integer).
const migrationLock int64 = 0x6964677761756469

// PostgresOptions configures the PostgreSQL store.
type PostgresOptions struct {
	// URL is the database (audit.database_url, by default the identity
	// links' database).
	URL string
	// Schema, when set, holds the tables (created if missing); tests use a
	// schema of their own.
	Schema string
	// MaxConns bounds the pool (default pgx's).
	MaxConns int32
}

// PostgresStore keeps the trail in PostgreSQL.
type PostgresStore struct {
	pool *pgxpool.Pool
}

// OpenPostgres connects and applies the embedded migrations under an
// advisory lock, so replicas starting together migrate once.
func OpenPostgres(ctx context.Context, o PostgresOptions) (*PostgresStore, error) {
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		// pgx's message can quote the URL, password included: keep it out.
		return nil, errors.New("audit postgres: the database URL does not parse")
	}
	if o.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = o.Schema
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit postgres: %w", err)
	}
	s := &PostgresStore{pool: pool}
	if err := s.migrate(ctx, o.Schema); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *PostgresStore) migrate(ctx context.Context, schema string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("audit postgres: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("audit postgres: migration lock: %w", err)
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("audit postgres: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS audit_schema_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("audit postgres: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("audit postgres: migration %s: no version number", base)
		}
		var done bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM audit_schema_migrations WHERE version = $1)", v).Scan(&done); err != nil {
			return fmt.Errorf("audit postgres: %w", err)
		}
		if done {
			continue
		}
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			return fmt.Errorf("audit postgres: migration %s: %w", base, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO audit_schema_migrations (version) VALUES ($1)", v); err != nil {
			return fmt.Errorf("audit postgres: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("audit postgres: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *PostgresStore) Close() { s.pool.Close() }

// Name implements Sink.
func (s *PostgresStore) Name() string { return "postgres" }

// Ping implements Sink.
func (s *PostgresStore) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Append implements Sink.
func (s *PostgresStore) Append(ctx context.Context, r *Record) error {
	fields, err := json.Marshal(nonNil(r.Fields))
	if err != nil {
		return err
	}
	values, targets, detail := jsonOrNil(r.Values), jsonOrNil(r.Targets), jsonOrNil(r.Detail)
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	err = s.pool.QueryRow(ctx, `INSERT INTO audit_records
		(at, action, user_id, client, auth_method, status, http_status, dry_run, idempotency_key, trace_id, fields, field_values, targets, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
		r.Time, r.Action, r.User, r.Client, r.AuthMethod, r.Status, r.HTTPStatus, r.DryRun, r.IdempotencyKey, r.TraceID,
		fields, values, targets, detail).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("audit postgres: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// jsonOrNil encodes a map, or SQL NULL for an empty one.
func jsonOrNil[V any](m map[string]V) []byte {
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m) // maps of strings and plain structs always encode
	return b
}

// Query implements Store.
func (s *PostgresStore) Query(ctx context.Context, q Query) (Page, error) {
	if err := q.Normalize(); err != nil {
		return Page{}, err
	}
	cur, err := decodeCursor(q.Cursor)
	if err != nil {
		return Page{}, err
	}
	var where []string
	var args []any
	// add appends a condition, numbering its ? placeholders after the
	// arguments so far.
	add := func(cond string, vals ...any) {
		for _, v := range vals {
			args = append(args, v)
			cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1)
		}
		where = append(where, cond)
	}
	if q.User != "" {
		add("user_id = ?", q.User)
	}
	if q.Client != "" {
		add("client = ?", q.Client)
	}
	if !q.Since.IsZero() {
		add("at >= ?", q.Since)
	}
	if !q.Until.IsZero() {
		add("at < ?", q.Until)
	}
	if cur != nil {
		add("(at, id) < (?, ?)", cur.t, cur.id)
	}
	sql := `SELECT id, at, action, user_id, client, auth_method, status, http_status, dry_run, idempotency_key, trace_id,
		fields, field_values, targets, detail FROM audit_records`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, q.Limit+1)
	sql += " ORDER BY at DESC, id DESC LIMIT $" + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, fmt.Errorf("audit postgres: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var fields, values, targets, detail []byte
		if err := rows.Scan(&r.ID, &r.Time, &r.Action, &r.User, &r.Client, &r.AuthMethod, &r.Status, &r.HTTPStatus, &r.DryRun,
			&r.IdempotencyKey, &r.TraceID, &fields, &values, &targets, &detail); err != nil {
			return Page{}, fmt.Errorf("audit postgres: %w", err)
		}
		r.Time = r.Time.UTC()
		if err := unmarshalAll(fields, &r.Fields, values, &r.Values, targets, &r.Targets, detail, &r.Detail); err != nil {
			return Page{}, fmt.Errorf("audit postgres: record %d: %w", r.ID, err)
		}
		if len(r.Fields) == 0 {
			r.Fields = nil
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("audit postgres: %w", err)
	}
	return page(out, q.Limit), nil
}

func unmarshalAll(pairs ...any) error {
	for i := 0; i < len(pairs); i += 2 {
		b := pairs[i].([]byte)
		if len(b) == 0 {
			continue
		}
		if err := json.Unmarshal(b, pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// Prune deletes records older than before, in batches so a large backlog
// never holds one long lock; it returns how many were deleted.
func (s *PostgresStore) Prune(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM audit_records WHERE id IN
			(SELECT id FROM audit_records WHERE at < $1 ORDER BY at LIMIT 5000)`, before)
		if err != nil {
			return total, fmt.Errorf("audit postgres: prune: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 5000 {
			return total, nil
		}
	}
}
