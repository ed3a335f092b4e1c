package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/middleware"
	"github.com/eventbus-go/eventbus/internal/testdb"
	"github.com/eventbus-go/eventbus/outbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock, so expiry is tested without waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newDedupStore(t *testing.T, db *sql.DB) (*outbox.DedupStore, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := outbox.NewDedupStore(db)
	outbox.SetDedupClock(s, clock.Now)
	return s, clock
}

func claim(t *testing.T, s middleware.Store, key, owner string, lease time.Duration) middleware.ClaimStatus {
	t.Helper()
	status, err := s.Claim(t.Context(), key, owner, lease)
	require.NoError(t, err)
	return status
}

func TestDedupStoreDoneExpiresAfterTTL(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		s, clock := newDedupStore(t, db.DB)
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "k", "a", time.Minute))
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "k", "a", time.Minute), "the owner may claim again")
		require.NoError(t, s.Commit(t.Context(), "k", time.Hour))
		clock.Advance(time.Hour - time.Microsecond)
		require.Equal(t, middleware.ClaimDone, claim(t, s, "k", "b", time.Minute), "done until the TTL ends")
		clock.Advance(time.Microsecond)
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "k", "b", time.Minute), "forgotten once the TTL ended")
	})
}

func TestDedupStoreClaimExpiresAfterLease(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		s, clock := newDedupStore(t, db.DB)
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "k", "a", time.Minute))
		require.Equal(t, middleware.ClaimBusy, claim(t, s, "k", "b", time.Minute))
		clock.Advance(time.Minute)
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "k", "b", time.Minute), "a's lease ended")

		require.NoError(t, s.Release(t.Context(), "k", "a"))
		require.Equal(t, middleware.ClaimBusy, claim(t, s, "k", "c", time.Minute), "a stale owner's Release leaves b's claim alone")
		require.NoError(t, s.Release(t.Context(), "k", "b"))
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "k", "c", time.Minute), "b's Release frees the key")
	})
}

func TestDedupStoreReleaseDoesNotUndoCommit(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		s, _ := newDedupStore(t, db.DB)
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "k", "a", time.Minute))
		require.NoError(t, s.Commit(t.Context(), "k", time.Hour))
		require.NoError(t, s.Release(t.Context(), "k", "a"))
		require.Equal(t, middleware.ClaimDone, claim(t, s, "k", "b", time.Minute))
	})
}

func TestDedupStoreSweepsExpiredKeys(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		s, clock := newDedupStore(t, db.DB)
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "short", "a", time.Minute))
		require.NoError(t, s.Commit(t.Context(), "short", time.Second))
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "long", "a", time.Minute))
		require.NoError(t, s.Commit(t.Context(), "long", 24*time.Hour))
		clock.Advance(time.Minute)
		require.Equal(t, middleware.ClaimAcquired, claim(t, s, "new", "a", time.Minute))

		var keys []string
		rows, err := db.QueryContext(t.Context(), `SELECT dedup_key FROM eventbus_dedup ORDER BY dedup_key`)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var k string
			require.NoError(t, rows.Scan(&k))
			keys = append(keys, k)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{"long", "new"}, keys)
	})
}

// TestDedupStoreOneClaimAcrossReplicas has replicas, each with a pool of
// its own, claim the same keys at once: exactly one claim per key wins.
func TestDedupStoreOneClaimAcrossReplicas(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		const replicas, keys = 4, 20
		var acquired [keys]atomic.Int32
		var wg sync.WaitGroup
		for r := range replicas {
			store := outbox.NewDedupStore(db.Reopen(t))
			wg.Go(func() {
				for k := range keys {
					status, err := store.Claim(t.Context(), "key-"+string(rune('a'+k)), "replica-"+string(rune('0'+r)), time.Minute)
					if assert.NoError(t, err) && status == middleware.ClaimAcquired {
						acquired[k].Add(1)
					}
				}
			})
		}
		wg.Wait()
		for k := range keys {
			assert.Equal(t, int32(1), acquired[k].Load(), "claims won on key %d", k)
		}
	})
}

// TestDedupCommitTxMarksWithTheHandlersWrites runs a handler that records
// each message in a table of its own and marks it done in the same
// transaction, then fails as if its process died before the ack: the
// redelivery is skipped, and the table holds the message once. A run whose
// transaction rolls back marks nothing: its redelivery runs again.
func TestDedupCommitTxMarksWithTheHandlersWrites(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		_, err := db.ExecContext(t.Context(), `CREATE TABLE handled (id TEXT NOT NULL)`)
		require.NoError(t, err)
		store := outbox.NewDedupStore(db.DB)
		b := openMem(t)

		errCrash := errors.New("process died before the ack")
		var runs, skipped atomic.Int32
		done := make(chan struct{})
		handler := func(ctx context.Context, m *bus.Message) error {
			run := runs.Add(1)
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, `INSERT INTO handled (id) VALUES ($1)`, m.ID); err != nil {
				return err
			}
			if err := store.CommitTx(ctx, tx); err != nil {
				return err
			}
			if run == 1 {
				return errors.New("first run rolls back") // tx is rolled back by the defer
			}
			if err := tx.Commit(); err != nil {
				return err
			}
			return errCrash // committed, but the ack is lost
		}
		dedup, err := middleware.Dedup(store, middleware.DedupOnDuplicate(func(context.Context, *bus.Message) {
			if skipped.Add(1) == 1 {
				close(done)
			}
		}))
		require.NoError(t, err)
		_, err = b.Subscribe(t.Context(), "mails", handler,
			bus.Group("mailer"),
			bus.Retry(bus.RetryPolicy{MaxAttempts: 5, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, HoldInterval: time.Millisecond, Multiplier: 1}),
			bus.Use(dedup))
		require.NoError(t, err)
		require.NoError(t, b.Publish(t.Context(), "mails", &bus.Message{Key: "m-1", Payload: []byte("hello")}))
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			require.FailNow(t, "the redelivery after the lost ack was not skipped")
		}
		var handled int
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM handled`).Scan(&handled))
		assert.Equal(t, 1, handled, "the rolled-back run left nothing, the committed one its row")
		assert.Equal(t, int32(2), runs.Load(), "the handler ran after the rollback, and not after the commit")
	})
}

func TestDedupCommitTxNeedsItsClaim(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		store, clock := newDedupStore(t, db.DB)
		require.ErrorIs(t, store.CommitTx(t.Context(), db.DB), outbox.ErrNoClaim)

		// The handler outlives its lease and another delivery claims the
		// message: CommitTx refuses, so the handler's writes roll back.
		var commitErr error
		const key = "mailer/mails/m-1"
		byID := middleware.DedupKey(func(*bus.Message) string { return key })
		dedup, err := middleware.Dedup(store, middleware.DedupLease(time.Minute), byID)
		require.NoError(t, err)
		h := dedup(func(ctx context.Context, m *bus.Message) error {
			clock.Advance(time.Minute)
			if claim(t, store, key, "another delivery", time.Minute) != middleware.ClaimAcquired {
				return errors.New("the other delivery did not get the expired claim")
			}
			commitErr = store.CommitTx(ctx, db.DB)
			return commitErr
		})
		err = h(t.Context(), &bus.Message{ID: "m-1", Topic: "mails", Group: "mailer"})
		require.ErrorIs(t, err, outbox.ErrClaimLost)
		require.ErrorIs(t, commitErr, outbox.ErrClaimLost)
	})
}
