package memory_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/bus/driver"
	"github.com/eventbus-go/eventbus/memory"
)

func TestConformance(t *testing.T) {
	broker := newBroker(t, memory.Options{})
	bustest.Run(t, bustest.Harness{
		Open:     func(t *testing.T) *bus.Bus { return memBus(t, broker) },
		OpenConn: func(t *testing.T) driver.Conn { return memory.ConnOf(broker) },
		ConnAs:   []any{new(*memory.Broker)},
		PublishForeign: func(t *testing.T, topic, key string, payload []byte, header map[string]string) {
			require.NoError(t, broker.PublishDriver(t.Context(), topic, driver.Message{Key: key, Payload: payload, Header: header}))
		},
		Transactions: true,
	})
}

func TestNewBrokerRefusesNegativeOptions(t *testing.T) {
	for _, tc := range []struct {
		opts memory.Options
		name string
	}{
		{memory.Options{Retention: -1}, "Options.Retention"},
		{memory.Options{MaxMessageBytes: -1}, "Options.MaxMessageBytes"},
	} {
		broker, err := memory.NewBroker(tc.opts)
		assert.Nil(t, broker)
		assert.ErrorContains(t, err, tc.name)
	}
}
