package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// The broker rejects record timestamps more than an hour from its clock
// (log.message.timestamp.after.max.ms): event times far from now must
// still publish, in ce_time, while the record carries the produce time.
func TestAnyEventTimePublishes(t *testing.T) {
	ctx := context.Background()
	be := realBackend(t)
	eb := be.open(t)
	topic := be.topic(t, 1)
	c := newCollector(10)
	sub, err := eb.Subscribe(ctx, topic, c.handle, bus.Group("g"))
	require.NoError(t, err)
	defer sub.Close(ctx)

	times := []time.Time{
		time.Now().Add(2 * time.Hour),
		time.Date(2100, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.FixedZone("X", -5*3600)),
		time.Now().Add(-3 * 365 * 24 * time.Hour),
	}
	start := time.Now()
	for i, at := range times {
		require.NoError(t, eb.Publish(ctx, topic, &bus.Message{Key: fmt.Sprint(i), Time: at}), "event time %v", at)
	}
	for _, m := range c.await(t, len(times), 30*time.Second) {
		var i int
		_, err := fmt.Sscan(m.Key, &i)
		require.NoError(t, err)
		assert.True(t, times[i].Equal(m.Time), "event time %v came back as %v", times[i], m.Time)
		var record *confluent.Message
		require.True(t, m.As(&record))
		assert.Equal(t, confluent.TimestampCreateTime, record.TimestampType)
		assert.WithinRange(t, record.Timestamp, start.Add(-time.Minute), time.Now().Add(time.Minute), "the record timestamp is the produce time")
	}
}
