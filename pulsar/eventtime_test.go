package pulsar_test

import (
	"context"
	"testing"
	"time"

	apachepulsar "github.com/apache/pulsar-client-go/pulsar"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// Pulsar's event time is unsigned milliseconds since 1970: an earlier
// event time travels in ce_time alone, and reads back unchanged.
func TestEventTimeBefore1970(t *testing.T) {
	b := openBus(t, "")
	topic := newTopic(t)
	got := subscribeChan(t, b, topic, bus.Group("g"))
	at := time.Date(1900, 1, 1, 12, 0, 0, 5, time.UTC)
	require.NoError(t, b.Publish(context.Background(), topic, &bus.Message{Time: at}))

	m := receive(t, got, "the message")
	assert.True(t, at.Equal(m.Time), "time %v", m.Time)
	var pm apachepulsar.Message
	require.True(t, m.As(&pm))
	assert.Equal(t, int64(0), pm.EventTime().UnixMilli(), "no Pulsar event time rather than a wrapped-around one")
}
