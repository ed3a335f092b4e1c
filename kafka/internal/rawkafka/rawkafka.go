// Package rawkafka produces Kafka records as a producer that is not eventbus
// does, for the tests of what eventbus reads from other producers.
package rawkafka

import (
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"
)

// Produce produces one record to topic with a plain confluent-kafka-go
// producer and waits for its delivery report: key (none when empty), value
// and headers exactly as given, nothing added, the record timestamp
// librdkafka's.
func Produce(t testing.TB, servers, topic, key string, value []byte, headers map[string]string) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": servers, "log_level": 3})
	require.NoError(t, err)
	defer p.Close()
	record := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Value: value}
	if key != "" {
		record.Key = []byte(key)
	}
	for k, v := range headers {
		record.Headers = append(record.Headers, kafka.Header{Key: k, Value: []byte(v)})
	}
	reports := make(chan kafka.Event, 1)
	require.NoError(t, p.Produce(record, reports))
	select {
	case ev := <-reports:
		require.NoError(t, ev.(*kafka.Message).TopicPartition.Error)
	case <-time.After(time.Minute):
		require.FailNow(t, "no delivery report within a minute")
	}
}
