package kafka_test

import (
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
)

func TestConformanceMock(t *testing.T) {
	be, _ := mockBackend(t)
	// The mock creates topics only through metadata requests.
	runConformance(t, be, "librdkafka.allow.auto.create.topics=true")
}

func TestConformanceReal(t *testing.T) {
	runConformance(t, realBackend(t), "create_topics=true", "partitions=4", "replication_factor=1")
}

// runConformance runs bus/bustest; params let the dead-letter topics the
// suite does not create come into being.
func runConformance(t *testing.T, be backend, params ...string) {
	bustest.Run(t, bustest.Harness{
		Open:     func(t *testing.T) *bus.Bus { return be.openUnclosed(t, params...) },
		NewTopic: func(t *testing.T) string { return be.topic(t, 4) },
		Timeout:  time.Minute,
		// On the mock cluster too: librdkafka's mock serves transactions.
		Transactions: true,
	})
}
