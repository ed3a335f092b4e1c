package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/internal/testdb"
	_ "github.com/eventbus-go/eventbus/memory"
	"github.com/eventbus-go/eventbus/outbox"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for testdb
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", for testdb
)

// migrated returns a fresh database of kind with the outbox schema.
func migrated(t *testing.T, kind string) testdb.DB {
	t.Helper()
	db := testdb.Open(t, kind, outbox.SQLiteDSN)
	require.NoError(t, outbox.Migrate(t.Context(), db.DB))
	return db
}

// startRelay runs a relay until the test ends and waits for Run to return.
func startRelay(t *testing.T, db *sql.DB, b *bus.Bus, opts ...outbox.RelayOption) *outbox.Relay {
	t.Helper()
	defaults := []outbox.RelayOption{outbox.PollInterval(10 * time.Millisecond), outbox.Logger(testLogger(t))}
	r, err := outbox.NewRelay(db, b, append(defaults, opts...)...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return r
}

// collect subscribes to topic and sends every delivery to the returned
// channel.
func collect(t *testing.T, b *bus.Bus, topic string) <-chan *bus.Message {
	t.Helper()
	got := make(chan *bus.Message, 10000)
	_, err := b.Subscribe(t.Context(), topic, func(_ context.Context, m *bus.Message) error {
		got <- m
		return nil
	}, bus.Group("test"))
	require.NoError(t, err)
	return got
}

func receive(t *testing.T, got <-chan *bus.Message) *bus.Message {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(30 * time.Second):
		require.FailNow(t, "no message within 30s")
		return nil
	}
}

// testLogger logs to the test's output, shown when it fails.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openMem(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(t.Context(), "mem://")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close(context.Background())) })
	return b
}

type orderCreated struct {
	OrderID string `json:"order_id"`
	Cents   int64  `json:"cents"`
}

func TestPublishKeepsEverythingTheBusSends(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		b := openMem(t)
		got := collect(t, b, "orders")
		startRelay(t, db.DB, b)

		when := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
		plain := &bus.Message{Key: "o-1", Payload: []byte("raw"), Header: map[string]string{"tenant": "acme"}, Time: when, ID: "my-id"}
		empty := &bus.Message{Key: "o-1"}
		topic := bus.NewTopic("orders", codec.JSON[orderCreated]{}).WithEventType("com.example.order.created")
		var typed *bus.Message
		require.NoError(t, testdb.InTx(t.Context(), db.DB, func(tx *sql.Tx) (err error) {
			if err := outbox.Publish(t.Context(), tx, "orders", plain, empty); err != nil {
				return err
			}
			typed, err = outbox.PublishTopic(t.Context(), tx, topic, "o-1", orderCreated{OrderID: "o-1", Cents: 4200})
			return err
		}))
		assert.NotEmpty(t, empty.ID, "Publish fills the ID in place")
		assert.False(t, empty.Time.IsZero(), "Publish fills the time in place")

		m := receive(t, got)
		assert.Equal(t, "my-id", m.ID)
		assert.Equal(t, "o-1", m.Key)
		assert.Equal(t, []byte("raw"), m.Payload)
		assert.Equal(t, "acme", m.Header["tenant"])
		assert.True(t, when.Equal(m.Time), "time %s kept, got %s", when, m.Time)

		m = receive(t, got)
		assert.Equal(t, empty.ID, m.ID)
		assert.Empty(t, m.Payload)
		assert.True(t, empty.Time.Equal(m.Time))

		m = receive(t, got)
		assert.Equal(t, typed.ID, m.ID)
		assert.Equal(t, "application/json", m.Header[driver.HeaderContentType])
		assert.Equal(t, "com.example.order.created", m.Header[driver.HeaderType])
		var decoded orderCreated
		err := topic.Handler(func(_ context.Context, _ *bus.Message, v orderCreated) error { decoded = v; return nil })(t.Context(), m)
		require.NoError(t, err)
		assert.Equal(t, orderCreated{OrderID: "o-1", Cents: 4200}, decoded)
	})
}

func TestRolledBackTransactionIsNeverPublished(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		b := openMem(t)
		got := collect(t, b, "orders")
		r := startRelay(t, db.DB, b)

		errBusiness := errors.New("payment declined")
		err := testdb.InTx(t.Context(), db.DB, func(tx *sql.Tx) error {
			require.NoError(t, outbox.Publish(t.Context(), tx, "orders", &bus.Message{Key: "o-1", Payload: []byte("rolled back")}))
			return errBusiness
		})
		require.ErrorIs(t, err, errBusiness)
		require.NoError(t, testdb.InTx(t.Context(), db.DB, func(tx *sql.Tx) error {
			return outbox.Publish(t.Context(), tx, "orders", &bus.Message{Key: "o-1", Payload: []byte("committed")})
		}))
		// The committed message comes after the rolled-back one was written:
		// once it is out, the relay has passed the rolled-back one's place.
		assert.Equal(t, "committed", string(receive(t, got).Payload))
		select {
		case m := <-got:
			assert.Failf(t, "a second message arrived", "%q", m.Payload)
		default:
		}
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.Equal(c, uint64(1), r.Stats().Published)
			var left int
			require.NoError(c, db.QueryRowContext(t.Context(), `SELECT count(*) FROM eventbus_outbox`).Scan(&left))
			assert.Zero(c, left, "published rows are deleted")
		}, 10*time.Second, 10*time.Millisecond)
	})
}

func TestPublishRejectsBadInput(t *testing.T) {
	db := migrated(t, "sqlite")
	tx, err := db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	require.ErrorIs(t, outbox.Publish(t.Context(), tx, "", &bus.Message{}), bus.ErrInvalidTopic)
	require.ErrorContains(t, outbox.Publish(t.Context(), tx, "t", &bus.Message{}, nil), "message 1 is nil")
	require.ErrorContains(t, outbox.Publish(t.Context(), nil, "t", &bus.Message{}), "tx is nil")
	require.ErrorContains(t, outbox.Publish(t.Context(), tx, "t", &bus.Message{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}), "outside the years")
	require.ErrorContains(t, outbox.Publish(t.Context(), tx, "t", &bus.Message{Header: map[string]string{"bin": "\xff"}}), `header "bin" is not valid UTF-8`)

	_, err = outbox.NewRelay(nil, openMem(t))
	require.ErrorContains(t, err, "db is nil")
	_, err = outbox.NewRelay(db.DB, nil)
	require.ErrorContains(t, err, "bus is nil")
	_, err = outbox.NewRelay(db.DB, openMem(t), outbox.BatchSize(0))
	require.ErrorContains(t, err, "BatchSize(0)")
	_, err = outbox.NewRelay(db.DB, openMem(t), outbox.Lease(time.Millisecond))
	require.ErrorContains(t, err, "Lease(1ms)")
	_, err = outbox.NewRelay(db.DB, openMem(t), outbox.Backoff(time.Second, time.Millisecond))
	require.ErrorContains(t, err, "Backoff")
}

func TestRelayNeedsTheSchema(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		r, err := outbox.NewRelay(db.DB, openMem(t))
		require.NoError(t, err)
		require.ErrorIs(t, r.Run(t.Context()), outbox.ErrNoSchema)

		tx, err := db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		defer tx.Rollback()
		require.ErrorContains(t, outbox.Publish(t.Context(), tx, "t", &bus.Message{}), "did outbox.Migrate run?")
	})
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = outbox.Migrate(t.Context(), db.DB) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		if db.Driver == "sqlite" {
			var mode string
			require.NoError(t, db.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode))
			assert.Equal(t, "wal", mode, "Migrate switched the file to the WAL journal")
		}
	})
}

func TestRetainedRowsAreMarkedPublished(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		b := openMem(t)
		got := collect(t, b, "orders")
		startRelay(t, db.DB, b, outbox.RetainPublished(time.Hour))
		require.NoError(t, testdb.InTx(t.Context(), db.DB, func(tx *sql.Tx) error {
			return outbox.Publish(t.Context(), tx, "orders", &bus.Message{Key: "k"})
		}))
		receive(t, got)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var marked int
			require.NoError(c, db.QueryRowContext(t.Context(), `SELECT count(*) FROM eventbus_outbox WHERE published_at IS NOT NULL`).Scan(&marked))
			assert.Equal(c, 1, marked)
		}, 10*time.Second, 10*time.Millisecond)
	})
}

// TestSameKeyTransactionsPublishInCommitOrder runs transactions that write
// the same keys at once, each committing after a random pause, while the
// relay publishes. The order in which their writes returned is the commit
// order, since a transaction's write of a key waits for the previous
// writer's commit; the published order per key must be that order.
func TestSameKeyTransactionsPublishInCommitOrder(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		b := openMem(t)
		got := collect(t, b, "orders")
		startRelay(t, db.DB, b)

		const writers, perWriter, keys = 8, 10, 3
		var mu sync.Mutex
		written := make(map[string][]string)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					key := "k" + strconv.Itoa((w+i)%keys)
					payload := fmt.Sprintf("w%d-%d", w, i)
					err := testdb.InTx(t.Context(), db.DB, func(tx *sql.Tx) error {
						if err := outbox.Publish(t.Context(), tx, "orders", &bus.Message{Key: key, Payload: []byte(payload)}); err != nil {
							return err
						}
						mu.Lock()
						written[key] = append(written[key], payload)
						mu.Unlock()
						time.Sleep(time.Duration((w+i)%4) * 2 * time.Millisecond) // commits in another order than writes, but for the key lock
						return nil
					})
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
		published := make(map[string][]string)
		for range writers * perWriter {
			m := receive(t, got)
			published[m.Key] = append(published[m.Key], string(m.Payload))
		}
		assert.Equal(t, written, published)
	})
}

// TestRelayStopsWhenItLosesTheLease has another owner take the lease row
// from the publishing relay, as one whose clock ran ahead would: the relay
// stops publishing at its next renewal and resumes once the row is free.
func TestRelayStopsWhenItLosesTheLease(t *testing.T) {
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		b := openMem(t)
		got := collect(t, b, "orders")
		r := startRelay(t, db.DB, b, outbox.Lease(300*time.Millisecond))
		publish := func(payload string) {
			require.NoError(t, testdb.InTx(t.Context(), db.DB, func(tx *sql.Tx) error {
				return outbox.Publish(t.Context(), tx, "orders", &bus.Message{Key: "k", Payload: []byte(payload)})
			}))
		}
		publish("before")
		assert.Equal(t, "before", string(receive(t, got).Payload))
		require.True(t, r.Stats().Leader)

		_, err := db.ExecContext(t.Context(), `UPDATE eventbus_outbox_lease SET owner = 'intruder', expires_at = $1`, time.Now().Add(time.Hour).UnixMicro())
		require.NoError(t, err)
		require.Eventually(t, func() bool { return !r.Stats().Leader }, 10*time.Second, time.Millisecond, "the relay notices at its next renewal")
		publish("while away")
		publish("marker") // the relay reads in order: once it is out, so is the one before
		var pending int
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM eventbus_outbox`).Scan(&pending))
		assert.Equal(t, 2, pending, "a relay without the lease publishes nothing")

		_, err = db.ExecContext(t.Context(), `DELETE FROM eventbus_outbox_lease`)
		require.NoError(t, err)
		assert.Equal(t, "while away", string(receive(t, got).Payload))
		assert.Equal(t, "marker", string(receive(t, got).Payload))
		assert.True(t, r.Stats().Leader)
	})
}
