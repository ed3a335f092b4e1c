package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
)

// TestPublishToNewTopicReal publishes to topics a moment after their
// creation, when the broker's metadata already names each partition's
// leader but the leader may not serve the partition yet and answers "not
// leader" to the first produce requests. With no linger, a Publish sends
// one partition's messages in several requests; when the first fails that
// way and a later one succeeds, librdkafka's idempotent producer takes the
// earlier messages for written (a broker accepts any first sequence number
// from a producer it does not know on the partition) and reports them
// delivered, with no offset. Every message Publish confirms must be in the
// log (more than published when one went unconfirmed and was published
// again, but written after all).
func TestPublishToNewTopicReal(t *testing.T) {
	be := realBackend(t)
	eb := be.open(t, "linger=0")
	ctx := context.Background()
	const rounds, publishers, each = 10, 8, 10
	for round := range rounds {
		topic := be.topic(t, 3)
		// Concurrent single publishes keep several requests in flight
		// to each partition while its leader starts serving it.
		errs := make(chan error, publishers*each)
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				for i := range each {
					errs <- eb.Publish(ctx, topic, &bus.Message{Key: fmt.Sprint("k", p), Payload: []byte(fmt.Sprint(i))})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.GreaterOrEqual(t, logLength(t, be, topic, 3), int64(publishers*each), "round %d: topic %s lost confirmed messages", round, topic)
	}
}

// logLength is the number of records in the topic's partitions.
func logLength(t *testing.T, be backend, topic string, partitions int) int64 {
	t.Helper()
	c, err := confluent.NewConsumer(&confluent.ConfigMap{"bootstrap.servers": be.url[len("kafka://"):], "group.id": "eventbus-log-length"})
	require.NoError(t, err)
	defer c.Close()
	var n int64
	for p := range partitions {
		low, high, err := c.QueryWatermarkOffsets(topic, int32(p), int(10*time.Second/time.Millisecond))
		require.NoError(t, err)
		n += high - low
	}
	return n
}
