package pulsar_test

import (
	"context"
	"testing"

	apachepulsar "github.com/apache/pulsar-client-go/pulsar"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// TestTelemetry runs bustest.RunTelemetry on three-partition topics, with
// lag from the admin API (openBusWith gives its URL) and a trace continued from a raw
// pulsar-client-go producer.
func TestTelemetry(t *testing.T) {
	bustest.RunTelemetry(t, bustest.TelemetryHarness{
		Open: func(t *testing.T, opts ...bus.OpenOption) *bus.Bus { return openBusWith(t, "", opts...) },
		NewTopic: func(t *testing.T) string {
			topic := newTopic(t)
			adminPut(t, "/admin/v2/persistent/public/default/"+topic+"/partitions", "application/json", "3")
			return topic
		},
		System:        "pulsar",
		Partitioned:   true,
		ServerAddress: "127.0.0.1",
		PublishRaw:    produceRaw,
		Timeout:       waitTimeout,
	})
}

// produceRaw sends one message with properties through a plain
// pulsar-client-go producer, as a service that is not eventbus would.
func produceRaw(t *testing.T, topic string, properties map[string]string, payload []byte) {
	t.Helper()
	client, err := apachepulsar.NewClient(apachepulsar.ClientOptions{URL: testbroker.Pulsar(t), Logger: quietPulsarLogger()})
	require.NoError(t, err)
	defer client.Close()
	producer, err := client.CreateProducer(apachepulsar.ProducerOptions{Topic: "persistent://public/default/" + topic})
	require.NoError(t, err)
	defer producer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err = producer.Send(ctx, &apachepulsar.ProducerMessage{Payload: payload, Properties: properties})
	require.NoError(t, err)
}
