package memory_test

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/memory"
)

func TestConformance(t *testing.T) {
	broker := memory.NewBroker(memory.Options{})
	bustest.Run(t, bustest.Harness{
		Open:         func(t *testing.T) *bus.Bus { return broker.Open() },
		Transactions: true,
	})
}
