package bustest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// testPublishDoneContext: Publish with a done ctx publishes nothing and
// says so; a message published afterwards is the first one a new group
// gets.
func (s *suite) testPublishDoneContext(t *testing.T) {
	b := s.open(t)
	topic := s.topic(t)
	s.publish(t, b, topic, &bus.Message{Key: "k", Payload: []byte("warm-up")})
	rec := newRecorder()
	s.subscribe(t, b, topic, rec.handler, group())
	rec.waitDistinct(t, s.Timeout, 1)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cancelled := numbered("cancelled", 3, 1)
	err := b.Publish(ctx, topic, cancelled...)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "none published")

	marker := &bus.Message{Key: "key-0", Payload: []byte("marker")}
	s.publish(t, b, topic, marker)
	rec.waitDistinct(t, s.Timeout, 2)
	msgs, _ := rec.snapshot()
	assert.Equal(t, "marker", string(msgs[len(msgs)-1].Payload), "a message of the cancelled Publish arrived")
	for _, m := range msgs {
		assert.NotContains(t, string(m.Payload), "cancelled")
	}
}

// testCloseDoneContext: Close past its deadline, with nothing published or
// handled in flight, reports no error.
func (s *suite) testCloseDoneContext(t *testing.T) {
	b := s.Open(t)
	topic := s.topic(t)
	s.publish(t, b, topic, &bus.Message{Payload: []byte("published before Close")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.NoError(t, b.Close(ctx), "nothing was pending")
}
