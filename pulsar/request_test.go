package pulsar_test

import (
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
)

// go test -run '^$' -bench RequestReply -benchtime 2000x ./pulsar/
func BenchmarkRequestReply(b *testing.B) {
	bustest.BenchmarkRequestReply(b,
		func(tb testing.TB) *bus.Bus { return openBus(tb, "") },
		newTopic)
}
