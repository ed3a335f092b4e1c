package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

func TestNackRewindsOnePartitionMock(t *testing.T) {
	be, _ := mockBackend(t)
	testNackRewind(t, be)
}

func TestNackRewindsOnePartitionReal(t *testing.T) {
	testNackRewind(t, realBackend(t))
}

// testNackRewind nacks one message with retries exhausted and no dead-
// letter topic: its partition rewinds to it after the nack delay, while
// the other partition is handled meanwhile.
func testNackRewind(t *testing.T, be backend) {
	ctx := context.Background()
	topic := be.topic(t, 2)
	eb := be.open(t)
	const nackDelay = 1500 * time.Millisecond

	type event struct {
		partition int32
		payload   string
		attempt   int
	}
	var (
		mu     sync.Mutex
		events []event
	)
	redelivered := make(chan struct{})
	handled := make(chan struct{}, 1000)
	sub, err := eb.Subscribe(ctx, topic, func(_ context.Context, m *bus.Message) error {
		var native *confluent.Message
		if !m.As(&native) {
			return bus.Permanent(fmt.Errorf("no native message"))
		}
		mu.Lock()
		events = append(events, event{native.TopicPartition.Partition, string(m.Payload), m.Attempt})
		mu.Unlock()
		if string(m.Payload) == "fail-me" {
			if m.Attempt == 1 {
				return fmt.Errorf("first attempt fails")
			}
			close(redelivered)
		}
		handled <- struct{}{}
		return nil
	}, bus.Group("g"), bus.Concurrency(4),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 1, MaxBackoff: nackDelay, Multiplier: 1}))
	require.NoError(t, err)
	defer sub.Close(ctx)

	msgs := []*bus.Message{{Key: "key-0", Payload: []byte("fail-me")}}
	for i := range 99 {
		msgs = append(msgs, &bus.Message{Key: fmt.Sprint("key-", i%20), Payload: fmt.Appendf(nil, "m-%d", i)})
	}
	require.NoError(t, eb.Publish(ctx, topic, msgs...))
	select {
	case <-redelivered:
	case <-time.After(time.Minute):
		t.Fatal("the nacked message was not redelivered")
	}

	deadline := time.After(time.Minute)
	for range len(msgs) {
		select {
		case <-handled:
		case <-deadline:
			t.Fatal("not every message was handled")
		}
	}

	mu.Lock()
	defer mu.Unlock()
	failPartition, redelivery := int32(-1), -1
	for i, e := range events {
		switch {
		case e.payload == "fail-me" && e.attempt == 1:
			failPartition = e.partition
		case e.payload == "fail-me":
			assert.Equal(t, 2, e.attempt, "Attempt counts the redelivery")
			redelivery = i
		}
	}
	require.GreaterOrEqual(t, failPartition, int32(0))
	require.Positive(t, redelivery)
	other := 0
	for i, e := range events {
		if e.partition != failPartition && e.attempt == 1 {
			other++
			assert.Less(t, i, redelivery, "%s on partition %d waited for the rewind of partition %d", e.payload, e.partition, failPartition)
		}
	}
	assert.Positive(t, other, "the other partition has messages")
}
