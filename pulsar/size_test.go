package pulsar_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// TestHeaderSizeMatchesTheClient: with batching, pulsar-client-go counts a
// message's headers twice against the broker's 5 MiB. Four 1 MiB headers
// pass the bus's own count yet fail in the client: the driver refuses them
// itself, at once, per message. Headers just small enough for the client
// go through, so the driver's count is not stricter than the client's by
// more than its framing allowance.
func TestHeaderSizeMatchesTheClient(t *testing.T) {
	b := openBus(t, "")
	topic := newTopic(t)
	received := subscribeChan(t, b, topic, bus.Group("size"))

	fourMiB := &bus.Message{Key: "k", Header: map[string]string{}}
	for _, name := range []string{"h1", "h2", "h3", "h4"} {
		fourMiB.Header[name] = strings.Repeat("x", 1<<20)
	}
	err := b.Publish(t.Context(), topic, fourMiB)
	var pe *bus.PublishError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.Failed, 1)
	assert.ErrorIs(t, err, bus.ErrMessageTooLarge)
	assert.ErrorContains(t, err, "key and headers count twice")

	// 2 × 1.2 MiB of headers is 4.8 MiB to the client, under its 5 MiB.
	fits := &bus.Message{Key: "k", Header: map[string]string{
		"h1": strings.Repeat("y", 1258291), "h2": strings.Repeat("y", 1258291),
	}, Payload: []byte("fits")}
	require.NoError(t, b.Publish(t.Context(), topic, fits))
	got := receive(t, received, "the message with 2.4 MiB of headers")
	assert.Equal(t, "fits", string(got.Payload))
	assert.Len(t, got.Header["h1"], 1258291)
}
