package outbox

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// lease is the row that makes one relay at a time the publisher of an
// outbox; the package documentation says why a lease row.
type lease struct {
	db       *sql.DB
	owner    string
	duration time.Duration
	// until is when this relay's hold ends unless it renews: a tenth of the
	// lease before the row expires, for clock skew and the time a renewal
	// takes. Zero while standing by.
	until time.Time
}

// leaseName names the one lease row of the outbox table.
const leaseName = "relay"

// errLeaseLost is the cause of the publishing context's end when the lease
// could not be renewed in time.
var errLeaseLost = errors.New("outbox relay: lease lost")

// acquire takes the lease if it is free, expired or already this relay's,
// and reports whether this relay holds it.
func (l *lease) acquire(ctx context.Context) (bool, error) {
	// Standbys only read, so that waiting replicas do not contend for the
	// database's write lock (SQLite) or the row (PostgreSQL).
	var owner string
	var expires int64
	err := l.db.QueryRowContext(ctx, `SELECT owner, expires_at FROM eventbus_outbox_lease WHERE name = $1`, leaseName).Scan(&owner, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, err
	case owner != l.owner && expires > time.Now().UnixMicro():
		return false, nil
	}
	return l.take(ctx)
}

// take writes the lease row for this relay unless another relay holds it,
// and reports whether this relay holds it now.
func (l *lease) take(ctx context.Context) (bool, error) {
	now := time.Now()
	var owner string
	err := l.db.QueryRowContext(ctx, `INSERT INTO eventbus_outbox_lease (name, owner, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE eventbus_outbox_lease.owner = excluded.owner OR eventbus_outbox_lease.expires_at <= $4
RETURNING owner`, leaseName, l.owner, now.Add(l.duration).UnixMicro(), now.UnixMicro()).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		l.until = time.Time{}
		return false, nil
	case err != nil:
		return false, err
	}
	l.until = now.Add(l.duration - l.duration/10)
	return true, nil
}

// keep renews the lease every third of its duration until ctx is done, and
// calls lost with errLeaseLost once it cannot renew before its hold ends.
func (l *lease) keep(ctx context.Context, lost context.CancelCauseFunc) {
	ticker := time.NewTicker(l.duration / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		renewCtx, cancel := context.WithDeadline(ctx, l.until)
		held, err := l.take(renewCtx)
		cancel()
		if held || (err != nil && time.Now().Before(l.until)) {
			continue // renewed, or time left to try again
		}
		l.until = time.Time{}
		lost(errLeaseLost)
		return
	}
}

// release gives the lease up, so that a standby takes over at once.
func (l *lease) release(ctx context.Context) error {
	_, err := l.db.ExecContext(ctx, `DELETE FROM eventbus_outbox_lease WHERE name = $1 AND owner = $2`, leaseName, l.owner)
	return err
}
