package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/stretchr/testify/require"
)

// revokingConn delivers one message whose partition can be revoked, the
// way the Kafka driver withdraws messages in a rebalance, and reports how
// it was settled.
type revokingConn struct {
	withdraw chan struct{}
	settled  chan string
	once     sync.Once
}

func (c *revokingConn) Publish(context.Context, string, []driver.Message) error { return nil }
func (c *revokingConn) Subscribe(context.Context, string, driver.SubscribeConfig) (driver.Subscription, error) {
	return c, nil
}
func (c *revokingConn) Capabilities() driver.Capabilities { return driver.Capabilities{} }
func (c *revokingConn) As(any) bool                       { return false }
func (c *revokingConn) Close(context.Context) error       { return nil }

func (c *revokingConn) Receive(ctx context.Context, batch []driver.Delivery) (int, error) {
	n := 0
	c.once.Do(func() {
		batch[0] = driver.Delivery{Message: driver.Message{ID: "m1", Key: "k"},
			Receipt: driver.Receipt{Attempt: 1, Partition: 0, Offset: 7, Withdrawn: c.withdraw}}
		n = 1
	})
	if n > 0 {
		return n, nil
	}
	<-ctx.Done()
	return 0, ctx.Err()
}
func (c *revokingConn) StopReceiving()            {}
func (c *revokingConn) Ack(*driver.Receipt) error { c.settled <- "ack"; return nil }
func (c *revokingConn) Nack(r *driver.Receipt, _ time.Duration) error {
	c.settled <- "nack"
	return nil
}

func TestWithdrawnMessageLeavesItsRetryBackoff(t *testing.T) {
	conn := &revokingConn{withdraw: make(chan struct{}), settled: make(chan string, 1)}
	b := connBus(t, conn, "revoking://")
	failed := make(chan struct{}, 1)
	_, err := b.Subscribe(t.Context(), "t", func(context.Context, *bus.Message) error {
		failed <- struct{}{}
		return errors.New("fails")
	}, bus.Retry(bus.RetryPolicy{MaxAttempts: 10, InitialBackoff: time.Hour, MaxBackoff: time.Hour}), bus.DeadLetter())
	require.NoError(t, err)
	<-failed
	close(conn.withdraw) // the partition is revoked during the hour-long backoff
	select {
	case how := <-conn.settled:
		require.Equal(t, "nack", how, "a withdrawn message is neither acked nor dead-lettered")
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the withdrawn message waited out its retry backoff")
	}
	require.NoError(t, b.Close(t.Context()))
}
