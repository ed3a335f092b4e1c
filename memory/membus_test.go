package memory_test

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/memory"
)

// memBus is a new bus on broker; its options must be valid.
func memBus(tb testing.TB, broker *memory.Broker, opts ...bus.OpenOption) *bus.Bus {
	tb.Helper()
	b, err := broker.NewBus(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// newBroker is memory.NewBroker for options that are valid.
func newBroker(tb testing.TB, opts memory.Options) *memory.Broker {
	tb.Helper()
	broker, err := memory.NewBroker(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return broker
}
