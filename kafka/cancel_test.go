package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// TestPublishCancelledPartWayMock: the broker goes down, so no delivery
// report comes; Publish returns when its ctx ends, with a *bus.PublishError
// naming every message as possibly still delivered.
func TestPublishCancelledPartWayMock(t *testing.T) {
	be, mc := mockBackend(t)
	eb := be.open(t, "delivery_timeout=5s")
	topic := be.topic(t, 1)
	require.NoError(t, eb.Publish(t.Context(), topic, &bus.Message{Payload: []byte("before")}))
	require.NoError(t, mc.SetBrokerDown(1))
	t.Cleanup(func() { _ = mc.SetBrokerUp(1) }) // lets Close flush what is left

	const wait = time.Second
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	msgs := make([]*bus.Message, 10)
	for i := range msgs {
		msgs[i] = &bus.Message{Key: "k", Payload: []byte("during")}
	}
	start := time.Now()
	err := eb.Publish(ctx, topic, msgs...)
	elapsed := time.Since(start)
	var pe *bus.PublishError
	require.ErrorAs(t, err, &pe)
	assert.Len(t, pe.Failed, len(msgs))
	for _, f := range pe.Failed {
		assert.True(t, errors.Is(f.Err, context.DeadlineExceeded), "%v", f.Err)
		assert.ErrorContains(t, f.Err, "may still be delivered")
	}
	assert.Less(t, elapsed, wait+time.Second)
	require.NoError(t, mc.SetBrokerUp(1))
}

// TestBlockingCallsHonourContextMock: with the only broker down, Publish
// and Subscribe on a new topic return within their ctx and a second, with
// the ctx's error or librdkafka's own verdict if it came first.
func TestBlockingCallsHonourContextMock(t *testing.T) {
	be, mc := mockBackend(t)
	eb := be.open(t, "delivery_timeout=5s")
	require.NoError(t, mc.SetBrokerDown(1))
	t.Cleanup(func() { _ = mc.SetBrokerUp(1) })
	const wait = time.Second
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Publish", func(ctx context.Context) error {
			return eb.Publish(ctx, fmt.Sprintf("eventbus-test-down-%d", topicSeq.Add(1)), &bus.Message{Payload: []byte("x")})
		}},
		{"Subscribe", func(ctx context.Context) error {
			sub, err := eb.Subscribe(ctx, fmt.Sprintf("eventbus-test-down-%d", topicSeq.Add(1)), func(context.Context, *bus.Message) error { return nil }, bus.Group("g"))
			if err == nil {
				_ = sub.Close(context.Background())
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			elapsed := time.Since(start)
			require.Error(t, err)
			assert.True(t, errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Broker transport failure"), "%v", err)
			assert.Less(t, elapsed, wait+time.Second, "returned %v after its ctx ended", elapsed-wait)
		})
	}
	require.NoError(t, mc.SetBrokerUp(1))
}
