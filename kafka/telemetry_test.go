package kafka_test

import (
	"net"
	"strings"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
)

func TestTelemetryMock(t *testing.T) {
	be, _ := mockBackend(t)
	runTelemetry(t, be, "librdkafka.allow.auto.create.topics=true")
}

func TestTelemetryReal(t *testing.T) {
	runTelemetry(t, realBackend(t), "create_topics=true", "partitions=4", "replication_factor=1")
}

// runTelemetry runs bustest.RunTelemetry, the trace continued from a raw
// confluent-kafka-go producer included.
func runTelemetry(t *testing.T, be backend, params ...string) {
	brokers := strings.TrimPrefix(be.url, "kafka://")
	brokers, _, _ = strings.Cut(brokers, "?")
	host, _, err := net.SplitHostPort(strings.Split(brokers, ",")[0])
	require.NoError(t, err)
	bustest.RunTelemetry(t, bustest.TelemetryHarness{
		Open: func(t *testing.T, opts ...bus.OpenOption) *bus.Bus {
			return be.openWith(t, opts, params...)
		},
		NewTopic:      func(t *testing.T) string { return be.topic(t, 4) },
		System:        "kafka",
		Partitioned:   true,
		ServerAddress: host,
		PublishRaw: func(t *testing.T, topic string, header map[string]string, payload []byte) {
			produceRaw(t, brokers, topic, header, payload)
		},
		Timeout: time.Minute,
	})
}

// produceRaw writes one record with headers through a plain
// confluent-kafka-go producer, as a service that is not eventbus would.
func produceRaw(t *testing.T, brokers, topic string, header map[string]string, payload []byte) {
	t.Helper()
	p, err := confluent.NewProducer(&confluent.ConfigMap{"bootstrap.servers": brokers})
	require.NoError(t, err)
	defer p.Close()
	msg := &confluent.Message{TopicPartition: confluent.TopicPartition{Topic: &topic, Partition: confluent.PartitionAny}, Value: payload}
	for k, v := range header {
		msg.Headers = append(msg.Headers, confluent.Header{Key: k, Value: []byte(v)})
	}
	delivered := make(chan confluent.Event, 1)
	require.NoError(t, p.Produce(msg, delivered))
	select {
	case ev := <-delivered:
		require.NoError(t, ev.(*confluent.Message).TopicPartition.Error)
	case <-time.After(30 * time.Second):
		require.FailNow(t, "timed out producing the raw record")
	}
}
