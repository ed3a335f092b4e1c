package bustest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// The settling part of the driver section: Ack, Nack and StopReceiving as
// package bus/driver defines them.

// receiveHeld receives n deliveries without settling them.
func (s *suite) receiveHeld(t *testing.T, sub driver.Subscription, n int) []driver.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	var got []driver.Delivery
	batch := make([]driver.Delivery, 16)
	for len(got) < n {
		k, err := sub.Receive(ctx, batch[:min(len(batch), n-len(got))])
		require.NoError(t, err, "after %d of %d deliveries", len(got), n)
		got = append(got, batch[:k]...)
	}
	return got
}

func keyedMessages(prefix string, n int) []driver.Message {
	msgs := make([]driver.Message, n)
	for i := range msgs {
		msgs[i] = driver.Message{ID: fmt.Sprintf("%s-%d", prefix, i), Key: fmt.Sprintf("key-%d", i), Payload: []byte("x")}
	}
	return msgs
}

// testConnNackDelay: a nacked delivery comes again no earlier than its
// delay, and nothing acked comes again with it.
func (s *suite) testConnNackDelay(t *testing.T) {
	c := s.openConn(t)
	topic := s.topic(t)
	sub := s.connSubscribe(t, c, topic)
	sent := keyedMessages("nack", 10)
	require.NoError(t, c.Publish(t.Context(), topic, sent))
	const delay = 500 * time.Millisecond
	var nackedAt time.Time
	for _, d := range s.receiveHeld(t, sub, len(sent)) {
		if d.ID == sent[0].ID {
			require.NoError(t, sub.Nack(&d.Receipt, delay))
			nackedAt = time.Now()
			continue
		}
		require.NoError(t, sub.Ack(&d.Receipt))
	}
	require.False(t, nackedAt.IsZero(), "the first message was received")
	again := s.receiveHeld(t, sub, 1)[0]
	late := time.Since(nackedAt) - delay
	assert.Equal(t, sent[0].ID, again.ID, "only the nacked message comes again")
	assert.GreaterOrEqual(t, late, time.Duration(0), "redelivered before the nack delay ended")
	assert.Equal(t, 2, again.Attempt, "Attempt counts the redelivery")
	t.Logf("redelivered %v after the %v nack delay", late.Round(time.Millisecond), delay)
	require.NoError(t, sub.Ack(&again.Receipt))
}

// testConnSettleStale: settling a delivery twice, or after Close, does
// nothing and returns nil.
func (s *suite) testConnSettleStale(t *testing.T) {
	c := s.openConn(t)
	topic := s.topic(t)
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	sub, err := c.Subscribe(ctx, topic, driver.SubscribeConfig{Group: uniqueName("group")})
	require.NoError(t, err)
	require.NoError(t, c.Publish(ctx, topic, keyedMessages("stale", 2)))
	got := s.receiveHeld(t, sub, 2)
	require.NoError(t, sub.Ack(&got[0].Receipt))
	assert.NoError(t, sub.Ack(&got[0].Receipt), "a second Ack")
	assert.NoError(t, sub.Nack(&got[0].Receipt, 0), "a Nack after the Ack")
	require.NoError(t, sub.Close(ctx))
	assert.NoError(t, sub.Ack(&got[1].Receipt), "an Ack after Close")
	assert.NoError(t, sub.Nack(&got[1].Receipt, 0), "a Nack after Close")
}

// testConnStopReceiving: after StopReceiving, acks still count and nacked
// deliveries go to the group's next member, once Close gives them back.
func (s *suite) testConnStopReceiving(t *testing.T) {
	c := s.openConn(t)
	topic := s.topic(t)
	group := uniqueName("group")
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	defer cancel()
	first, err := c.Subscribe(ctx, topic, driver.SubscribeConfig{Group: group})
	require.NoError(t, err)
	sent := keyedMessages("stop", 4)
	require.NoError(t, c.Publish(ctx, topic, sent))
	got := s.receiveHeld(t, first, len(sent))
	first.StopReceiving()
	given := map[string]bool{}
	for i, d := range got {
		if i%2 == 0 {
			require.NoError(t, first.Ack(&d.Receipt))
		} else {
			require.NoError(t, first.Nack(&d.Receipt, 0))
			given[d.ID] = true
		}
	}
	require.NoError(t, first.Close(ctx))

	next, err := c.Subscribe(ctx, topic, driver.SubscribeConfig{Group: group})
	require.NoError(t, err)
	defer next.Close(context.Background())
	for _, d := range s.receiveN(t, next, len(given)) {
		assert.True(t, given[d.ID], "%s was acked before Close, yet came again", d.ID)
		delete(given, d.ID)
	}
	assert.Empty(t, given, "given back, never redelivered")
}
