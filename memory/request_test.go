package memory_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
	"github.com/eventbus-go/eventbus/memory"
	"github.com/stretchr/testify/require"
)

// go test -run '^$' -bench RequestReply -benchtime 20000x ./memory/
func BenchmarkRequestReply(b *testing.B) {
	broker := newBroker(b, memory.Options{})
	bustest.BenchmarkRequestReply(b,
		func(tb testing.TB) *bus.Bus {
			eb := memBus(tb, broker)
			tb.Cleanup(func() { require.NoError(tb, eb.Close(context.Background())) })
			return eb
		},
		func(testing.TB) string { return "bench-" + rand.Text() })
}
