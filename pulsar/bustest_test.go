package pulsar_test

import (
	"log/slog"
	"net/url"
	"testing"

	"github.com/apache/pulsar-client-go/pulsar"
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
		ConnAs:    []any{new(pulsar.Client)},
		MessageAs: []any{new(pulsar.ConsumerMessage), new(pulsar.Message)},
	})
}
