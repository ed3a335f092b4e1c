package kafka_test

import (
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	confluent "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/kafka"
	"github.com/eventbus-go/eventbus/kafka/internal/rawkafka"
)

func TestConformanceMock(t *testing.T) {
	be, _ := mockBackend(t)
	// The mock creates topics only through metadata requests.
	// The mock does not fetch messages near the 4 MiB default limit: a
	// 2 MiB limit keeps the size cases within what it serves.
	runConformance(t, be, true, "librdkafka.allow.auto.create.topics=true", "max_message_bytes=2097152")
}

func TestConformanceReal(t *testing.T) {
	runConformance(t, realBackend(t), false, "create_topics=true", "partitions=4", "replication_factor=1")
}

// runConformance runs bus/bustest; params let the dead-letter topics the
// suite does not create come into being.
func runConformance(t *testing.T, be backend, mock bool, params ...string) {
	bustest.Run(t, bustest.Harness{
		Open:     func(t *testing.T) *bus.Bus { return be.openUnclosed(t, params...) },
		NewTopic: func(t *testing.T) string { return be.topic(t, 4) },
		Timeout:  time.Minute,
		OpenConn: func(t *testing.T) driver.Conn {
			u, err := url.Parse(be.withParams(params...))
			require.NoError(t, err)
			c, err := kafka.OpenConn(t.Context(), driver.OpenConfig{URL: u, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			return c
		},
		ConnAs:         []any{new(*confluent.Producer), new(*confluent.AdminClient)},
		MessageAs:      []any{new(*confluent.Message)},
		PublishForeign: be.produceRaw,
		NoCreateTopic:  mock,
		// On the mock cluster too: librdkafka's mock serves transactions.
		Transactions: true,
	})
}

// produceRaw produces one record with a plain confluent-kafka-go producer.
func (b backend) produceRaw(t *testing.T, topic, key string, payload []byte, header map[string]string) {
	servers, _, _ := strings.Cut(strings.TrimPrefix(b.url, "kafka://"), "?")
	rawkafka.Produce(t, servers, topic, key, payload, header)
}
