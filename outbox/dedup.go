package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eventbus-go/eventbus/bus/middleware"
)

// ErrClaimLost reports that the handler's claim on a message ran out (its
// lease ended) and another delivery took the message over: the transaction
// must roll back, or the message would take effect twice.
var ErrClaimLost = errors.New("outbox: dedup claim lost: the lease ended and another delivery took the message")

// ErrNoClaim reports a CommitTx outside a handler wrapped by
// middleware.Dedup with a DedupStore.
var ErrNoClaim = errors.New("outbox: no dedup claim in the context: CommitTx must be called from a handler wrapped by middleware.Dedup")

// dedupSweepInterval is how often a DedupStore deletes expired keys.
const dedupSweepInterval = time.Minute

// DedupStore is a middleware.Store in the eventbus_dedup table of an SQLite
// or PostgreSQL database (created by Migrate), so it survives restarts and
// is shared by every replica using the database. Each method is one atomic
// statement; expired keys are deleted once a minute. Expiry uses the
// callers' clocks: the replicas' clocks must agree to well within the lease.
//
// CommitTx marks a message done inside the handler's own transaction, so
// the handler's writes and the dedup mark commit, or roll back, together.
type DedupStore struct {
	db  *sql.DB
	now func() time.Time // replaced by tests

	sweepMu   sync.Mutex
	lastSweep time.Time
}

var _ middleware.Store = (*DedupStore)(nil)

// NewDedupStore returns a store in db, which Migrate has prepared.
func NewDedupStore(db *sql.DB) *DedupStore {
	return &DedupStore{db: db, now: time.Now}
}

// Claim implements middleware.Store.
func (s *DedupStore) Claim(ctx context.Context, key, owner string, lease time.Duration) (middleware.ClaimStatus, error) {
	if s.db == nil {
		return 0, errors.New("outbox: dedup store has no database")
	}
	now := s.now()
	s.sweep(ctx, now)
	// A key that vanishes or expires between the two statements is claimed
	// again; three rounds are plenty, since that takes a release or an
	// expiry between two statements each time.
	for range 3 {
		var got string
		err := s.db.QueryRowContext(ctx, `INSERT INTO eventbus_dedup (dedup_key, owner, done, expires_at) VALUES ($1, $2, 0, $3)
ON CONFLICT (dedup_key) DO UPDATE SET owner = excluded.owner, done = 0, expires_at = excluded.expires_at
WHERE eventbus_dedup.expires_at <= $4 OR (eventbus_dedup.done = 0 AND eventbus_dedup.owner = excluded.owner)
RETURNING owner`, key, owner, now.Add(lease).UnixMicro(), now.UnixMicro()).Scan(&got)
		if err == nil {
			return middleware.ClaimAcquired, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("outbox: dedup claim: %w", err)
		}
		var done int
		var expires int64
		err = s.db.QueryRowContext(ctx, `SELECT done, expires_at FROM eventbus_dedup WHERE dedup_key = $1`, key).Scan(&done, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return 0, fmt.Errorf("outbox: dedup claim: %w", err)
		case expires <= now.UnixMicro():
			continue
		case done != 0:
			return middleware.ClaimDone, nil
		default:
			return middleware.ClaimBusy, nil
		}
	}
	return 0, errors.New("outbox: dedup claim: the key kept changing under three attempts")
}

// Commit implements middleware.Store.
func (s *DedupStore) Commit(ctx context.Context, key string, ttl time.Duration) error {
	if s.db == nil {
		return errors.New("outbox: dedup store has no database")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO eventbus_dedup (dedup_key, owner, done, expires_at) VALUES ($1, '', 1, $2)
ON CONFLICT (dedup_key) DO UPDATE SET owner = '', done = 1, expires_at = excluded.expires_at`, key, s.now().Add(ttl).UnixMicro())
	if err != nil {
		return fmt.Errorf("outbox: dedup commit: %w", err)
	}
	return nil
}

// Release implements middleware.Store.
func (s *DedupStore) Release(ctx context.Context, key, owner string) error {
	if s.db == nil {
		return errors.New("outbox: dedup store has no database")
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM eventbus_dedup WHERE dedup_key = $1 AND owner = $2 AND done = 0`, key, owner)
	if err != nil {
		return fmt.Errorf("outbox: dedup release: %w", err)
	}
	return nil
}

// CommitTx marks the message whose Dedup handler got ctx as done, within
// tx, the transaction holding the handler's own writes: they commit
// together, so a message's effect is recorded exactly once even when the
// process dies between the commit and the acknowledgement. It returns
// ErrClaimLost when the claim ran out and another delivery took the
// message over (roll tx back and return the error), and ErrNoClaim outside
// a handler wrapped by middleware.Dedup.
//
//	dedup, err := middleware.Dedup(store)
//	...
//	sub, err := b.Subscribe(ctx, "orders", func(ctx context.Context, m *bus.Message) error {
//		tx, err := db.BeginTx(ctx, nil)
//		...
//		defer tx.Rollback()
//		// the handler's writes, then:
//		if err := store.CommitTx(ctx, tx); err != nil {
//			return err
//		}
//		return tx.Commit()
//	}, bus.Use(dedup))
func (s *DedupStore) CommitTx(ctx context.Context, tx Execer) error {
	c, ok := middleware.ClaimFromContext(ctx)
	if !ok {
		return ErrNoClaim
	}
	if tx == nil {
		return errors.New("outbox: dedup CommitTx: tx is nil")
	}
	res, err := tx.ExecContext(ctx, `UPDATE eventbus_dedup SET owner = '', done = 1, expires_at = $1
WHERE dedup_key = $2 AND owner = $3 AND done = 0`, s.now().Add(c.TTL).UnixMicro(), c.Key, c.Owner)
	if err != nil {
		return fmt.Errorf("outbox: dedup CommitTx: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("outbox: dedup CommitTx: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w (key %q)", ErrClaimLost, c.Key)
	}
	return nil
}

// sweep deletes expired keys at most once per dedupSweepInterval. A failure
// is ignored: the next sweep catches up, and expired keys are treated as
// absent either way.
func (s *DedupStore) sweep(ctx context.Context, now time.Time) {
	s.sweepMu.Lock()
	if now.Sub(s.lastSweep) < dedupSweepInterval {
		s.sweepMu.Unlock()
		return
	}
	s.lastSweep = now
	s.sweepMu.Unlock()
	_, _ = s.db.ExecContext(ctx, `DELETE FROM eventbus_dedup WHERE expires_at <= $1`, now.UnixMicro())
}
