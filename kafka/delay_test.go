package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without create_topics, a delayed Publish needs the delay topic and names
// it when it is missing; Subscribe then runs no forwarder and works.
func TestDelayedPublishNeedsTheDelayTopic(t *testing.T) {
	be := realBackend(t)
	b := be.open(t)
	topic := be.topic(t, 1)
	// Through a bus that waits for the new topic to show in the metadata.
	require.NoError(t, be.open(t, "create_topics=true").Publish(t.Context(), topic,
		&bus.Message{Payload: []byte("now"), DeliverAt: time.Now().Add(-time.Second)}),
		"a DeliverAt in the past is due: it goes to the topic itself")

	c := newCollector(1)
	_, err := b.Subscribe(t.Context(), topic, c.handle, bus.Group("g-"+topic))
	require.NoError(t, err, "no delay topic: Subscribe runs no forwarder")
	got := c.await(t, 1, time.Minute)
	assert.Equal(t, "now", string(got[0].Payload))

	err = b.Publish(t.Context(), topic, &bus.Message{Payload: []byte("later"), DeliverAt: time.Now().Add(time.Minute)})
	require.ErrorIs(t, err, bus.ErrTopicNotFound)
	assert.Contains(t, err.Error(), bus.DelayTopic(topic))
}

// A delayed message goes through <topic>.delay and comes back from the
// forwarder with its ID, key, headers and DeliverAt.
func TestDelayedMessageIsForwardedWhole(t *testing.T) {
	be := realBackend(t)
	b := be.open(t, "create_topics=true")
	topic := be.topic(t, 2)
	c := newCollector(1)
	_, err := b.Subscribe(t.Context(), topic, c.handle, bus.Group("g-"+topic))
	require.NoError(t, err)
	at := time.Now().Add(time.Second).Round(0)
	m := &bus.Message{Key: "k", Payload: []byte("p"), Header: map[string]string{"h": "v"}, DeliverAt: at}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, b.Publish(ctx, topic, m))
	got := c.await(t, 1, time.Minute)[0]
	assert.Equal(t, m.ID, got.ID)
	assert.Equal(t, "k", got.Key)
	assert.Equal(t, "v", got.Header["h"])
	assert.True(t, got.DeliverAt.Equal(at), "DeliverAt %v, published %v", got.DeliverAt, at)
	assert.Equal(t, topic, got.Topic)
}
