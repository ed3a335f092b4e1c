package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	_ "github.com/eventbus-go/eventbus/kafka"
)

func TestRoundTripMock(t *testing.T) {
	b, _ := mockBackend(t)
	testRoundTrip(t, b)
}

func TestRoundTripReal(t *testing.T) {
	testRoundTrip(t, realBackend(t))
}

func testRoundTrip(t *testing.T, be backend) {
	ctx := context.Background()
	eb := be.open(t)
	topic := be.topic(t, 3)
	c := newCollector(100)
	sub, err := eb.Subscribe(ctx, topic, c.handle, bus.Group("g1"), bus.Concurrency(4))
	require.NoError(t, err)
	defer sub.Close(ctx)

	when := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	var msgs []*bus.Message
	for i := range 10 {
		msgs = append(msgs, &bus.Message{Key: fmt.Sprint("k", i%3), Payload: []byte(fmt.Sprint(i)),
			Header: map[string]string{"h": fmt.Sprint(i)}, Time: when})
	}
	require.NoError(t, eb.Publish(ctx, topic, msgs...))
	got := c.await(t, 10, 30*time.Second)
	byPayload := map[string]*bus.Message{}
	for _, m := range got {
		byPayload[string(m.Payload)] = m
	}
	for i, sent := range msgs {
		m := byPayload[fmt.Sprint(i)]
		require.NotNil(t, m, "message %d", i)
		assert.Equal(t, sent.ID, m.ID)
		assert.Equal(t, sent.Key, m.Key)
		assert.Equal(t, sent.Header, m.Header)
		assert.True(t, when.Equal(m.Time), "time %v", m.Time)
		assert.Equal(t, 1, m.Attempt)
		var native *confluent.Message
		require.True(t, m.As(&native))
		assert.Equal(t, topic, *native.TopicPartition.Topic)
	}
	var producer *confluent.Producer
	assert.True(t, eb.As(&producer))
	assert.NotNil(t, producer)
}

func TestMissingTopicMock(t *testing.T) {
	be, _ := mockBackend(t)
	testMissingTopic(t, be)
}

// TestCreateTopicsReal runs on a real broker only: the mock cluster does
// not implement CreateTopics.
func TestCreateTopicsReal(t *testing.T) {
	be := realBackend(t)
	testMissingTopic(t, be)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := fmt.Sprintf("eventbus-created-%d", time.Now().UnixNano())
	eb := be.open(t, "create_topics=true", "partitions=2", "replication_factor=1")
	c := newCollector(1)
	sub, err := eb.Subscribe(ctx, topic, c.handle, bus.Group("g"))
	require.NoError(t, err)
	defer sub.Close(ctx)
	require.NoError(t, eb.Publish(ctx, topic, &bus.Message{Payload: []byte("x")}))
	assert.Equal(t, "x", string(c.await(t, 1, 20*time.Second)[0].Payload))
}

func testMissingTopic(t *testing.T, be backend) {
	eb := be.open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := eb.Publish(ctx, "no-such-topic", &bus.Message{Payload: []byte("x")})
	require.ErrorIs(t, err, bus.ErrTopicNotFound)
	assert.Contains(t, err.Error(), "no-such-topic")
	_, err = eb.Subscribe(ctx, "no-such-topic", func(context.Context, *bus.Message) error { return nil })
	require.ErrorIs(t, err, bus.ErrTopicNotFound)

	// A missing dead-letter topic fails Subscribe, not every dead letter.
	topic := be.topic(t, 1)
	_, err = eb.Subscribe(ctx, topic, func(context.Context, *bus.Message) error { return nil }, bus.Group("g"), bus.DeadLetter())
	require.ErrorIs(t, err, bus.ErrTopicNotFound)
	assert.Contains(t, err.Error(), bus.DefaultDeadLetterTopic(topic, "g"))
}

func TestURLErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{
		"kafka://",
		"kafka://127.0.0.1:1?nope=1",
		"kafka://127.0.0.1:1?acks=1",
		"kafka://127.0.0.1:1?partitions=x",
	} {
		_, err := bus.Open(ctx, u)
		require.ErrorIs(t, err, bus.ErrInvalidURL, u)
	}
	_, err := bus.Open(ctx, "kafka://user:hunter2@127.0.0.1:1?sasl_password=s3cret&bogus=1")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.NotContains(t, err.Error(), "s3cret")
	assert.True(t, errors.Is(err, bus.ErrInvalidURL))
}

func TestLargeMessageMock(t *testing.T) {
	be, _ := mockBackend(t)
	testLargeMessage(t, be)
}

func TestLargeMessageReal(t *testing.T) {
	testLargeMessage(t, realBackend(t))
}

// testLargeMessage sends a 1 MiB payload with headers, which the default
// max_message_bytes admits.
func testLargeMessage(t *testing.T, be backend) {
	ctx := context.Background()
	eb := be.open(t)
	topic := be.topic(t, 1)
	c := newCollector(1)
	sub, err := eb.Subscribe(ctx, topic, c.handle, bus.Group("g"))
	require.NoError(t, err)
	defer sub.Close(ctx)
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i)
	}
	require.NoError(t, eb.Publish(ctx, topic, &bus.Message{Payload: payload, Header: map[string]string{"h": "v"}}))
	got := c.await(t, 1, 30*time.Second)[0]
	assert.Equal(t, payload, got.Payload)
	assert.Equal(t, "v", got.Header["h"])

	tooLarge := &bus.Message{Payload: make([]byte, 5<<20)}
	require.ErrorIs(t, eb.Publish(ctx, topic, tooLarge), bus.ErrMessageTooLarge)
}
