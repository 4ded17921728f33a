package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/identity-gateway/identity-gateway/internal/audit"
	"github.com/identity-gateway/identity-gateway/internal/audit/audittest"
)

// openPostgres opens a store in a schema of its own, dropped at the end.
// Skipped only when DATABASE_URL is unset.
func openPostgres(t *testing.T) *audit.PostgresStore {
	t.Helper()
	s, _ := openPostgresSchema(t)
	return s
}

func openPostgresSchema(t *testing.T) (*audit.PostgresStore, string) {
	t.Helper()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		t.Skip("DATABASE_URL is not set")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "audit_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	s, err := audit.OpenPostgres(ctx, audit.PostgresOptions{URL: url, Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	return s, schema
}

func TestPostgresStoreContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audittest.Store { return openPostgres(t) })
}

// TestPostgresMigrationIsIdempotentAndLocked: replicas starting together on
// one schema each run the migration; the advisory lock serialises them and
// the second finds it done.
func TestPostgresMigrationIsIdempotentAndLocked(t *testing.T) {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		t.Skip("DATABASE_URL is not set")
	}
	// Several openers at once on the schema the first one created.
	_, schema := openPostgresSchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := audit.OpenPostgres(ctx, audit.PostgresOptions{URL: url, Schema: schema, MaxConns: 2})
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "audit_schema_migrations"}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("migrations recorded %d times, want 1", n)
	}
}

// BenchmarkPostgresAppend is the cost one write's outcome record adds to
// the request (one INSERT ... RETURNING on a pooled connection).
func BenchmarkPostgresAppend(b *testing.B) {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		b.Skip("DATABASE_URL is not set")
	}
	ctx := context.Background()
	buf := make([]byte, 6)
	rand.Read(buf)
	schema := "audit_bench_" + hex.EncodeToString(buf)
	s, err := audit.OpenPostgres(ctx, audit.PostgresOptions{URL: url, Schema: schema, MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		if conn, err := pgx.Connect(ctx, url); err == nil {
			conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(ctx)
		}
	})
	r := audit.Record{Action: audit.ActionUserUpdate, User: "u-1", Client: "hr", AuthMethod: "oidc", Status: "applied",
		Fields: []string{"display_name"}, Targets: map[string]audit.TargetOutcome{"frontier": {VendorID: "v", Status: "applied"}}}
	b.ResetTimer()
	for b.Loop() {
		rec := r
		rec.Time = time.Now()
		if err := s.Append(ctx, &rec); err != nil {
			b.Fatal(err)
		}
	}
}
