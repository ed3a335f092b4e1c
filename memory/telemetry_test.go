package memory_test

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/memory"
)

func TestTelemetry(t *testing.T) {
	broker := newBroker(t, memory.Options{})
	bustest.RunTelemetry(t, bustest.TelemetryHarness{
		Open:   func(t *testing.T, opts ...bus.OpenOption) *bus.Bus { return memBus(t, broker, opts...) },
		System: "memory",
	})
}
