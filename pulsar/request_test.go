package pulsar_test

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
)

// go test -run '^$' -bench RequestReply -benchtime 1000x ./pulsar/
//
// With batching as configured by default (eager flush: a lone request and
// its reply are sent at once) and without batching.
func BenchmarkRequestReply(b *testing.B) {
	for _, params := range []string{"", "batching=false"} {
		b.Run("params="+params, func(b *testing.B) {
			bustest.BenchmarkRequestReply(b,
				func(tb testing.TB) *bus.Bus { return openBus(tb, params) },
				newTopic)
		})
	}
}
