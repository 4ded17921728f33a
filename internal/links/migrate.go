package links

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded files, named <version>_<name>.sql, in order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("links: migration file %q is not named <version>_<name>.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate creates the schema and applies every migration not applied yet,
// each in its own transaction with its schema_migrations row. A session
// advisory lock, keyed on the schema, serialises processes starting at once:
// the second waits, then finds everything applied.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("links: migrate: %w", err)
	}
	defer conn.Release()
	lockKey := "identity-gateway links " + schema
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", lockKey); err != nil {
		return fmt.Errorf("links: migrate: advisory lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must go even when ctx was cancelled,
		// or the connection returns to the pool still holding it.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtextextended($1, 0))", lockKey)
	}()
	ident := pgx.Identifier{schema}.Sanitize()
	// Looked up first: CREATE SCHEMA IF NOT EXISTS checks the CREATE right on
	// the database even when the schema exists, which a least-privilege
	// runtime user does not have.
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return fmt.Errorf("links: migrate: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+ident); err != nil {
			return fmt.Errorf("links: migrate: create schema: %w", err)
		}
	}
	var tracked bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", ident+".schema_migrations").Scan(&tracked); err != nil {
		return fmt.Errorf("links: migrate: %w", err)
	}
	if !tracked {
		if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+ident+`.schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("links: migrate: schema_migrations: %w", err)
		}
	}
	for _, m := range ms {
		var applied bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+ident+".schema_migrations WHERE version = $1)", m.version).Scan(&applied); err != nil {
			return fmt.Errorf("links: migrate: %w", err)
		}
		if applied {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// The migration's unqualified names land in the schema.
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+ident); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+ident+".schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("links: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// AppliedMigrations lists the versions recorded in schema_migrations.
func (s *PGStore) AppliedMigrations(ctx context.Context) ([]int, error) {
	rows, err := s.pool.Query(ctx, "SELECT version FROM "+pgx.Identifier{s.schema}.Sanitize()+".schema_migrations ORDER BY version")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}
