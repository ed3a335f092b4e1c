package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
)

// journalConn delivers a fixed set of messages once and writes down every
// call bus makes to settle and close them.
type journalConn struct {
	deliveries []driver.Delivery
	once       sync.Once

	stopped chan struct{} // closed by StopReceiving

	mu      sync.Mutex
	journal []string
}

func (c *journalConn) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.journal = append(c.journal, fmt.Sprintf(format, args...))
}

func (c *journalConn) entries() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.journal)
}

func (c *journalConn) Publish(context.Context, string, []driver.Message) error { return nil }
func (c *journalConn) Subscribe(context.Context, string, driver.SubscribeConfig) (driver.Subscription, error) {
	return c, nil
}
func (c *journalConn) Capabilities() driver.Capabilities { return driver.Capabilities{} }
func (c *journalConn) As(any) bool                       { return false }
func (c *journalConn) Close(context.Context) error       { return nil }

func (c *journalConn) Receive(ctx context.Context, batch []driver.Delivery) (int, error) {
	n := 0
	c.once.Do(func() { n = copy(batch, c.deliveries) })
	if n > 0 {
		return n, nil
	}
	<-ctx.Done()
	return 0, ctx.Err()
}
func (c *journalConn) Ack(r *driver.Receipt) error { c.note("ack %d", r.Offset); return nil }
func (c *journalConn) Nack(r *driver.Receipt, _ time.Duration) error {
	c.note("nack %d", r.Offset)
	return nil
}
func (c *journalConn) StopReceiving() {
	c.note("stop receiving")
	close(c.stopped)
}

// TestShutdownFinishesWhatItReceived: at Close, bus tells the driver first,
// then runs every message it had received, gives back only the one waiting
// to retry (and its key's later message), and acks the rest.
func TestShutdownFinishesWhatItReceived(t *testing.T) {
	conn := &journalConn{stopped: make(chan struct{})}
	for i := range 6 {
		key := fmt.Sprint("k", i)
		if i == 4 {
			key = "k0" // waits behind the retrying message
		}
		conn.deliveries = append(conn.deliveries, driver.Delivery{
			Message: driver.Message{ID: fmt.Sprint("m", i), Key: key},
			Receipt: driver.Receipt{Attempt: 1, Partition: 0, Offset: int64(i)},
		})
	}
	b := connBus(t, conn, "journal://")
	release := make(chan struct{})
	failed, running := make(chan struct{}), make(chan struct{}, 6)
	_, err := b.Subscribe(t.Context(), "t", func(_ context.Context, m *bus.Message) error {
		if m.ID == "m0" {
			close(failed)
			return errors.New("fails once, then waits an hour")
		}
		running <- struct{}{}
		<-release // still running when Close begins
		return nil
	}, bus.Concurrency(2), bus.Retry(bus.RetryPolicy{MaxAttempts: 5, InitialBackoff: time.Hour, MaxBackoff: time.Hour}), bus.DeadLetter())
	require.NoError(t, err)
	<-failed
	<-running

	closed := make(chan error, 1)
	go func() { closed <- b.Close(context.Background()) }()
	// The handler is still running when the shutdown has begun.
	<-conn.stopped
	close(release)
	require.NoError(t, <-closed)

	journal := conn.entries()
	assert.Equal(t, "stop receiving", journal[0], "the driver hears of the shutdown before anything is settled: %v", journal)
	assert.ElementsMatch(t, []string{"stop receiving", "nack 0", "nack 4", "ack 1", "ack 2", "ack 3", "ack 5"}, journal)
	assert.Less(t, slices.Index(journal, "nack 0"), slices.Index(journal, "nack 4"), "given back in key order: %v", journal)
}
