package bus_test

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/driver"
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

// connBus is a new bus over conn, a driver connection a test made.
func connBus(tb testing.TB, conn driver.Conn, name string) *bus.Bus {
	tb.Helper()
	b, err := bus.NewBus(conn, name)
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
