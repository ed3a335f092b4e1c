package pulsar_test

import (
	"context"
	"log/slog"
	"net/url"
	"testing"

	apachepulsar "github.com/apache/pulsar-client-go/pulsar"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	eventbuspulsar "github.com/eventbus-go/eventbus/pulsar"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, bustest.Harness{
		// The suite closes what Open returns.
		Open: func(t *testing.T) *bus.Bus { return openUnmanagedBus(t, "") },
		NewTopic: func(t *testing.T) string {
			topic := newTopic(t)
			adminPut(t, "/admin/v2/persistent/public/default/"+topic+"/partitions", "application/json", "3")
			return topic
		},
		OpenConn: func(t *testing.T) driver.Conn {
			u, err := url.Parse(testbroker.Pulsar(t))
			require.NoError(t, err)
			c, err := eventbuspulsar.OpenConn(t.Context(), driver.OpenConfig{URL: u, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			return c
		},
		ConnAs:         []any{new(apachepulsar.Client)},
		MessageAs:      []any{new(apachepulsar.ConsumerMessage), new(apachepulsar.Message)},
		PublishForeign: sendRaw,
	})
}

// sendRaw sends one message with a plain pulsar-client-go producer, batching
// on (so that messages can share an entry): no properties but those given,
// no event time.
func sendRaw(t *testing.T, topic, key string, payload []byte, header map[string]string) {
	t.Helper()
	client, err := apachepulsar.NewClient(apachepulsar.ClientOptions{URL: testbroker.Pulsar(t), Logger: quietPulsarLogger()})
	require.NoError(t, err)
	defer client.Close()
	producer, err := client.CreateProducer(apachepulsar.ProducerOptions{Topic: topic})
	require.NoError(t, err)
	defer producer.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_, err = producer.Send(ctx, &apachepulsar.ProducerMessage{Key: key, Payload: payload, Properties: header})
	require.NoError(t, err)
}
