package bus_test

import (
	"fmt"
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/memory"
)

// BenchmarkTelemetry measures publish → handle → ack on mem:// with
// Concurrency(1), as memory's BenchmarkEndToEnd does, under each of
// bus.TelemetrySetups in the same run. One op is one message.
func BenchmarkTelemetry(b *testing.B) {
	for _, batch := range []int{1, 100} {
		for _, setup := range bus.TelemetrySetups {
			b.Run(fmt.Sprintf("%s/batch=%d", setup.Name, batch), func(b *testing.B) {
				bustest.EndToEnd(b, memBus(b, newBroker(b, memory.Options{}), setup.Options(b)...), batch, false)
			})
		}
	}
}
