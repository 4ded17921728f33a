package links

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// listen keeps one connection LISTENing on the store's channel and evicts
// each id notified. Idle, it pings every listenerPoll, so the cache stays
// usable only while the connection is known to work. ready gets the first
// subscription's outcome.
func (s *PGStore) listen(ctx context.Context, cfg *pgx.ConnConfig, ready chan<- error) {
	defer close(s.done)
	var (
		conn    *pgx.Conn
		first   = true
		backoff = 50 * time.Millisecond
	)
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			c, err := s.subscribe(ctx, cfg)
			if first {
				ready <- err
				if err != nil {
					return
				}
				first = false
			}
			if err != nil {
				s.log.Warn("links: listener reconnect failed; reading PostgreSQL without the cache", "err", err)
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				backoff = min(backoff*2, 2*time.Second)
				continue
			}
			conn, backoff = c, 50*time.Millisecond
			// Anything cached before may have missed notifications.
			s.cache.reset()
			s.cache.alive()
		}
		wctx, cancel := context.WithTimeout(ctx, listenerPoll)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			s.cache.invalidate(n.Payload)
			s.cache.alive()
			if s.onInval != nil {
				s.onInval(n.Payload)
			}
			continue
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, listenerPoll)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				s.cache.alive()
				continue
			}
		}
		s.cache.dead()
		s.log.Warn("links: listener lost; reading PostgreSQL without the cache until it is back", "err", err)
		_ = conn.Close(context.Background())
		conn = nil
	}
}

func (s *PGStore) subscribe(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cfg = cfg.Copy()
	// Named, so operators (and the tests) can tell the listener apart in
	// pg_stat_activity.
	cfg.RuntimeParams["application_name"] = ListenerName(s.schema)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("links: listener: %w", err)
	}
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("links: listen: %w", err)
	}
	return conn, nil
}

// ListenerName is the application_name of a store's listener connection.
func ListenerName(schema string) string { return "idgw-links-listener " + schema }
