package kafka_test

import (
	"strings"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
)

func TestConformanceMock(t *testing.T) {
	be, _ := mockBackend(t)
	// The mock creates topics only through metadata requests.
	runConformance(t, be, "librdkafka.allow.auto.create.topics=true")
}

func TestConformanceReal(t *testing.T) {
	runConformance(t, realBackend(t), "create_topics=true", "partitions=4", "replication_factor=1")
}

// runConformance runs bus/bustest; params let the dead-letter topics the
// suite does not create come into being.
func runConformance(t *testing.T, be backend, params ...string) {
	bustest.Run(t, bustest.Harness{
		Open:           func(t *testing.T) *bus.Bus { return be.openUnclosed(t, params...) },
		NewTopic:       func(t *testing.T) string { return be.topic(t, 4) },
		Timeout:        time.Minute,
		PublishForeign: be.produceRaw,
	})
}

// produceRaw produces one record with a plain confluent-kafka-go producer:
// no ce_* headers but those given, the record timestamp librdkafka's.
func (b backend) produceRaw(t *testing.T, topic, key string, payload []byte, header map[string]string) {
	t.Helper()
	servers, _, _ := strings.Cut(strings.TrimPrefix(b.url, "kafka://"), "?")
	p, err := confluent.NewProducer(&confluent.ConfigMap{"bootstrap.servers": servers, "log_level": 3})
	require.NoError(t, err)
	defer p.Close()
	record := &confluent.Message{
		TopicPartition: confluent.TopicPartition{Topic: &topic, Partition: confluent.PartitionAny},
		Value:          payload,
	}
	if key != "" {
		record.Key = []byte(key)
	}
	for k, v := range header {
		record.Headers = append(record.Headers, confluent.Header{Key: k, Value: []byte(v)})
	}
	reports := make(chan confluent.Event, 1)
	require.NoError(t, p.Produce(record, reports))
	select {
	case ev := <-reports:
		require.NoError(t, ev.(*confluent.Message).TopicPartition.Error)
	case <-time.After(30 * time.Second):
		require.FailNow(t, "no delivery report within 30s")
	}
}
