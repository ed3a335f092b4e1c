package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
)

// txConn delivers one message and records what is published directly and
// what is acked with which outputs.
type txConn struct {
	once      sync.Once
	mu        sync.Mutex
	published []driver.Output
	acks      chan []driver.Output
}

func newTxConn() *txConn { return &txConn{acks: make(chan []driver.Output, 1)} }

func (c *txConn) Publish(_ context.Context, topic string, msgs []driver.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.published = append(c.published, driver.Output{Topic: topic, Message: m})
	}
	return nil
}
func (c *txConn) Subscribe(context.Context, string, driver.SubscribeConfig) (driver.Subscription, error) {
	return nil, errors.New("only SubscribeTx")
}
func (c *txConn) SubscribeTx(context.Context, string, driver.SubscribeConfig) (driver.TxSubscription, error) {
	return c, nil
}
func (c *txConn) Capabilities() driver.Capabilities { return driver.Capabilities{} }
func (c *txConn) As(any) bool                       { return false }
func (c *txConn) Close(context.Context) error       { return nil }

func (c *txConn) Receive(ctx context.Context, batch []driver.Delivery) (int, error) {
	n := 0
	c.once.Do(func() {
		batch[0] = driver.Delivery{Message: driver.Message{ID: "in-1", Key: "k", Payload: []byte("in")},
			Receipt: driver.Receipt{Attempt: 1, Partition: 0, Offset: 7}}
		n = 1
	})
	if n > 0 {
		return n, nil
	}
	<-ctx.Done()
	return 0, ctx.Err()
}
func (c *txConn) StopReceiving() {}
func (c *txConn) Ack(*driver.Receipt) error {
	return errors.New("a transactional ack goes through AckWith")
}
func (c *txConn) Nack(*driver.Receipt, time.Duration) error { return nil }
func (c *txConn) AckWith(_ *driver.Receipt, outputs []driver.Output) error {
	c.acks <- outputs
	return nil
}

func (c *txConn) direct() []driver.Output {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]driver.Output(nil), c.published...)
}

func awaitAck(t *testing.T, c *txConn) []driver.Output {
	t.Helper()
	select {
	case outputs := <-c.acks:
		return outputs
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the message was not acked")
		return nil
	}
}

var fastRetry = bus.Retry(bus.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, HoldInterval: time.Millisecond, Multiplier: 1})

func TestTransactionalPublishIsCommittedWithTheAck(t *testing.T) {
	conn := newTxConn()
	b := connBus(t, conn, "tx://")
	defer b.Close(context.Background())
	otherConn := newTxConn()
	other := connBus(t, otherConn, "other://")
	defer other.Close(context.Background())
	runs := 0
	_, err := b.Subscribe(t.Context(), "in", func(ctx context.Context, m *bus.Message) error {
		runs++
		payload := []byte{'a', byte('0' + runs)}
		assert.NoError(t, b.Publish(ctx, "out", &bus.Message{Key: m.Key, Payload: payload}))
		payload[0] = 'X' // the caller may reuse its message once Publish returned
		sub, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		assert.NoError(t, b.Publish(sub, "out2", &bus.Message{Payload: []byte{'b', byte('0' + runs)}}))
		assert.NoError(t, b.Publish(context.Background(), "direct", &bus.Message{Payload: []byte("now")}))
		assert.NoError(t, other.Publish(ctx, "elsewhere", &bus.Message{Payload: []byte("now")}))
		if runs == 1 {
			return errors.New("first run fails: its outputs are discarded")
		}
		return nil
	}, bus.Group("g"), bus.Transactional(), fastRetry)
	require.NoError(t, err)

	outputs := awaitAck(t, conn)
	require.Len(t, outputs, 2, "the outputs of the successful run only")
	assert.Equal(t, "out", outputs[0].Topic)
	assert.Equal(t, "a2", string(outputs[0].Message.Payload))
	assert.Equal(t, "k", outputs[0].Message.Key)
	assert.Equal(t, "out2", outputs[1].Topic)
	assert.Equal(t, "b2", string(outputs[1].Message.Payload))
	for _, o := range outputs {
		assert.NotEmpty(t, o.Message.ID, "filled like a sent message")
		assert.False(t, o.Message.Time.IsZero())
	}
	direct := conn.direct()
	require.Len(t, direct, 2, "a Publish with another context sends at once, in every run")
	for _, o := range direct {
		assert.Equal(t, "direct", o.Topic)
	}
	assert.Len(t, otherConn.direct(), 2, "a Publish on another bus sends at once, even with the handler's ctx")
}

func TestTransactionalPublishAfterTheRunFails(t *testing.T) {
	conn := newTxConn()
	b := connBus(t, conn, "tx://")
	defer b.Close(context.Background())
	kept := make(chan context.Context, 1)
	_, err := b.Subscribe(t.Context(), "in", func(ctx context.Context, m *bus.Message) error {
		kept <- ctx
		return nil
	}, bus.Group("g"), bus.Transactional())
	require.NoError(t, err)
	require.Empty(t, awaitAck(t, conn))
	err = b.Publish(<-kept, "out", &bus.Message{Payload: []byte("late")})
	require.Error(t, err, "the run's outputs were committed already")
	assert.Contains(t, err.Error(), "has ended")
	assert.Empty(t, conn.direct(), "and it is not sent either")
}

func TestTransactionalDeadLetterIsCommittedWithTheAck(t *testing.T) {
	conn := newTxConn()
	b := connBus(t, conn, "tx://")
	defer b.Close(context.Background())
	_, err := b.Subscribe(t.Context(), "in", func(ctx context.Context, m *bus.Message) error {
		if err := b.Publish(ctx, "out", &bus.Message{Payload: []byte("never")}); err != nil {
			return err
		}
		return bus.Permanent(errors.New("broken"))
	}, bus.Group("g"), bus.Transactional(), bus.DeadLetter())
	require.NoError(t, err)
	outputs := awaitAck(t, conn)
	require.Len(t, outputs, 1, "the dead letter only; the failed run's output is discarded")
	assert.Equal(t, "in.g.dlq", outputs[0].Topic)
	assert.Equal(t, "in", string(outputs[0].Message.Payload))
	assert.Equal(t, "broken", outputs[0].Message.Header["eventbus-dlq-error"])
	assert.Empty(t, conn.direct(), "the dead letter is not published on its own")
}

func TestTransactionalNeedsTheCapabilityAndAGroup(t *testing.T) {
	conn := &revokingConn{withdraw: make(chan struct{}), settled: make(chan string, 1)}
	b := connBus(t, conn, "revoking://")
	defer b.Close(context.Background())
	noop := func(context.Context, *bus.Message) error { return nil }

	_, err := b.Subscribe(t.Context(), "t", noop, bus.Group("g"), bus.Transactional())
	require.ErrorIs(t, err, bus.ErrUnsupported)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Contains(t, err.Error(), "transactional subscriptions")

	_, err = newTxBus(t).Subscribe(t.Context(), "t", noop, bus.Transactional())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Transactional needs a Group")
}

func newTxBus(t *testing.T) *bus.Bus {
	b := connBus(t, newTxConn(), "tx://")
	t.Cleanup(func() { b.Close(context.Background()) })
	return b
}
