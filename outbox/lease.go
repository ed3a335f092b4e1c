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
	// until is when this relay stops publishing unless it renews: a tenth
	// of the lease before the row expires, for clock skew and the time the
	// renewal took. Zero while standing by.
	until   time.Time
	renewed time.Time
}

// leaseName names the one lease row of the outbox table.
const leaseName = "relay"

// hold takes or renews the lease when due and reports whether this relay
// holds it.
func (l *lease) hold(ctx context.Context) (bool, error) {
	now := time.Now()
	leading := now.Before(l.until)
	if leading && now.Sub(l.renewed) < l.duration/3 {
		return true, nil
	}
	if !leading {
		// A standby only reads, so that waiting replicas do not contend for
		// the database's write lock (SQLite) or the row (PostgreSQL).
		var owner string
		var expires int64
		err := l.db.QueryRowContext(ctx, `SELECT owner, expires_at FROM eventbus_outbox_lease WHERE name = $1`, leaseName).Scan(&owner, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return false, err
		case owner != l.owner && expires > now.UnixMicro():
			return false, nil
		}
	}
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
		// Keep publishing until the current lease ends: the next step
		// renews again.
		return now.Before(l.until), err
	}
	l.until = now.Add(l.duration - l.duration/10)
	l.renewed = now
	return true, nil
}

// release gives the lease up, so that a standby takes over at once.
func (l *lease) release(ctx context.Context) error {
	if l.until.IsZero() {
		return nil
	}
	l.until = time.Time{}
	_, err := l.db.ExecContext(ctx, `DELETE FROM eventbus_outbox_lease WHERE name = $1 AND owner = $2`, leaseName, l.owner)
	return err
}
