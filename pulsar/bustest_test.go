package pulsar_test

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
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
	})
}
