package outbox

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgxConn is what the connections of pgx's database/sql driver
// (github.com/jackc/pgx/v5/stdlib) offer: the native connection, the only
// kind that can wait for notifications.
type pgxConn interface{ Conn() *pgx.Conn }

// listen starts listening on PostgreSQL for the notification the outbox
// table's trigger sends at each commit, and returns a channel that receives
// a value after each (coalesced). It reports false when db's driver is not
// pgx's; the relay then only polls. The listener reconnects after errors
// until ctx is done.
func listen(ctx context.Context, db *sql.DB, logger *slog.Logger) (<-chan struct{}, bool) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, false
	}
	var isPgx bool
	_ = conn.Raw(func(dc any) error {
		_, isPgx = dc.(pgxConn)
		return nil
	})
	conn.Close()
	if !isPgx {
		return nil, false
	}
	wake := make(chan struct{}, 1)
	go func() {
		backoff := DefaultMinBackoff
		for {
			err := waitNotifications(ctx, db, wake)
			if ctx.Err() != nil {
				return
			}
			logger.WarnContext(ctx, "outbox relay: LISTEN connection failed, polling until it is back", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, DefaultMaxBackoff)
		}
	}()
	return wake, true
}

// waitNotifications listens on a connection of its own and signals wake for
// each notification until the connection fails or ctx is done.
func waitNotifications(ctx context.Context, db *sql.DB, wake chan<- struct{}) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(pgxConn).Conn()
		if _, err := pc.Exec(ctx, "LISTEN eventbus_outbox"); err != nil {
			return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
		}
		// A commit may have come before LISTEN took effect.
		select {
		case wake <- struct{}{}:
		default:
		}
		for {
			// The connection is left mid-protocol on error: ErrBadConn has
			// database/sql discard it rather than pool it.
			if _, err := pc.WaitForNotification(ctx); err != nil {
				return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
}
